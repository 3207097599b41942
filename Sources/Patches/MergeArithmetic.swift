import Tensors

/// The arithmetic merges on one tensor: each patch's delta from the base, sparsified as the
/// method says (TIES trim, DARE drop), combined in double precision and rounded once into the
/// base dtype (16-bit types through single precision) in a copy of the base tensor.
enum MergeArithmetic {
    /// One patch's delta on one tensor: where it changes the base, and by how much.
    struct Delta {
        var positions: [Int]
        var values: [Double]
        let weight: Double
    }

    /// The delta a patch's XOR planes encode against `base`. Non-finite values have no delta
    /// and are refused (such tensors merge exactly with `priority`).
    static func delta(
        base: TensorView, positions: [Int], planes: [UInt8], weight: Double,
        tensor name: String, patchPath: String
    ) throws -> Delta {
        let size = base.dtype.size
        let dtype = base.dtype
        var tuned = [UInt8](repeating: 0, count: positions.count * size)
        tuned.withUnsafeMutableBytes { out in
            planes.withUnsafeBytes { BytePlanes.join($0, into: out, elementSize: size) }
            for (k, position) in positions.enumerated() {
                for p in 0..<size { out[k * size + p] ^= base.bytes[position * size + p] }
            }
        }
        var values = [Double](repeating: 0, count: positions.count)
        try tuned.withUnsafeBytes { tunedBytes in
            for (k, position) in positions.enumerated() {
                let old = value(base.bytes, position, dtype)
                let new = value(tunedBytes, k, dtype)
                guard old.isFinite, new.isFinite else {
                    throw PatchError(
                        patchPath,
                        """
                        tensor \"\(name)\" element \(position) goes from \(old) to \(new): a non-finite value has \
                        no delta, so it cannot be merged arithmetically (use --method priority)
                        """
                    )
                }
                values[k] = new - old
            }
        }
        return Delta(positions: positions, values: values, weight: weight)
    }

    /// TIES trim, as mergekit's `magnitude` sparsification: keep the k = max(1, ⌊density ·
    /// elementCount⌋) largest |δ| of the whole tensor (elements the patch does not touch have
    /// δ = 0 and are never worth keeping). Of the elements whose |δ| equals the cut, those of
    /// lowest `ties` rank fill the remaining places (equal ranks: the lower position), so that
    /// exactly k are kept and no part of the tensor is favoured: bf16 deltas are whole ulps, and
    /// a lower-positions rule piled the kept changes into a matrix's first rows.
    static func trim(_ delta: Delta, density: Double, elementCount: Int, ties: SeededStream) -> Delta {
        let keep = max(1, Int(density * Double(elementCount)))
        guard delta.values.count > keep else { return delta }
        var magnitudes = delta.values.map { abs($0) }
        let threshold = Selection.kthLargest(&magnitudes, keep)
        var kept = delta.values.map { abs($0) > threshold }
        let tied = delta.values.indices.filter { abs(delta.values[$0]) == threshold }
        // At least one tied element is kept: the threshold is the keep-th largest magnitude.
        let places = keep - kept.reduce(0) { $0 + ($1 ? 1 : 0) }
        if places >= tied.count {
            for k in tied { kept[k] = true }
        } else {
            let ranks = tied.map { ties.rank(delta.positions[$0]) }
            var scratch = ranks
            // The places-th smallest rank is the (count − places + 1)-th largest.
            let cutRank = Selection.kthLargest(&scratch, tied.count - places + 1)
            var atCutRank = places - ranks.reduce(0) { $0 + ($1 < cutRank ? 1 : 0) }
            for (t, k) in tied.enumerated() {
                if ranks[t] < cutRank {
                    kept[k] = true
                } else if ranks[t] == cutRank, atCutRank > 0 {
                    kept[k] = true
                    atCutRank -= 1
                }
            }
        }
        var out = Delta(positions: [], values: [], weight: delta.weight)
        out.positions.reserveCapacity(keep)
        out.values.reserveCapacity(keep)
        for k in delta.values.indices where kept[k] {
            out.positions.append(delta.positions[k])
            out.values.append(delta.values[k])
        }
        return out
    }

