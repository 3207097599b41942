/// Unsigned LEB128 varints: 7 bits per byte, least significant group first, high bit set on
/// every byte but the last. Used for delta-coded element indices (patches, undo journals).
public enum Varint {
    /// Appends `value` to `bytes` as a varint (1 to 10 bytes).
    public static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Writes `value` at `position` of `bytes` (which has room: `size(value)` bytes) and
    /// returns the position after it.
    @inline(__always)
    public static func write(_ value: UInt64, to bytes: UnsafeMutablePointer<UInt8>, at position: Int) -> Int {
        var v = value
        var p = position
        while v >= 0x80 {
            bytes[p] = UInt8(truncatingIfNeeded: v) | 0x80
            v >>= 7
            p += 1
        }
        bytes[p] = UInt8(v)
        return p + 1
    }

    /// Reads one varint at `position`, advancing it; nil if the bytes end mid-varint or the
    /// value needs more than 64 bits.
    public static func read(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if shift == 63, byte > 1 { return nil }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    /// The number of bytes `value` takes as a varint (1 to 10).
    public static func size(_ value: UInt64) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }
}
