import CHDF5
import Tensors

/// Reads an HDF5 file's tree in the process `HDF5Reader` forks for it, sending what it finds
/// as `HDF5Message`s: every numeric dataset as a tensor (in place when it is contiguous,
/// unfiltered and little-endian; read into memory otherwise, its bytes sent along), the
/// objects that are not tensors, the root's string attributes, and Keras 2's tensor order.
/// Each libhdf5 call that reads from the file is announced first as a step, so that a crash
/// inside libhdf5 is reported with the object it was reading.
struct HDF5Walk {
    let path: String
    let fileSize: Int
    let channel: IsolatedProcess.Channel
    let attributes: HDF5Attributes
    /// Names of the tensors sent so far, in order (for Keras 2's order).
    var names: [String] = []
    /// Bytes of the datasets read into memory so far, and the bytes the file stores for them.
    var decodedBytes = 0, storedBytes = 0

    /// Memory a dataset read into memory may take: at most `expansion` bytes per byte the
    /// file stores for it (deflate, the filter libhdf5 always has, expands 1032-fold at most),
    /// plus `unbacked` bytes in all for values the file does not store (fill values of chunks
    /// never written). A dataset declaring terabytes it does not store is refused before any
    /// memory is taken.
    static let expansion = 1100, unbacked = 64 << 20

    /// The most the reading process's address space may grow beyond one dataset's bytes.
    static let workingMemory = 512 << 20

    init(path: String, fileSize: Int, channel: IsolatedProcess.Channel) {
        self.path = path
        self.fileSize = fileSize
        self.channel = channel
        attributes = HDF5Attributes(path: path, fileSize: fileSize, announce: channel.step)
    }

    /// Reads the whole file (in the child). Throws `CheckpointError`s naming `path`.
    mutating func run() throws {
        channel.step("opening the file")
        let file = H5Fopen(path, scalpel_h5f_acc_rdonly(), scalpel_h5p_default())
        guard file >= 0 else { throw CheckpointError(path, "cannot be opened as HDF5 (truncated or damaged)") }
        defer { H5Fclose(file) }
        try group(file, prefix: "", depth: 0)
        try keras2Order(file)
        channel.step("reading the attributes of \"/\"")
        for (key, value) in try attributes.all(file, of: "/") {
            channel.send(HDF5Message.metadata, HDF5Message.pair(key, value))
        }
    }