    /// DARE: drop each element with probability `probability` (decided by `stream`, so the
    /// same seed drops the same elements), and divide the kept ones by 1 − probability.
    static func drop(_ delta: Delta, probability: Double, stream: SeededStream) -> Delta {
        guard probability > 0 else { return delta }
        let keptFraction = 1 - probability
        var out = Delta(positions: [], values: [], weight: delta.weight)
        for (k, position) in delta.positions.enumerated() where stream.uniform(position) >= probability {
            out.positions.append(position)
            out.values.append(delta.values[k] / keptFraction)
        }
        return out
    }

    /// Writes base + the merged delta into `buffer` (a copy of `base`) wherever a delta is
    /// nonzero, and returns those positions (some may round back to the base's bits).
    static func combine(
        _ deltas: [Delta], method: MergeMethod, lambda: Double, base: TensorView,
        into buffer: UnsafeMutableRawBufferPointer
    ) -> [Int] {
        let union = PositionUnion(deltas.map(\.positions))
        let n = union.positions.count
        var total = [Double](repeating: 0, count: n)  // Σ wᵢ·δᵢ
        var divisor = [Double](repeating: 0, count: n)  // Σ wᵢ over the patches that count
        for (i, delta) in deltas.enumerated() {
            let slots = union.slots[i]
            for (k, value) in delta.values.enumerated() {
                total[slots[k]] += delta.weight * value
                divisor[slots[k]] += delta.weight
            }
        }
        if method.electsSign {
            // The elected sign is that of Σ wᵢ·δᵢ (positive on zero); only the weighted
            // deltas of that sign count, in the sum and in the divisor.
            var agreeing = [Double](repeating: 0, count: n)
            divisor = [Double](repeating: 0, count: n)
            for (i, delta) in deltas.enumerated() {
                let slots = union.slots[i]
                for (k, value) in delta.values.enumerated() {
                    let weighted = delta.weight * value
                    let slot = slots[k]
                    if (weighted > 0 && total[slot] >= 0) || (weighted < 0 && total[slot] < 0) {
                        agreeing[slot] += weighted
                        divisor[slot] += delta.weight
                    }
                }
            }
            total = agreeing
        }
        let dtype = base.dtype
        for (j, position) in union.positions.enumerated() {
            let mixed: Double
            switch method {
            case .mean: mixed = total[j] / (divisor[j] == 0 ? 1 : divisor[j])
            case .ties, .dareTies: mixed = total[j] / (divisor[j] == 0 ? 1 : divisor[j]) * lambda
            default: mixed = total[j] * lambda
            }
            store(value(base.bytes, position, dtype) + mixed, buffer, position, dtype)
        }
        return union.positions
    }

    static func value(_ bytes: UnsafeRawBufferPointer, _ index: Int, _ dtype: DType) -> Double {
        dtype == .f64
            ? bytes.loadUnaligned(fromByteOffset: index * 8, as: Double.self)
            : Double(ElementConversion.load(bytes, index, dtype))
    }

    /// `value` rounded to nearest even into `dtype` at `index`.
    static func store(_ value: Double, _ buffer: UnsafeMutableRawBufferPointer, _ index: Int, _ dtype: DType) {
        if dtype == .f64 {
            buffer.storeBytes(of: value, toByteOffset: index * 8, as: Double.self)
        } else {
            ElementConversion.store(Float(value), buffer, index, dtype)
        }
    }
}

/// Selection of an order statistic in linear expected time.
enum Selection {
    /// The k-th largest value (1-based) of `values`, which it reorders.
    static func kthLargest<Value: Comparable>(_ values: inout [Value], _ k: Int) -> Value {
        precondition(k >= 1 && k <= values.count)
        var low = 0
        var high = values.count - 1
        let target = k - 1  // index in descending order
        while low < high {
            // Median of three as the pivot, then a three-way partition (many equal values).
            let mid = low + (high - low) / 2
            let pivot = max(min(values[low], values[mid]), min(max(values[low], values[mid]), values[high]))
            var lt = low
            var i = low
            var gt = high
            while i <= gt {
                if values[i] > pivot {
                    values.swapAt(lt, i)
                    lt += 1
                    i += 1
                } else if values[i] < pivot {
                    values.swapAt(i, gt)
                    gt -= 1
                } else {
                    i += 1
                }
            }
            if target < lt { high = lt - 1 } else if target > gt { low = gt + 1 } else { return pivot }
        }
        return values[low]
    }
}
