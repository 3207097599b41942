import Tensors

/// Opens GGUF files (version 3, and 2 which has the same layout): the key-value metadata,
/// and the tensors, viewed in place. F32, F16, BF16, F64 and I8…I64 tensors are read;
/// quantized tensors are listed as `OpaqueTensor`s. Shapes are given row-major, the reverse
/// of GGUF's dimension order (`ne[0]` varies fastest), as gguf-py and PyTorch see them.
enum GGUFReader {
    static func open(_ path: String) throws -> Checkpoint {
        let mapping = try MappedFile(path: path)
        var cursor = GGUFCursor(bytes: mapping.bytes, path: path)
        guard try cursor.u32() == 0x4655_4747 else { throw CheckpointError(path, "not a GGUF file") }
        let version = try cursor.u32()
        guard version == 2 || version == 3 else {
            throw CheckpointError(path, "GGUF version \(version) is not supported (versions 2 and 3 are read; convert older files with llama.cpp's tools)")
        }
        let tensorCount = try cursor.count("tensor count")
        let keyValueCount = try cursor.count("metadata count")
        var keyValues: [GGUFKeyValue] = []
        var alignment = 32
        for _ in 0..<keyValueCount {
            let key = try cursor.string()
            let type = try cursor.u32()
            let start = cursor.at
            let text = try cursor.skipValue(type, depth: 0)
            let raw = Array(mapping.bytes[start..<cursor.at])
            if key == "general.alignment" {
                guard type == 4, let value = Int(text), value > 0, value & (value - 1) == 0, value <= 1 << 20 else {
                    throw CheckpointError(path, "GGUF general.alignment must be a power of two (a uint32), got \(text)")
                }
                alignment = value
            }
            if keyValues.contains(where: { $0.key == key }) { throw CheckpointError(path, "GGUF metadata key \"\(key)\" appears twice") }
            keyValues.append(GGUFKeyValue(key: key, type: type, raw: raw, text: text))
        }
        struct Info { let name: String; let shape: [Int]; let type: UInt32; let offset: Int }
        var infos: [Info] = []
        for _ in 0..<tensorCount {
            let name = try cursor.string()
            let rank = Int(try cursor.u32())
            guard rank <= 8 else { throw CheckpointError(path, "GGUF tensor \"\(name)\" has \(rank) dimensions") }
            var dims: [Int] = []
            for _ in 0..<rank { dims.append(try cursor.count("dimension of \(name)")) }
            let type = try cursor.u32()
            let offset = try cursor.count("offset of \(name)")
            infos.append(Info(name: name, shape: dims.reversed(), type: type, offset: offset))
        }
        let dataStart = (cursor.at + alignment - 1) / alignment * alignment
        var tensors: [TensorEntry] = []
        var opaque: [OpaqueTensor] = []
        var ranges: [(Int, Int, String)] = []
        for info in infos {
            guard let elements = Shape.elementCount(info.shape) else { throw CheckpointError(path, "GGUF tensor \"\(info.name)\": shape \(Shape.describe(info.shape)) overflows") }
            let byteCount: Int
            if let dtype = GGMLType.dtype(info.type) {
                guard let bytes = Shape.byteCount(info.shape, dtype) else { throw CheckpointError(path, "GGUF tensor \"\(info.name)\" is absurdly large") }
                byteCount = bytes
            } else if let quantized = GGMLType.quantized[info.type] {
                guard elements % quantized.blockElements == 0 else {
                    throw CheckpointError(path, "GGUF tensor \"\(info.name)\" (\(quantized.name)) has \(elements) elements, not a multiple of its block of \(quantized.blockElements)")
                }
                byteCount = elements / quantized.blockElements * quantized.blockBytes
            } else {
                throw CheckpointError(path, "GGUF tensor \"\(info.name)\" has unknown ggml type \(info.type)")
            }
            guard info.offset % alignment == 0 else {
                throw CheckpointError(path, "GGUF tensor \"\(info.name)\": offset \(info.offset) is not aligned to \(alignment)")
            }
            let (begin, overflow) = dataStart.addingReportingOverflow(info.offset)
            guard !overflow, begin <= mapping.bytes.count, byteCount <= mapping.bytes.count - begin else {
                throw CheckpointError(path, "GGUF tensor \"\(info.name)\": its \(byteCount) bytes at offset \(info.offset) lie outside the \(mapping.bytes.count)-byte file (truncated or damaged)")
            }
            ranges.append((begin, begin + byteCount, info.name))
            if let dtype = GGMLType.dtype(info.type) {
                tensors.append(TensorEntry(name: info.name, dtype: dtype, shape: info.shape, fileIndex: 0, offset: begin, byteCount: byteCount))
            } else if let quantized = GGMLType.quantized[info.type] {
                opaque.append(OpaqueTensor(name: info.name, typeName: quantized.name, shape: info.shape, byteCount: byteCount))
            }
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
            throw CheckpointError(path, "GGUF tensors \"\(a.2)\" and \"\(b.2)\" overlap")
        }
        let file = Checkpoint.File(path: path, size: mapping.bytes.count, headerLength: dataStart, tensorCount: infos.count, mapping: mapping)
        return try Checkpoint(path: path, format: .gguf, metadata: keyValues.map { ($0.key, $0.text) }, tensors: tensors, files: [file],
                              opaqueTensors: opaque, extras: .gguf(alignment: alignment, keyValues: keyValues))
    }
}

