import CHDF5
import Tensors

/// Opens HDF5 files as checkpoints: every numeric dataset is a tensor named by its path
/// (`layers/dense/vars/0` in a Keras 3 `.weights.h5`, `model_weights/dense/dense/kernel:0` in
/// a Keras 2 `.h5`). Contiguous, unfiltered little-endian datasets are viewed in place;
/// chunked, compressed, compact or big-endian ones are read into memory when opened. String
/// attributes of the root group are the checkpoint's metadata.
enum HDF5Reader {
    static func open(_ path: String) throws -> Checkpoint {
        try HDF5.locked {
            let mapping = try MappedFile(path: path)
            let file = try HDF5.check(H5Fopen(path, scalpel_h5f_acc_rdonly(), scalpel_h5p_default()), path,
                                      "cannot be opened as HDF5 (truncated or damaged)")
            defer { H5Fclose(file) }
            var walk = Walk(path: path, fileSize: mapping.bytes.count)
            try walk.group(file, prefix: "", depth: 0)
            keras2Order(file, &walk.tensors)
            var metadata = stringAttributes(file)
            if !walk.skipped.isEmpty {
                metadata.append(("hdf5.not_tensors", walk.skipped.joined(separator: ", ")))
            }
            let fileInfo = Checkpoint.File(path: path, size: mapping.bytes.count, headerLength: 0, tensorCount: walk.tensors.count, mapping: mapping)
            return try Checkpoint(path: path, format: .hdf5, metadata: metadata, tensors: walk.tensors, files: [fileInfo], decoded: walk.decoded)
        }
    }

    struct Walk {
        let path: String
        let fileSize: Int
        var tensors: [TensorEntry] = []
        var decoded: [String: TensorView] = [:]
        /// Datasets that are not tensors (strings, compound types) and links not followed.
        var skipped: [String] = []

        mutating func group(_ group: hid_t, prefix: String, depth: Int) throws {
            guard depth < 64 else { throw CheckpointError(path, "HDF5 groups nest more than 64 deep at \"\(prefix)\" (a link cycle?)") }
            var info = H5G_info_t()
            try HDF5.check(H5Gget_info(group, &info), path, "cannot list the group \"/\(prefix)\"")
            for index in 0..<info.nlinks {
                let length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, scalpel_h5p_default())
                guard length >= 0 else { throw CheckpointError(path, "cannot read a link name in \"/\(prefix)\"") }
                var buffer = [CChar](repeating: 0, count: Int(length) + 1)
                H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, scalpel_h5p_default())
                let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let full = prefix.isEmpty ? name : prefix + "/" + name
                guard scalpel_link_type(group, name) == 0 else {
                    skipped.append(full + " (link)")
                    continue
                }
                let object = H5Oopen(group, name, scalpel_h5p_default())
                guard object >= 0 else { throw CheckpointError(path, "cannot open \"/\(full)\" (damaged file?)") }
                defer { H5Oclose(object) }
                switch H5Iget_type(object) {
                case H5I_GROUP: try self.group(object, prefix: full, depth: depth + 1)
                case H5I_DATASET: try dataset(object, name: full)
                default: skipped.append(full)
                }
            }
        }

        mutating func dataset(_ dataset: hid_t, name: String) throws {
            let type = H5Dget_type(dataset)
            defer { H5Tclose(type) }
            guard let (dtype, memoryType) = HDF5Types.dtype(of: type, dataset: dataset) else {
                skipped.append(name)
                return
            }
            defer { if let memoryType, memoryType.owned { H5Tclose(memoryType.id) } }
            let space = H5Dget_space(dataset)
            defer { H5Sclose(space) }
            let rank = H5Sget_simple_extent_ndims(space)
            guard rank >= 0, rank <= 32, H5Sget_simple_extent_type(space) != H5S_NULL else {
                skipped.append(name)
                return
            }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) }
            let shape = dims.map { Int(clamping: $0) }
            guard let byteCount = Shape.byteCount(shape, dtype), byteCount < 1 << 50 else {
                throw CheckpointError(path, "HDF5 dataset \"\(name)\": shape \(Shape.describe(shape)) is absurd")
            }
            let plist = H5Dget_create_plist(dataset)
            defer { H5Pclose(plist) }
            let offset = H5Dget_offset(dataset)
            let inPlace = H5Pget_layout(plist) == H5D_CONTIGUOUS && H5Pget_nfilters(plist) == 0
                && offset != haddr_t.max && (H5Tget_order(type) == H5T_ORDER_LE || dtype.size == 1 || memoryType == nil)
                && Int(clamping: offset) <= fileSize - byteCount
            if inPlace || byteCount == 0 {
                tensors.append(TensorEntry(name: name, dtype: dtype, shape: shape, fileIndex: 0, offset: inPlace ? Int(offset) : 0, byteCount: byteCount))
                if !inPlace { decoded[name] = TensorView.make(dtype: dtype, shape: shape) { _ in } }
                return
            }
            let buffer = ByteBuffer(count: byteCount)
            guard H5Dread(dataset, memoryType?.id ?? type, scalpel_h5s_all(), scalpel_h5s_all(), scalpel_h5p_default(), buffer.bytes.baseAddress) >= 0 else {
                throw CheckpointError(path, "HDF5 dataset \"\(name)\" cannot be read (damaged or truncated data, or a compression filter this HDF5 library lacks)")
            }
            decoded[name] = TensorView(dtype: dtype, shape: shape, bytes: UnsafeRawBufferPointer(buffer.bytes), owner: buffer)
            tensors.append(TensorEntry(name: name, dtype: dtype, shape: shape, fileIndex: 0, offset: 0, byteCount: byteCount))
        }
    }

    /// Keras 2 files list their layers (`layer_names`) and each layer's weights
    /// (`weight_names`) in model order, on the root group or on `model_weights`: tensors follow
    /// that order (kernel before bias, layer by layer), the rest stay in name order after them.
    static func keras2Order(_ file: hid_t, _ tensors: inout [TensorEntry]) {
        for prefix in ["", "model_weights"] {
            let group = prefix.isEmpty ? file : H5Gopen2(file, prefix, scalpel_h5p_default())
            guard group >= 0 else { continue }
            defer { if !prefix.isEmpty { H5Gclose(group) } }
            guard let layers = HDF5.stringListAttribute(group, "layer_names") else { continue }
            var order: [String] = []
            for layer in layers {
                let layerGroup = H5Gopen2(group, layer, scalpel_h5p_default())
                guard layerGroup >= 0 else { continue }
                defer { H5Gclose(layerGroup) }
                for weight in HDF5.stringListAttribute(layerGroup, "weight_names") ?? [] {
                    order.append([prefix, layer, weight].filter { !$0.isEmpty }.joined(separator: "/"))
                }
            }
            let rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            let indexed = tensors.enumerated().map { ($0.offset, $0.element) }
            tensors = indexed.sorted { a, b in
                (rank[a.1.name] ?? order.count + a.0, a.0) < (rank[b.1.name] ?? order.count + b.0, b.0)
            }.map(\.1)
            return
        }
    }

    /// String attributes of `object`, in name order.
    static func stringAttributes(_ object: hid_t) -> [(String, String)] {
        final class Names { var list: [String] = [] }
        let names = Names()
        var index: hsize_t = 0
        _ = withUnsafeMutablePointer(to: &index) { indexPointer in
            H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, indexPointer, { _, name, _, context in
                guard let name, let context else { return -1 }
                Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: name))
                return 0
            }, Unmanaged.passUnretained(names).toOpaque())
        }
        return names.list.compactMap { name in HDF5.stringAttribute(object, name).map { (name, $0) } }
    }
}

