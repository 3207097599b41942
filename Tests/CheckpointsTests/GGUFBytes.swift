import Foundation

/// GGUF bytes assembled field by field, in either byte order, for files no writer makes
/// (damaged counts, overflowing shapes, bad names).
struct GGUFBytes {
    var bigEndian = false
    var bytes: [UInt8] = Array("GGUF".utf8)

    /// A header: magic, version, tensor count, pair count.
    init(bigEndian: Bool = false, version: UInt32 = 3, tensors: UInt64, pairs: UInt64) {
        self.bigEndian = bigEndian
        u32(version)
        u64(tensors)
        u64(pairs)
    }

    mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: bigEndian ? value.bigEndian : value.littleEndian) { bytes += $0 }
    }
    mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: bigEndian ? value.bigEndian : value.littleEndian) { bytes += $0 }
    }

    mutating func string(_ raw: [UInt8]) {
        u64(UInt64(raw.count))
        bytes += raw
    }

    mutating func string(_ text: String) { string(Array(text.utf8)) }

    /// A pair whose value is a uint32.
    mutating func pair(_ key: String, uint32 value: UInt32) {
        string(key)
        u32(4)
        u32(value)
    }

    /// A file of one pair "a", an array of `count` values of `elementType` followed by
    /// `then` zero bytes.
    static func array(elementType: UInt32, count: UInt64, then: Int) -> GGUFBytes {
        var file = GGUFBytes(tensors: 0, pairs: 1)
        file.string("a")
        file.u32(9)
        file.u32(elementType)
        file.u64(count)
        file.bytes += [UInt8](repeating: 0, count: then)
        return file
    }

    /// A tensor info: name, GGUF dimensions (`ne[0]` first), ggml type, offset.
    mutating func tensor(_ name: [UInt8], dims: [UInt64], type: UInt32, offset: UInt64 = 0) {
        string(name)
        u32(UInt32(dims.count))
        for dim in dims { u64(dim) }
        u32(type)
        u64(offset)
    }

    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64 = 0) {
        tensor(Array(name.utf8), dims: dims, type: type, offset: offset)
    }

    /// Zeros up to the next multiple of `alignment`, then `data`.
    mutating func data(_ data: [UInt8], alignment: Int = 32) {
        bytes += [UInt8](repeating: 0, count: (alignment - bytes.count % alignment) % alignment)
        bytes += data
    }

    func write(to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
