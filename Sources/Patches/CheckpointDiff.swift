import Checkpoints
import Dispatch
import Tensors

/// How one tensor differs between two checkpoints of the same dtype and shape.
public struct TensorDifference: Sendable {
    /// The tensor's name.
    public let name: String
    /// Its dtype (the same in both).
    public let dtype: DType
    /// Its shape (the same in both).
    public let shape: [Int]
    /// Elements compared.
    public let elementCount: Int
    /// Elements whose bits differ.
    public let changed: Int
    /// Statistics of b − a over the finite values (nil for opaque dtypes).
    public let l2: Double?
    /// The largest |b − a| over the finite values.
    public let maxAbs: Double?
    /// ‖b − a‖ / ‖a‖ (0 when nothing changed; infinity when a is all zero and b is not).
    public let relative: Double?
    /// cos(a, b) (1 for identical tensors; nil when either is all zero).
    public let cosine: Double?

    /// changed / elements, in [0, 1].
    public var fraction: Double { elementCount == 0 ? 0 : Double(changed) / Double(elementCount) }
}

/// Everything that differs between checkpoints A and B.
public struct CheckpointDifference: Sendable {
    /// Tensors present in both with the same dtype and shape, changed or not.
    public let tensors: [TensorDifference]
    /// Tensors only A has.
    public let onlyInA: [TensorEntry]
    /// Tensors only B has.
    public let onlyInB: [TensorEntry]
    /// Same name, different dtype or shape: (name, A's entry, B's entry).
    public let typeChanges: [(String, TensorEntry, TensorEntry)]

    /// The compared tensors with at least one changed element.
    public var changedTensors: [TensorDifference] { tensors.filter { $0.changed > 0 } }
    /// Changed elements over every compared tensor.
    public var changedElements: Int { tensors.map(\.changed).saturatingSum() }
    /// Elements compared over every tensor both have with the same dtype and shape.
    public var comparedElements: Int { tensors.map(\.elementCount).saturatingSum() }
    /// True when every tensor is bit-identical and both have the same names, dtypes and shapes.
    public var isIdentical: Bool { changedElements == 0 && onlyInA.isEmpty && onlyInB.isEmpty && typeChanges.isEmpty }
}

/// Compares two checkpoints tensor by tensor, by bits (`scalpel diff`).
public enum CheckpointDiff {
    /// Every difference between `a` and `b`: tensors matched by name bytes, elements compared by
    /// bits, with value statistics for floating-point tensors. Reads both wholly, in parallel.
    public static func compare(_ a: Checkpoint, _ b: Checkpoint) -> CheckpointDifference {
        var pairs: [(TensorEntry, TensorEntry)] = []
        var typeChanges: [(String, TensorEntry, TensorEntry)] = []
        for entry in a.tensors {
            guard let other = b.entry(named: entry.name) else { continue }
            if entry.dtype == other.dtype, entry.shape == other.shape {
                pairs.append((entry, other))
            } else {
                typeChanges.append((entry.name, entry, other))
            }
        }
        let slots = ResultSlots<TensorDifference>(count: pairs.count)
        let jobs = pairs
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            let (x, y) = jobs[i]
            slots.set(i, .success(difference(x.name, a.view(x), b.view(y))))
            WorkProgress.add(x.byteCount)
        }
        let tensors = (try? slots.values()) ?? []
        return CheckpointDifference(
            tensors: tensors,
            onlyInA: a.tensors.filter { b.entry(named: $0.name) == nil },
            onlyInB: b.tensors.filter { a.entry(named: $0.name) == nil },
            typeChanges: typeChanges)
    }

    static func difference(_ name: String, _ a: TensorView, _ b: TensorView) -> TensorDifference {
        let changed = ChangedElements.find(a.bytes, b.bytes, elementSize: a.dtype.size)
        let count = a.elementCount
        if a.dtype.isOpaque {
            return TensorDifference(
                name: name, dtype: a.dtype, shape: a.shape, elementCount: count, changed: changed.count,
                l2: nil, maxAbs: nil, relative: nil, cosine: nil)
        }
        if changed.isEmpty {
            return TensorDifference(
                name: name, dtype: a.dtype, shape: a.shape, elementCount: count, changed: 0,
                l2: 0, maxAbs: 0, relative: 0, cosine: 1)
        }
        // Norms over the whole tensor, the difference over the changed elements only.
        var normA = 0.0
        var normB = 0.0
        var dot = 0.0
        for i in 0..<count {
            let x = Double(ElementConversion.load(a.bytes, i, a.dtype))
            let y = Double(ElementConversion.load(b.bytes, i, b.dtype))
            guard x.isFinite, y.isFinite else { continue }
            normA += x * x
            normB += y * y
            dot += x * y
        }
        var squared = 0.0
        var maxAbs = 0.0
        for i in changed {
            let d =
                Double(ElementConversion.load(b.bytes, i, b.dtype))
                - Double(ElementConversion.load(a.bytes, i, a.dtype))
            guard d.isFinite else { continue }
            squared += d * d
            maxAbs = max(maxAbs, abs(d))
        }
        let l2 = squared.squareRoot()
        let relative = normA > 0 ? l2 / normA.squareRoot() : (l2 > 0 ? .infinity : 0)
        let cosine = normA > 0 && normB > 0 ? dot / (normA.squareRoot() * normB.squareRoot()) : nil
        return TensorDifference(
            name: name, dtype: a.dtype, shape: a.shape, elementCount: count, changed: changed.count,
            l2: l2, maxAbs: maxAbs, relative: relative, cosine: cosine)
    }
}
