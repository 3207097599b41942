import Tensors

/// Opens NumPy checkpoints: one `.npy` array (the tensor named after the file) or an `.npz`
/// archive of them (each member `NAME.npy` a tensor `NAME`), as `np.save`, `np.savez` and
/// `np.savez_compressed` write them.
///
/// C-order little-endian arrays in stored members are viewed in place, like safetensors.
/// Deflated members, Fortran-order and big-endian arrays are decoded into memory when the
/// file is opened (a deflated member's CRC-32 is checked then), so they cost their size in
/// memory while the checkpoint is open.
enum NumpyReader {
    static func openNpy(_ path: String) throws -> Checkpoint {
        let mapping = try MappedFile(path: path)
        let header = try NumpyHeader(mapping.bytes, what: "NumPy array", path: path)
        guard header.dataOffset + header.byteCount == mapping.bytes.count else {
            throw CheckpointError(
                path,
                """
                NumPy array \(header.dtype.rawValue) \(Shape.describe(header.shape)) needs \(header.byteCount) \
                data bytes, the file has \(mapping.bytes.count - header.dataOffset) (truncated or damaged)
                """
            )
        }
        let name = tensorName(fromFile: path)
        let entry = TensorEntry(
            name: name, dtype: header.dtype, shape: header.shape, fileIndex: 0,
            offset: header.dataOffset, byteCount: header.byteCount)
        var decoded = NameMap<TensorView>()  // by name bytes
        if header.bigEndian || header.fortranOrder {
            decoded[name] = try cOrder(
                UnsafeRawBufferPointer(rebasing: mapping.bytes[header.dataOffset...]), header, what: "NumPy array",
                path: path)
        }
        let file = Checkpoint.File(
            path: path, size: mapping.bytes.count, headerLength: header.dataOffset, tensorCount: 1, mapping: mapping)
        return try Checkpoint(
            path: path, format: .numpy, metadata: [], tensors: [entry], files: [file], decoded: decoded)
    }

    static func openNpz(_ path: String, mapping: MappedFile, archive: ZipArchive) throws -> Checkpoint {
        var tensors: [TensorEntry] = []
        var decoded = NameMap<TensorView>()  // by name bytes
        var headerBytes = 0
        for member in archive.members {
            // Bytes, not Unicode text: a name ending in a combining mark after ".npy" does not end in ".npy".
            guard member.nameBytes.count >= 4, member.nameBytes.suffix(4).elementsEqual(".npy".utf8) else {
                throw CheckpointError(
                    path,
                    """
                    zip member \"\(member.name.escapedForMessage)\" is not a NumPy array (.npy): not an .npz \
                    checkpoint
                    """
                )
            }
            let name = String(decoding: member.nameBytes.dropLast(4), as: UTF8.self)
            let what = "array \"\(name.escapedForMessage)\""
            let stored = UnsafeRawBufferPointer(
                rebasing: mapping.bytes[member.dataOffset..<(member.dataOffset + member.compressedSize)])
            if member.method == 0 {
                let header = try NumpyHeader(stored, what: what, path: path)
                try checkSize(header, member: member, what: what, path: path)
                let entry = TensorEntry(
                    name: name, dtype: header.dtype, shape: header.shape, fileIndex: 0,
                    offset: member.dataOffset + header.dataOffset, byteCount: header.byteCount)
                if header.bigEndian || header.fortranOrder {
                    decoded[name] = try cOrder(
                        UnsafeRawBufferPointer(rebasing: stored[header.dataOffset...]), header, what: what, path: path)
                }
                tensors.append(entry)
                headerBytes += header.dataOffset
            } else {
                let inflated = try Deflate.inflate(
                    stored, size: member.uncompressedSize, member: member.name, path: path)
                let bytes = UnsafeRawBufferPointer(inflated.bytes)
                guard Deflate.crc32(bytes) == member.crc32 else {
                    throw CheckpointError(
                        path, "zip member \"\(member.name.escapedForMessage)\": CRC-32 mismatch, the data is damaged")
                }
                let header = try NumpyHeader(bytes, what: what, path: path)
                try checkSize(header, member: member, what: what, path: path)
                let data = UnsafeRawBufferPointer(rebasing: bytes[header.dataOffset...])
                decoded[name] =
                    header.bigEndian || header.fortranOrder
                    ? try cOrder(data, header, what: what, path: path)
                    : TensorView(dtype: header.dtype, shape: header.shape, bytes: data, owner: inflated)
                tensors.append(
                    TensorEntry(
                        name: name, dtype: header.dtype, shape: header.shape, fileIndex: 0,
                        offset: member.dataOffset, byteCount: header.byteCount))
                headerBytes += header.dataOffset
            }
        }
        let file = Checkpoint.File(
            path: path, size: mapping.bytes.count, headerLength: headerBytes, tensorCount: tensors.count,
            mapping: mapping)
        return try Checkpoint(path: path, format: .npz, metadata: [], tensors: tensors, files: [file], decoded: decoded)
    }

    private static func checkSize(_ header: NumpyHeader, member: ZipArchive.Member, what: String, path: String) throws {
        guard header.dataOffset + header.byteCount == member.uncompressedSize else {
            throw CheckpointError(
                path,
                """
                \(what): \(header.dtype.rawValue) \(Shape.describe(header.shape)) needs \(header.byteCount) data \
                bytes, the member holds \(member.uncompressedSize - header.dataOffset) (truncated or damaged)
                """
            )
        }
    }

    /// "weights/layer.npy" → "layer".
    static func tensorName(fromFile path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.utf8.suffix(4).elementsEqual(".npy".utf8)
            ? String(decoding: file.utf8.dropLast(4), as: UTF8.self) : file
    }

    /// The elements of `data` (as the header lays them out) in C order, little-endian.
    /// - Throws: `CheckpointError` when `data` is shorter than the header's shape needs.
    private static func cOrder(_ data: UnsafeRawBufferPointer, _ header: NumpyHeader, what: String, path: String) throws
        -> TensorView
    {
        let size = header.dtype.size
        let strides =
            header.fortranOrder ? StridedGather.fortranStrides(header.shape) : Shape.contiguousStrides(header.shape)
        guard
            let view = StridedGather.gather(data, dtype: header.dtype, shape: header.shape, strides: strides, offset: 0)
        else {
            throw CheckpointError(
                path,
                """
                \(what): \(header.dtype.rawValue) \(Shape.describe(header.shape)) does not fit its \(data.count) \
                data bytes
                """
            )
        }
        guard header.bigEndian else { return view }
        return TensorView.make(dtype: header.dtype, shape: header.shape) { out in
            view.withBytes { out.copyMemory(from: $0) }
            for element in 0..<(out.count / size) {
                for p in 0..<(size / 2) { out.swapAt(element * size + p, element * size + size - 1 - p) }
            }
        }
    }
}