/// Reads GGUF's little-endian fields with bounds checks.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var at = 0

    mutating func take(_ n: Int) throws -> Int {
        guard n >= 0, n <= bytes.count - at else {
            throw CheckpointError(path, "GGUF header is truncated or damaged (needs \(n) bytes at offset \(at) of \(bytes.count))")
        }
        defer { at += n }
        return at
    }

    mutating func u32() throws -> UInt32 { bytes.loadUnaligned(fromByteOffset: try take(4), as: UInt32.self).littleEndian }
    mutating func u64() throws -> UInt64 { bytes.loadUnaligned(fromByteOffset: try take(8), as: UInt64.self).littleEndian }

    /// A u64 count or size, refused when it could not fit the file.
    mutating func count(_ what: String) throws -> Int {
        let value = try u64()
        guard value < 1 << 48 else { throw CheckpointError(path, "GGUF \(what) is absurd (\(value))") }
        return Int(value)
    }

    mutating func string() throws -> String {
        let length = try count("string length")
        let start = try take(length)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]), as: UTF8.self)
    }

    /// Moves past one value of `type`, returning it as text for people.
    mutating func skipValue(_ type: UInt32, depth: Int) throws -> String {
        func load<T: FixedWidthInteger>(_: T.Type) throws -> T { T(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(MemoryLayout<T>.size), as: T.self)) }
        switch type {
        case 0: return "\(try load(UInt8.self))"
        case 1: return "\(try load(Int8.self))"
        case 2: return "\(try load(UInt16.self))"
        case 3: return "\(try load(Int16.self))"
        case 4: return "\(try load(UInt32.self))"
        case 5: return "\(try load(Int32.self))"
        case 6: return "\(Float(bitPattern: try load(UInt32.self)))"
        case 7: return try load(UInt8.self) != 0 ? "true" : "false"
        case 8: return try string()
        case 9:
            guard depth < 4 else { throw CheckpointError(path, "GGUF metadata arrays nest too deeply") }
            let elementType = try u32()
            let n = try count("array length")
            guard n <= bytes.count - at else { throw CheckpointError(path, "GGUF metadata array of \(n) elements cannot fit the file") }
            var shown: [String] = []
            for i in 0..<n {
                let text = try skipValue(elementType, depth: depth + 1)
                if i < 8 { shown.append(elementType == 8 ? "\"\(text)\"" : text) }
            }
            return n <= 8 ? "[" + shown.joined(separator: ", ") + "]" : "[\(n) \(Self.typeName(elementType)) values]"
        case 10: return "\(try load(UInt64.self))"
        case 11: return "\(try load(Int64.self))"
        case 12: return "\(Double(bitPattern: try load(UInt64.self)))"
        default: throw CheckpointError(path, "GGUF metadata value type \(type) is unknown (damaged file?)")
        }
    }

    static func typeName(_ type: UInt32) -> String {
        ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"][safe: Int(type)] ?? "type \(type)"
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
