/// Byte-plane layout for element values: plane p holds byte p (little-endian order) of every
/// element, planes one after another. For small float updates stored as XOR, the high planes
/// (sign, exponent) are almost all zero and compress to nearly nothing.
enum BytePlanes {
    /// Planes of the XOR of `old` and `new` at `indices` (elements of `elementSize` bytes).
    static func xor(_ old: UnsafeRawBufferPointer, _ new: UnsafeRawBufferPointer, at indices: [Int], elementSize: Int) -> [UInt8] {
        let n = indices.count
        var planes = [UInt8](repeating: 0, count: n * elementSize)
        planes.withUnsafeMutableBytes { out in
            for (k, index) in indices.enumerated() {
                let base = index * elementSize
                for p in 0..<elementSize {
                    out[p * n + k] = old[base + p] ^ new[base + p]
                }
            }
        }
        return planes
    }

    /// XORs `planes` into `buffer` at `indices` (the inverse and the forward step alike).
    static func applyXor(_ planes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer, at indices: [Int], elementSize: Int) {
        let n = indices.count
        for (k, index) in indices.enumerated() {
            let base = index * elementSize
            for p in 0..<elementSize {
                buffer[base + p] ^= planes[p * n + k]
            }
        }
    }

    /// Planes of a whole tensor's bytes.
    static func split(_ bytes: UnsafeRawBufferPointer, elementSize: Int) -> [UInt8] {
        let n = bytes.count / elementSize
        if elementSize == 1 { return Array(bytes) }
        var planes = [UInt8](repeating: 0, count: bytes.count)
        planes.withUnsafeMutableBytes { out in
            for k in 0..<n {
                for p in 0..<elementSize { out[p * n + k] = bytes[k * elementSize + p] }
            }
        }
        return planes
    }

    /// The bytes whose planes are `planes`, written into `buffer`.
    static func join(_ planes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer, elementSize: Int) {
        let n = planes.count / elementSize
        for k in 0..<n {
            for p in 0..<elementSize { buffer[k * elementSize + p] = planes[p * n + k] }
        }
    }
}
