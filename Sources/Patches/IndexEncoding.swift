import Tensors

/// How the positions of a sparse entry's elements are stored.
///
/// Positions are flat (row-major) element indices, strictly increasing.
/// - `deltaVarint`: the first index, then each difference to the previous one, as LEB128.
/// - `bitmap`: one bit per element of the tensor, least significant bit first within a byte;
///   bit i set when element i is in the entry.
/// The writer picks whichever is smaller before compression, per entry.
public enum IndexEncoding: String, Sendable {
    case deltaVarint = "delta-varint"
    case bitmap

    /// Encodes `indices` (strictly increasing, each below `elementCount`) the smaller way.
    static func encode(_ indices: [Int], elementCount: Int) -> (IndexEncoding, [UInt8]) {
        var varintSize = 0
        var previous = -1
        for index in indices {
            varintSize += Varint.size(UInt64(previous < 0 ? index : index - previous))
            previous = index
        }
        let bitmapSize = Self.bitmapSize(elementCount: elementCount)
        if bitmapSize < varintSize {
            var bitmap = [UInt8](repeating: 0, count: bitmapSize)
            for index in indices { bitmap[index >> 3] |= 1 << UInt8(index & 7) }
            return (.bitmap, bitmap)
        }
        // Written through a pointer into a buffer of the size counted above (appending to an
        // array byte by byte, with its uniqueness check each time, was 6 % of `create`'s CPU time).
        let bytes = [UInt8](unsafeUninitializedCapacity: varintSize) { buffer, initialized in
            var position = 0
            previous = -1
            for index in indices {
                position = Varint.write(
                    UInt64(previous < 0 ? index : index - previous), to: buffer.baseAddress!, at: position)
                previous = index
            }
            initialized = position
        }
        return (.deltaVarint, bytes)
    }

    /// ceil(elementCount / 8), the bytes of a bitmap, without the `+ 7` that overflows for a
    /// count near `Int.max` (a one-byte dtype's count read from a file can be that large).
    static func bitmapSize(elementCount: Int) -> Int {
        elementCount / 8 + (elementCount % 8 == 0 ? 0 : 1)
    }

    /// Decodes and validates: exactly `count` indices, strictly increasing, all below
    /// `elementCount`. Any violation is reported as `problem` text, never trusted.
    func decode(_ bytes: UnsafeRawBufferPointer, count: Int, elementCount: Int) throws(IndexDecodingError) -> [Int] {
        var indices: [Int] = []
        indices.reserveCapacity(count)
        switch self {
        case .deltaVarint:
            var position = 0
            var previous = -1
            while position < bytes.count {
                guard let delta = Varint.read(bytes, &position), delta <= UInt64(Int.max) else {
                    throw IndexDecodingError("index stream holds a malformed varint")
                }
                if previous >= 0, delta == 0 {
                    throw IndexDecodingError("indices are not strictly increasing (repeated index \(previous))")
                }
                let (next, overflow) = (previous < 0 ? 0 : previous).addingReportingOverflow(Int(delta))
                guard !overflow, next < elementCount else {
                    throw IndexDecodingError(
                        """
                        index \(overflow ? "beyond 64 bits" : String(next)) is out of range for a tensor of \
                        \(elementCount) elements
                        """
                    )
                }
                indices.append(next)
                previous = next
                if indices.count > count { break }
            }
        case .bitmap:
            guard bytes.count == Self.bitmapSize(elementCount: elementCount) else {
                throw IndexDecodingError(
                    """
                    bitmap is \(bytes.count) bytes, expected \(Self.bitmapSize(elementCount: elementCount)) for \
                    \(elementCount) elements
                    """
                )
            }
            for byteIndex in 0..<bytes.count where bytes[byteIndex] != 0 {
                var bits = bytes[byteIndex]
                while bits != 0 {
                    let bit = bits.trailingZeroBitCount
                    let index = byteIndex * 8 + bit
                    guard index < elementCount else {
                        throw IndexDecodingError("bitmap sets bit \(index), past the tensor's \(elementCount) elements")
                    }
                    indices.append(index)
                    bits &= bits - 1
                }
            }
        }
        guard indices.count == count else {
            throw IndexDecodingError(
                """
                index stream holds \(indices.count > count ? "more than \(count)" : String(indices.count)) \
                indices, the header says \(count)
                """
            )
        }
        return indices
    }
}

struct IndexDecodingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