    mutating func group(_ group: hid_t, prefix: String, depth: Int) throws {
        guard depth < 64 else {
            throw CheckpointError(path, "HDF5 groups nest more than 64 deep at \"\(prefix)\" (a link cycle?)")
        }
        channel.step("listing the group \"/\(prefix)\"")
        var info = H5G_info_t()
        try HDF5.check(H5Gget_info(group, &info), path, "cannot list the group \"/\(prefix)\"")
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(
                group, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, scalpel_h5p_default())
            guard length >= 0, length < 1 << 20 else {
                throw CheckpointError(path, "cannot read a link name in \"/\(prefix)\" (damaged file?)")
            }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            guard
                H5Lget_name_by_idx(
                    group, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, scalpel_h5p_default()) >= 0
            else {
                throw CheckpointError(path, "cannot read a link name in \"/\(prefix)\" (damaged file?)")
            }
            // The link is opened by the bytes HDF5 gave, not by a decoded copy of them.
            let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let full = prefix.isEmpty ? name : prefix + "/" + name
            channel.step("opening \"/\(full)\"")
            guard scalpel_link_type(group, buffer) == 0 else {
                channel.send(HDF5Message.skipped, Array((full + " (link)").utf8))
                continue
            }
            let object = H5Oopen(group, buffer, scalpel_h5p_default())
            guard object >= 0 else { throw CheckpointError(path, "cannot open \"/\(full)\" (damaged file?)") }
            defer { H5Oclose(object) }
            switch H5Iget_type(object) {
            case H5I_GROUP: try self.group(object, prefix: full, depth: depth + 1)
            case H5I_DATASET: try dataset(object, name: full)
            default: channel.send(HDF5Message.skipped, Array(full.utf8))
            }
        }
    }

    mutating func dataset(_ dataset: hid_t, name: String) throws {
        channel.step("reading the type of dataset \"\(name)\"")
        let type = H5Dget_type(dataset)
        guard type >= 0 else {
            throw CheckpointError(path, "cannot read the type of dataset \"\(name)\" (damaged file?)")
        }
        defer { H5Tclose(type) }
        guard
            let (dtype, memoryType) = try HDF5Types.dtype(
                of: type, dataset: dataset, named: "/" + name, attributes: attributes)
        else {
            channel.send(HDF5Message.skipped, Array(name.utf8))
            return
        }
        defer { if let memoryType, memoryType.owned { H5Tclose(memoryType.id) } }
        channel.step("reading the shape of dataset \"\(name)\"")
        let space = H5Dget_space(dataset)
        guard space >= 0 else {
            throw CheckpointError(path, "cannot read the shape of dataset \"\(name)\" (damaged file?)")
        }
        defer { H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0, rank <= 32, H5Sget_simple_extent_type(space) != H5S_NULL else {
            channel.send(HDF5Message.skipped, Array(name.utf8))
            return
        }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) }
        let shape = dims.map { Int(clamping: $0) }
        guard let byteCount = Shape.byteCount(shape, dtype), byteCount < 1 << 50 else {
            throw CheckpointError(path, "HDF5 dataset \"\(name)\": shape \(Shape.describe(shape)) is absurd")
        }
        channel.step("reading the layout of dataset \"\(name)\"")
        let plist = H5Dget_create_plist(dataset)
        guard plist >= 0 else {
            throw CheckpointError(path, "cannot read the layout of dataset \"\(name)\" (damaged file?)")
        }
        defer { H5Pclose(plist) }
        let layout = H5Pget_layout(plist)
        let filters = H5Pget_nfilters(plist)
        let offset = H5Dget_offset(dataset)
        let contiguous = layout == H5D_CONTIGUOUS && offset != haddr_t.max
        if contiguous, offset > UInt64(fileSize) || byteCount > fileSize - Int(offset) {
            throw CheckpointError(
                path,
                """
                HDF5 dataset \"\(name)\": its \(byteCount) bytes at offset \(offset) lie past the end of the \
                \(fileSize)-byte file (truncated or damaged)
                """
            )
        }
        let inPlace =
            contiguous && filters == 0
            && (H5Tget_order(type) == H5T_ORDER_LE || dtype.size == 1 || memoryType == nil)
        if inPlace || byteCount == 0 {
            send(
                HDF5Message.Tensor(
                    name: name, dtype: dtype, shape: shape, placement: inPlace ? .inPlace : .empty,
                    offset: inPlace ? Int(offset) : 0, byteCount: byteCount))
            return
        }
        channel.step("reading the storage size of dataset \"\(name)\"")
        let stored = min(Int(clamping: H5Dget_storage_size(dataset)), fileSize)
        // Neither sum overflows: each dataset is below 2^50 bytes and the check stops at the
        // first past the allowance; the stored bytes saturate.
        decodedBytes += byteCount
        storedBytes = min(storedBytes, Int.max - stored) + stored
        let (backed, overflow) = storedBytes.multipliedReportingOverflow(by: Self.expansion)
        guard overflow || decodedBytes <= backed + Self.unbacked else {
            throw CheckpointError(
                path,
                """
                HDF5 dataset \"\(name)\" declares shape \(Shape.describe(shape)) (\(byteCount) bytes) but the \
                file stores \(stored) bytes of it: refused, as Scalpel fills at most \(Self.unbacked >> 20) MiB \
                in all with values a file does not store, beyond \(Self.expansion) bytes per stored byte (damaged \
                file?)
                """
            )
        }
        IsolatedProcess.limitMemory(extra: byteCount + Self.workingMemory)
        channel.step("reading the values of dataset \"\(name)\"")
        let buffer = ByteBuffer(count: byteCount)
        guard
            H5Dread(
                dataset, memoryType?.id ?? type, scalpel_h5s_all(), scalpel_h5s_all(), scalpel_h5p_default(),
                buffer.bytes.baseAddress) >= 0
        else {
            throw CheckpointError(
                path,
                """
                HDF5 dataset \"\(name)\" cannot be read (damaged or truncated data, or a compression filter this \
                HDF5 library lacks)
                """
            )
        }
        send(
            HDF5Message.Tensor(
                name: name, dtype: dtype, shape: shape, placement: .decoded, offset: 0, byteCount: byteCount))
        channel.send(HDF5Message.data, UnsafeRawBufferPointer(buffer.bytes))
    }

    mutating func send(_ tensor: HDF5Message.Tensor) {
        names.append(tensor.name)
        channel.send(HDF5Message.tensor, HDF5Message.encode(tensor))
    }

    /// Keras 2 files list their layers (`layer_names`) and each layer's weights
    /// (`weight_names`) in model order, on the root group or on `model_weights`: tensors follow
    /// that order (kernel before bias, layer by layer), the rest stay in name order after them.
    private func keras2Order(_ file: hid_t) throws {
        for prefix in ["", "model_weights"] {
            let owner = "/" + prefix
            channel.step("reading the layer names of \"\(owner)\"")
            if !prefix.isEmpty, H5Lexists(file, prefix, scalpel_h5p_default()) <= 0 { continue }
            let group = prefix.isEmpty ? file : H5Gopen2(file, prefix, scalpel_h5p_default())
            guard group >= 0 else { continue }
            defer { if !prefix.isEmpty { H5Gclose(group) } }
            guard let layers = try listAttribute(group, "layer_names", of: owner) else { continue }
            var order: [String] = []
            for layer in layers {
                channel.step("reading the weight names of layer \"\(layer)\"")
                guard H5Lexists(group, layer, scalpel_h5p_default()) > 0 else { continue }
                let layerGroup = H5Gopen2(group, layer, scalpel_h5p_default())
                guard layerGroup >= 0 else { continue }
                defer { H5Gclose(layerGroup) }
                let layerOwner = prefix.isEmpty ? "/" + layer : owner + "/" + layer
                for weight in try listAttribute(layerGroup, "weight_names", of: layerOwner) ?? [] {
                    order.append([prefix, layer, weight].filter { !$0.isEmpty }.joined(separator: "/"))
                }
            }
            // Names compare as bytes: two spellings of one Unicode name are two weights.
            let rank = Dictionary(order.enumerated().map { (Array($1.utf8), $0) }, uniquingKeysWith: { a, _ in a })
            let indices = names.indices.sorted { a, b in
                (rank[Array(names[a].utf8)] ?? order.count + a, a) < (rank[Array(names[b].utf8)] ?? order.count + b, b)
            }
            var out = HDF5Message.Writer()
            for index in indices { out.int(index) }
            channel.send(HDF5Message.order, out.bytes)
            return
        }
    }

    /// A list attribute, or, as Keras 2 splits long lists, `name0`, `name1`, ... in order.
    private func listAttribute(_ object: hid_t, _ name: String, of owner: String) throws -> [String]? {
        if let whole = try attributes.list(object, Array(name.utf8), of: owner) { return whole }
        var parts: [String] = []
        var chunk = 0
        while let part = try attributes.list(object, Array("\(name)\(chunk)".utf8), of: owner) {
            parts += part
            chunk += 1
        }
        return chunk == 0 ? nil : parts
    }
}
