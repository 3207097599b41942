/// Byte-plane layout for element values: plane p holds byte p (little-endian order) of every
/// element, planes one after another. For small float updates stored as XOR, the high planes
/// (sign, exponent) are almost all zero and compress to nearly nothing.
///
/// Loops are written per element width (`Word`) so the compiler sees fixed-size loads and
/// unrolls the plane loop; they run on every changed element of `create` and `apply`.
enum BytePlanes {
    /// Planes of the XOR of `old` and `new` at `indices` (elements of `elementSize` bytes).
    static func xor(_ old: UnsafeRawBufferPointer, _ new: UnsafeRawBufferPointer, at indices: [Int], elementSize: Int)
        -> [UInt8]
    {
        var planes = [UInt8](repeating: 0, count: indices.count * elementSize)
        planes.withUnsafeMutableBytes { out in
            switch elementSize {
            case 8: xor(old, new, indices, out, UInt64.self)
            case 4: xor(old, new, indices, out, UInt32.self)
            case 2: xor(old, new, indices, out, UInt16.self)
            default: xor(old, new, indices, out, UInt8.self)
            }
        }
        return planes
    }

    private static func xor<Word: FixedWidthInteger & UnsignedInteger>(
        _ old: UnsafeRawBufferPointer, _ new: UnsafeRawBufferPointer, _ indices: [Int],
        _ out: UnsafeMutableRawBufferPointer, _: Word.Type
    ) {
        let size = MemoryLayout<Word>.size
        let n = indices.count
        for (k, index) in indices.enumerated() {
            let d =
                old.loadUnaligned(fromByteOffset: index * size, as: Word.self)
                ^ new.loadUnaligned(fromByteOffset: index * size, as: Word.self)
            let bytes = Word(littleEndian: d)
            for p in 0..<size { out[p * n + k] = UInt8(truncatingIfNeeded: bytes >> (8 * p)) }
        }
    }

    /// XORs `planes` into `buffer` at `indices` (the inverse and the forward step alike).
    static func applyXor(
        _ planes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer, at indices: [Int],
        elementSize: Int
    ) {
        switch elementSize {
        case 8: applyXor(planes, buffer, indices, UInt64.self)
        case 4: applyXor(planes, buffer, indices, UInt32.self)
        case 2: applyXor(planes, buffer, indices, UInt16.self)
        default: applyXor(planes, buffer, indices, UInt8.self)
        }
    }

    private static func applyXor<Word: FixedWidthInteger & UnsignedInteger>(
        _ planes: UnsafeRawBufferPointer, _ buffer: UnsafeMutableRawBufferPointer, _ indices: [Int], _: Word.Type
    ) {
        let size = MemoryLayout<Word>.size
        let n = indices.count
        for (k, index) in indices.enumerated() {
            var d: Word = 0
            for p in 0..<size { d |= Word(planes[p * n + k]) << (8 * p) }
            let offset = index * size
            let value = buffer.loadUnaligned(fromByteOffset: offset, as: Word.self) ^ Word(littleEndian: d)
            buffer.storeBytes(of: value, toByteOffset: offset, as: Word.self)
        }
    }

    /// Planes of contiguous elements' bytes (a whole tensor, or the XORs `create` gathered).
    static func split(_ bytes: UnsafeRawBufferPointer, elementSize: Int) -> [UInt8] {
        if elementSize == 1 { return Array(bytes) }
        var planes = [UInt8](repeating: 0, count: bytes.count)
        planes.withUnsafeMutableBytes { out in
            switch elementSize {
            case 8: split(bytes, out, UInt64.self)
            case 4: split(bytes, out, UInt32.self)
            case 2: split(bytes, out, UInt16.self)
            default: split(bytes, out, elementSize: elementSize)
            }
        }
        return planes
    }

    private static func split<Word: FixedWidthInteger & UnsignedInteger>(
        _ bytes: UnsafeRawBufferPointer, _ out: UnsafeMutableRawBufferPointer, _: Word.Type
    ) {
        let size = MemoryLayout<Word>.size
        let n = bytes.count / size
        guard n > 0, let source = bytes.baseAddress, let target = out.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return }
        for k in 0..<n {
            let word = Word(littleEndian: source.loadUnaligned(fromByteOffset: k * size, as: Word.self))
            for p in 0..<size { target[p * n + k] = UInt8(truncatingIfNeeded: word >> (8 * p)) }
        }
    }

    private static func split(_ bytes: UnsafeRawBufferPointer, _ out: UnsafeMutableRawBufferPointer, elementSize: Int) {
        let n = bytes.count / elementSize
        for k in 0..<n {
            for p in 0..<elementSize { out[p * n + k] = bytes[k * elementSize + p] }
        }
    }

    /// The bytes whose planes are `planes`, written into `buffer`.
    static func join(_ planes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer, elementSize: Int) {
        let n = planes.count / elementSize
        for k in 0..<n {
            for p in 0..<elementSize { buffer[k * elementSize + p] = planes[p * n + k] }
        }
    }
}
