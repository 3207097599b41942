import Tensors

/// Opens GGUF files (version 3, and 2 which has the same layout), little- or big-endian: the
/// key-value metadata, and the tensors. F32, F16, BF16, F64 and I8…I64 tensors are read
/// (viewed in place; a big-endian file's are byte-swapped into memory when opened);
/// quantized tensors are listed as `OpaqueTensor`s. Shapes are given row-major, the reverse
/// of GGUF's dimension order (`ne[0]` varies fastest), as gguf-py and PyTorch see them.
/// Every count, length, dimension and offset is checked against overflow and against what
/// the file can hold before it is used. Follows ggml's docs/gguf.md.
enum GGUFReader {
    /// The fewest bytes a metadata pair (key length, type, a 1-byte value) and a tensor info
    /// (name length, rank, type, offset) take: bounds for the counts the header declares.
    static let smallestPair = 8 + 4 + 1, smallestTensorInfo = 8 + 4 + 4 + 8

    /// What a GGUF header says: the byte order, the metadata pairs (their raw values in
    /// little-endian order), the alignment, the tensor infos and where tensor data starts.
    struct Header {
        var bigEndian = false
        var keyValues: [GGUFKeyValue] = []
        var alignment = 32
        var infos: [Info] = []
        var dataStart = 0
    }

    struct Info: Equatable {
        let name: String
        let shape: [Int]
        let type: UInt32
        let offset: Int

        /// Names compare as bytes, not by Unicode equivalence.
        static func == (a: Info, b: Info) -> Bool {
            a.name.utf8.elementsEqual(b.name.utf8) && a.shape == b.shape && a.type == b.type && a.offset == b.offset
        }
    }

    /// Parses a GGUF header from `bytes` (a whole file, or a header alone as the writer checks
    /// its own), every count bounded by the bytes there are. Throws naming `path`.
    static func header(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
        var cursor = GGUFCursor(bytes: bytes, path: path)
        guard bytes.count >= 4, Array(bytes.prefix(4)) == Array("GGUF".utf8) else {
            throw CheckpointError(path, "not a GGUF file")
        }
        cursor.at = 4
        var version = try cursor.u32()
        if version & 0xFFFF == 0, version.byteSwapped == 2 || version.byteSwapped == 3 {
            cursor.bigEndian = true
            version = version.byteSwapped
        }
        guard version == 2 || version == 3 else {
            throw CheckpointError(
                path,
                """
                GGUF version \(version) is not supported (versions 2 and 3 are read, in either byte order; \
                convert older files with llama.cpp's tools)
                """,
                kind: .unsupported
            )
        }
        var header = Header(bigEndian: cursor.bigEndian)
        let tensorCount = try cursor.count("tensor count")
        let keyValueCount = try cursor.count("metadata count")
        guard keyValueCount <= cursor.remaining / smallestPair else {
            throw CheckpointError(
                path,
                """
                GGUF header declares \(keyValueCount) metadata pairs, more than the file's \(bytes.count) bytes \
                can hold (damaged file?)
                """
            )
        }
        var keys = Set<[UInt8]>()
        for _ in 0..<keyValueCount {
            let key = try cursor.name("metadata key")
            let type = try cursor.u32()
            let start = cursor.at
            var copy: ZipBytes? = cursor.bigEndian ? ZipBytes() : nil
            let text = try cursor.value(type, depth: 0, copy: &copy)
            let raw = copy?.bytes ?? Array(bytes[start..<cursor.at])
            if key == "general.alignment" {
                header.alignment = try GGUFKeyTypes.alignment(type: type, text: text, path: path)
            }
            guard keys.insert(Array(key.utf8)).inserted else {
                throw CheckpointError(path, "GGUF metadata key \"\(key)\" appears twice")
            }
            header.keyValues.append(GGUFKeyValue(key: key, type: type, raw: raw, text: text))
        }
        guard tensorCount <= cursor.remaining / smallestTensorInfo else {
            throw CheckpointError(
                path,
                """
                GGUF header declares \(tensorCount) tensors, more than the file's \(bytes.count) bytes can hold \
                (damaged file?)
                """
            )
        }
        var names = Set<[UInt8]>()
        for _ in 0..<tensorCount {
            let name = try cursor.name("tensor name")
            guard names.insert(Array(name.utf8)).inserted else {
                throw CheckpointError(path, "GGUF tensor \"\(name)\" appears twice")
            }
            let rank = try cursor.u32()
            guard rank <= 8 else { throw CheckpointError(path, "GGUF tensor \"\(name)\" has \(rank) dimensions") }
            var dims: [Int] = []
            for _ in 0..<rank { dims.append(try cursor.count("dimension of \(name)")) }
            let type = try cursor.u32()
            let offset = try cursor.count("offset of \(name)")
            header.infos.append(Info(name: name, shape: dims.reversed(), type: type, offset: offset))
        }
        header.dataStart = (cursor.at + header.alignment - 1) / header.alignment * header.alignment
        return header
    }

