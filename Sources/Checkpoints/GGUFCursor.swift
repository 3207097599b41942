import Tensors

/// Reads GGUF's header fields with bounds checks, in the file's byte order. GGUF v3 files may
/// be big-endian, every field and tensor then big-endian too (ggml's docs/gguf.md, "File
/// Structure"); the spec gives no flag for it, so the order is told from the version field,
/// as gguf-py does: a version whose low 16 bits are zero is a byte-swapped small number.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var bigEndian = false
    var at = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - at }

    mutating func take(_ n: Int) throws -> Int {
        guard n >= 0, n <= bytes.count - at else {
            throw CheckpointError(
                path, "GGUF header is truncated or damaged (needs \(n) bytes at offset \(at) of \(bytes.count))")
        }
        defer { at += n }
        return at
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let raw = bytes.loadUnaligned(fromByteOffset: try take(MemoryLayout<T>.size), as: T.self)
        return bigEndian ? T(bigEndian: raw) : T(littleEndian: raw)
    }

    mutating func u32() throws -> UInt32 { try load(UInt32.self) }

    /// A u64 count or size, refused when it could not describe anything a file holds.
    mutating func count(_ what: String) throws -> Int {
        let value = try load(UInt64.self)
        guard value < 1 << 48 else { throw CheckpointError(path, "GGUF \(what) is absurd (\(value))") }
        return Int(value)
    }

    /// A string's bytes: a u64 length, then the bytes.
    mutating func stringBytes() throws -> UnsafeRawBufferPointer {
        let length = try count("string length")
        let start = try take(length)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
    }

    /// A string value for people: invalid UTF-8 is shown with replacement characters (the
    /// raw bytes are what a rewrite keeps).
    mutating func string() throws -> String {
        String(decoding: try stringBytes(), as: UTF8.self)
    }

    /// A key or tensor name: names are compared and written back byte for byte, so bytes that
    /// are not UTF-8 (which the spec requires and gguf-py decodes strictly) are refused rather
    /// than replaced.
    mutating func name(_ what: String) throws -> String {
        let at = self.at
        let raw = try stringBytes()
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw CheckpointError(path, "GGUF \(what) at offset \(at) is not valid UTF-8")
        }
        return text
    }

    /// Reads one value of `type`, returning it as text for people. With `copy`, the value is
    /// also appended there in little-endian order (how a big-endian file's pairs are kept).
    mutating func value(_ type: UInt32, depth: Int, copy: inout ZipBytes?) throws -> String {
        func number<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let value = try load(T.self)
            if copy != nil { withUnsafeBytes(of: value.littleEndian) { copy!.bytes += $0 } }
            return value
        }
        switch type {
        case 0: return "\(try number(UInt8.self))"
        case 1: return "\(try number(Int8.self))"
        case 2: return "\(try number(UInt16.self))"
        case 3: return "\(try number(Int16.self))"
        case 4: return "\(try number(UInt32.self))"
        case 5: return "\(try number(Int32.self))"
        case 6: return "\(Float(bitPattern: try number(UInt32.self)))"
        case 7: return try number(UInt8.self) != 0 ? "true" : "false"
        case 8:
            let text = try stringBytes()
            if copy != nil {
                copy!.u64(text.count)
                copy!.bytes += text
            }
            return String(decoding: text, as: UTF8.self)
        case 9:
            guard depth < 4 else { throw CheckpointError(path, "GGUF metadata arrays nest too deeply") }
            let elementType = try number(UInt32.self)
            guard let smallest = Self.smallestSize(elementType) else {
                throw CheckpointError(
                    path, "GGUF metadata array of value type \(elementType) is unknown (damaged file?)")
            }
            let n = try count("array length")
            if copy != nil { copy!.u64(n) }
            // Each element takes at least `smallest` bytes: a count the rest of the file
            // cannot hold is refused before any loop runs over it.
            guard n <= remaining / smallest else {
                throw CheckpointError(path, "GGUF metadata array of \(n) elements cannot fit the file")
            }
            var shown: [String] = []
            for i in 0..<n {
                let text = try value(elementType, depth: depth + 1, copy: &copy)
                if i < 8 { shown.append(elementType == 8 ? "\"\(text)\"" : text) }
            }
            return n <= 8 ? "[" + shown.joined(separator: ", ") + "]" : "[\(n) \(Self.typeName(elementType)) values]"
        case 10: return "\(try number(UInt64.self))"
        case 11: return "\(try number(Int64.self))"
        case 12: return "\(Double(bitPattern: try number(UInt64.self)))"
        default: throw CheckpointError(path, "GGUF metadata value type \(type) is unknown (damaged file?)")
        }
    }

    /// The fewest bytes one value of `type` takes (a string: its length; an array: its
    /// element type and length), or nil for an unknown type.
    private static func smallestSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return nil
        }
    }

    static func typeName(_ type: UInt32) -> String {
        [
            "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64",
            "int64", "float64",
        ][safe: Int(type)] ?? "type \(type)"
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
