import Tensors

/// What the process reading an HDF5 file (`HDF5Walk`) sends back to `HDF5Reader`: framed
/// messages over `IsolatedProcess`'s pipe. Both ends are this same code, so the encoding
/// is private: strings as a u32 length and UTF-8 bytes, integers as u64, little-endian.
enum HDF5Message {
    /// A root string attribute: key, value.
    static let metadata: UInt8 = 1
    /// An object that is not a tensor (text).
    static let skipped: UInt8 = 2
    /// A tensor: name, dtype, shape, where its bytes are (see `Tensor`).
    static let tensor: UInt8 = 3
    /// The bytes of the tensor just announced, when they were read into memory.
    static let data: UInt8 = 4
    /// The order the tensors are listed in (Keras 2's model order): one u64 index each.
    static let order: UInt8 = 5

    /// A tensor as the walk found it.
    struct Tensor: Equatable {
        enum Placement: UInt8 {
            case inPlace = 0
            case empty = 1
            case decoded = 2
        }
        let name: String
        let dtype: DType
        let shape: [Int]
        let placement: Placement
        /// The byte offset in the file, in place; otherwise 0.
        let offset: Int
        let byteCount: Int
    }

    struct Writer {
        var bytes: [UInt8] = []
        mutating func int(_ value: Int) {
            withUnsafeBytes(of: UInt64(truncatingIfNeeded: value).littleEndian) { bytes += $0 }
        }
        mutating func string(_ text: String) {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: text.utf8.count).littleEndian) { bytes += $0 }
            bytes += text.utf8
        }
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var at = 0

        mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
            guard n >= 0, n <= bytes.count - at else {
                throw CheckpointError("HDF5 reader", "a message from the reading process is cut short")
            }
            defer { at += n }
            return UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)])
        }

        mutating func int() throws -> Int {
            Int(truncatingIfNeeded: UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)))
        }

        mutating func string() throws -> String {
            let length = Int(UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)))
            return String(decoding: try take(length), as: UTF8.self)
        }
    }

    static func encode(_ tensor: Tensor) -> [UInt8] {
        var out = Writer()
        out.string(tensor.name)
        out.string(tensor.dtype.rawValue)
        out.int(tensor.shape.count)
        for dimension in tensor.shape { out.int(dimension) }
        out.int(Int(tensor.placement.rawValue))
        out.int(tensor.offset)
        out.int(tensor.byteCount)
        return out.bytes
    }

    static func decodeTensor(_ bytes: UnsafeRawBufferPointer) throws -> Tensor {
        var reader = Reader(bytes: bytes)
        let name = try reader.string()
        let dtypeName = try reader.string()
        let rank = try reader.int()
        guard rank >= 0, rank <= 64 else { throw CheckpointError("HDF5 reader", "a tensor message has rank \(rank)") }
        let shape = try (0..<rank).map { _ in try reader.int() }
        guard let dtype = DType(rawValue: dtypeName),
            let placement = Tensor.Placement(rawValue: UInt8(truncatingIfNeeded: try reader.int()))
        else {
            throw CheckpointError("HDF5 reader", "a tensor message is damaged")
        }
        return Tensor(
            name: name, dtype: dtype, shape: shape, placement: placement, offset: try reader.int(),
            byteCount: try reader.int())
    }

    static func pair(_ first: String, _ second: String) -> [UInt8] {
        var out = Writer()
        out.string(first)
        out.string(second)
        return out.bytes
    }
}