    static func open(_ path: String) throws -> Checkpoint {
        let mapping = try MappedFile(path: path)
        let header = try Self.header(mapping.bytes, path: path)
        let (alignment, dataStart) = (header.alignment, header.dataStart)
        var tensors: [TensorEntry] = []
        var decoded = NameMap<TensorView>()  // by name bytes
        var opaque: [OpaqueTensor] = []
        var ranges: [(Int, Int, String)] = []
        for info in header.infos {
            let byteCount = try Self.byteCount(info, path: path)
            guard info.offset % alignment == 0 else {
                throw CheckpointError(
                    path, "GGUF tensor \"\(info.name)\": offset \(info.offset) is not aligned to \(alignment)")
            }
            let (begin, overflow) = dataStart.addingReportingOverflow(info.offset)
            guard !overflow, begin <= mapping.bytes.count, byteCount <= mapping.bytes.count - begin else {
                throw CheckpointError(
                    path,
                    """
                    GGUF tensor \"\(info.name)\": its \(byteCount) bytes at offset \(info.offset) lie outside the \
                    \(mapping.bytes.count)-byte file (truncated or damaged)
                    """
                )
            }
            ranges.append((begin, begin + byteCount, info.name))
            if let dtype = GGMLType.dtype(info.type) {
                tensors.append(
                    TensorEntry(
                        name: info.name, dtype: dtype, shape: info.shape, fileIndex: 0, offset: begin,
                        byteCount: byteCount))
                if header.bigEndian {
                    decoded[info.name] = swapped(
                        UnsafeRawBufferPointer(rebasing: mapping.bytes[begin..<(begin + byteCount)]), dtype: dtype,
                        shape: info.shape)
                }
            } else if let quantized = GGMLType.quantized[info.type] {
                opaque.append(
                    OpaqueTensor(name: info.name, typeName: quantized.name, shape: info.shape, byteCount: byteCount))
            }
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
            throw CheckpointError(path, "GGUF tensors \"\(a.2)\" and \"\(b.2)\" overlap")
        }
        let file = Checkpoint.File(
            path: path, size: mapping.bytes.count, headerLength: dataStart, tensorCount: header.infos.count,
            mapping: mapping)
        return try Checkpoint(
            path: path, format: .gguf, metadata: header.keyValues.map { ($0.key, $0.text) }, tensors: tensors,
            files: [file],
            decoded: decoded, opaqueTensors: opaque, extras: .gguf(alignment: alignment, keyValues: header.keyValues))
    }

    /// The bytes a tensor's data takes, every product checked: a plain type's elements times
    /// its size, or a quantized type's blocks times the block's bytes. ggml quantizes rows in
    /// blocks along `ne[0]` (the last row-major dimension), which must be a whole number of blocks.
    static func byteCount(_ info: Info, path: String) throws -> Int {
        guard let elements = Shape.elementCount(info.shape) else {
            throw CheckpointError(path, "GGUF tensor \"\(info.name)\": shape \(Shape.describe(info.shape)) overflows")
        }
        if let dtype = GGMLType.dtype(info.type) {
            guard let bytes = Shape.byteCount(info.shape, dtype) else {
                throw CheckpointError(path, "GGUF tensor \"\(info.name)\" is absurdly large")
            }
            return bytes
        }
        guard let quantized = GGMLType.quantized[info.type] else {
            throw CheckpointError(path, "GGUF tensor \"\(info.name)\" has unknown ggml type \(info.type)")
        }
        let row = info.shape.last ?? 1
        guard row % quantized.blockElements == 0 else {
            throw CheckpointError(
                path,
                """
                GGUF tensor \"\(info.name)\" (\(quantized.name)): its rows of \(row) elements are not a multiple \
                of its block of \(quantized.blockElements)
                """
            )
        }
        let (bytes, overflow) = (elements / quantized.blockElements).multipliedReportingOverflow(
            by: quantized.blockBytes)
        guard !overflow else {
            throw CheckpointError(
                path,
                """
                GGUF tensor \"\(info.name)\" (\(quantized.name), shape \(Shape.describe(info.shape))): its byte \
                count overflows 64 bits (damaged file?)
                """
            )
        }
        return bytes
    }

    /// A big-endian tensor's elements in little-endian order.
    static func swapped(_ data: UnsafeRawBufferPointer, dtype: DType, shape: [Int]) -> TensorView {
        TensorView.make(dtype: dtype, shape: shape) { out in
            out.copyMemory(from: data)
            let size = dtype.size
            guard size > 1 else { return }
            for element in 0..<(out.count / size) {
                for p in 0..<(size / 2) { out.swapAt(element * size + p, element * size + size - 1 - p) }
            }
        }
    }
}