/// How HDF5 datatypes map onto dtypes, both ways.
enum HDF5Types {
    /// A memory type to read into, and whether the caller must close it.
    struct MemoryType: Equatable {
        let id: hid_t
        let owned: Bool
    }

    /// The dtype a dataset of `type` holds, and the memory type that reads it as little-endian
    /// bytes (nil: read with the file type itself). bfloat16 is a 2-byte integer or opaque
    /// dataset with the attribute dtype = "bfloat16", as Keras 3 writes it.
    static func dtype(of type: hid_t, dataset: hid_t) -> (DType, MemoryType?)? {
        let size = H5Tget_size(type)
        let native = { (id: hid_t) in MemoryType(id: id, owned: false) }
        let isBfloat16 = size == 2 && HDF5.stringAttribute(dataset, "dtype") == "bfloat16"
        switch H5Tget_class(type) {
        case H5T_FLOAT:
            switch size {
            case 8: return (.f64, native(scalpel_native_double()))
            case 4: return (.f32, native(scalpel_native_float()))
            case 2:
                var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
                H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize)
                if (epos, esize, mpos, msize) == (10, 5, 0, 10) { return (.f16, MemoryType(id: scalpel_ieee_f16le(), owned: true)) }
                if (epos, esize, mpos, msize) == (7, 8, 0, 7) { return (.bf16, nil) }
                return nil
            default: return nil
            }
        case H5T_INTEGER:
            if isBfloat16 { return (.bf16, native(scalpel_native_uint16())) }
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch (size, signed) {
            case (8, true): return (.i64, native(scalpel_native_int64()))
            case (4, true): return (.i32, native(scalpel_native_int32()))
            case (2, true): return (.i16, native(scalpel_native_int16()))
            case (1, true): return (.i8, native(scalpel_native_int8()))
            case (8, false): return (.u64, native(scalpel_native_uint64()))
            case (4, false): return (.u32, native(scalpel_native_uint32()))
            case (2, false): return (.u16, native(scalpel_native_uint16()))
            case (1, false): return (.u8, native(scalpel_native_uint8()))
            default: return nil
            }
        case H5T_ENUM:
            // h5py's bool: an 8-bit enum {FALSE: 0, TRUE: 1}.
            guard size == 1, H5Tget_nmembers(type) == 2 else { return nil }
            let names = (0..<2).map { index -> String in
                guard let pointer = H5Tget_member_name(type, UInt32(index)) else { return "" }
                defer { H5free_memory(pointer) }
                return String(cString: pointer)
            }
            return names == ["FALSE", "TRUE"] ? (.bool, nil) : nil
        case H5T_OPAQUE:
            return isBfloat16 ? (.bf16, nil) : nil
        default:
            return nil
        }
    }
}
