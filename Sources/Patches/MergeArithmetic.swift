import Tensors

/// The arithmetic merges: task arithmetic (`sum`) and `mean`, on the values the patches'
/// XORs encode. Each delta is new − base for one patch; sums run in double precision and the
/// result is rounded once into the base dtype (16-bit types through single precision).
enum MergeArithmetic {
    /// Positions and XOR planes (against `base`) of the merged tensor; elements whose merged
    /// value has the base's bits are left out.
    static func combine(base: TensorView, decoded: [([Int], [UInt8])], weights: [Double], lambda: Double,
                        method: MergeMethod) -> ([Int], [UInt8]) {
        let size = base.dtype.size
        var sums: [Int: (delta: Double, weight: Double)] = [:]
        var scratch = [UInt8](repeating: 0, count: size)
        for (i, (positions, planes)) in decoded.enumerated() {
            let n = positions.count
            for (k, position) in positions.enumerated() {
                let old = value(base.bytes, position, base.dtype)
                let new: Double = scratch.withUnsafeMutableBytes { element in
                    for p in 0..<size { element[p] = base.bytes[position * size + p] ^ planes[p * n + k] }
                    return value(UnsafeRawBufferPointer(element), 0, base.dtype)
                }
                let current = sums[position] ?? (0, 0)
                sums[position] = (current.delta + weights[i] * (new - old), current.weight + weights[i])
            }
        }
        var positions: [Int] = []
        var xors: [[UInt8]] = []
        for position in sums.keys.sorted() {
            guard let (delta, weight) = sums[position] else { continue }
            let old = value(base.bytes, position, base.dtype)
            let merged: Double
            switch method {
            case .mean: merged = weight == 0 ? old : old + delta / weight
            default: merged = old + lambda * delta
            }
            let bits = encode(merged, base.dtype)
            var xor = [UInt8](repeating: 0, count: size)
            var changed = false
            for p in 0..<size {
                xor[p] = bits[p] ^ base.bytes[position * size + p]
                if xor[p] != 0 { changed = true }
            }
            if changed {
                positions.append(position)
                xors.append(xor)
            }
        }
        let n = positions.count
        var planes = [UInt8](repeating: 0, count: n * size)
        for (k, xor) in xors.enumerated() {
            for p in 0..<size { planes[p * n + k] = xor[p] }
        }
        return (positions, planes)
    }

    static func value(_ bytes: UnsafeRawBufferPointer, _ index: Int, _ dtype: DType) -> Double {
        dtype == .f64 ? bytes.loadUnaligned(fromByteOffset: index * 8, as: Double.self)
            : Double(ElementConversion.load(bytes, index, dtype))
    }

    /// `value` in `dtype`'s little-endian bytes, rounded to nearest even.
    static func encode(_ value: Double, _ dtype: DType) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: dtype.size)
        out.withUnsafeMutableBytes { buffer in
            if dtype == .f64 {
                buffer.storeBytes(of: value, toByteOffset: 0, as: Double.self)
            } else {
                ElementConversion.store(Float(value), buffer, 0, dtype)
            }
        }
        return out
    }
}
