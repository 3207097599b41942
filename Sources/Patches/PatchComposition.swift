import Checkpoints
import Dispatch
import Foundation
import Tensors

/// How far `apply` (and `revert`) may go when a tensor is not the one a patch was made against.
public enum CompositionPolicy: Sendable {
    /// A step is taken when the tensor is exactly what the patch expects (a chain), or when
    /// the patch was made against an earlier state of the same list of patches and none of
    /// the patches since changed its elements (siblings: patches made against one base).
    case strict
    /// `--force`: also an `xor` step onto a tensor that differs elsewhere, when the elements
    /// it changes still hold the bits it was made against (checked by the entry's position
    /// fingerprints). Never an XOR onto elements that differ, and never a version 1 patch
    /// that cannot be checked that way.
    case force
    /// The caller has already shown that the steps are exact by other evidence (`revert`
    /// with `--base` or `--later`); fingerprint mismatches are accepted.
    case established
}

/// What `apply` checks before writing anything, tensor by tensor: that every step of every
/// patch lands on the bits it was made against, so that XOR gives exactly the result the
/// patch describes. `Formats/spatch.md` § "Applying several patches" states the rules.
///
/// Per tensor the steps are walked in order, keeping the fingerprints of the states they
/// pass through. A step whose expected fingerprint is the current one chains (the common
/// case: no positions are decoded). Otherwise an `xor` step is exact when
/// - its expected fingerprint is an earlier state in this walk (the model's tensor, or what
///   an earlier patch left) and no step since then changed any of its elements: a sibling;
/// - or (with `--force`) its position fingerprints match the current bits at its positions.
/// The bits at a step's positions are computed sparsely: the model's elements there, with
/// the earlier steps' XORs at the positions they share, so nothing tensor-sized is built
/// unless a whole-tensor fingerprint must be known.
enum PatchComposition {
    /// A tensor's steps, checked, and the fingerprint its result must have.
    struct TensorPlan: Sendable {
        let name: String
        let steps: [PatchApplier.Step]
        /// The result's whole-tensor fingerprint when it is known (every step chained); nil
        /// where patches were composed, whose position fingerprints were checked instead.
        let expectedResult: String?
        /// What the steps that did not chain stand on, for the command's notes.
        let notes: [String]
    }

    /// Two patches that change some of the same elements of a tensor although the later one
    /// was made without the earlier one: applying both by XOR would be wrong there.
    struct Overlap: Sendable {
        let tensor: String
        let earlier: PatchFile
        let later: PatchFile
        let shared: Int
    }

    enum Outcome: Sendable {
        case planned(TensorPlan)
        case overlapping([Overlap])
    }

    /// Checks every tensor's steps (in parallel) and returns the plans; throws, before
    /// anything is written, the first problem, or every overlap between sibling patches
    /// with the merge command that combines them.
    static func plan(
        model: Checkpoint, steps: NameMap<[PatchApplier.Step]>, policy: CompositionPolicy,
        fingerprints: NameMap<String>
    ) throws -> NameMap<TensorPlan> {
        let names = steps.names.sorted { $0.precedesByBytes($1) }
        let results = ResultSlots<Outcome>(count: names.count)
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            results.set(
                i,
                Result {
                    try planTensor(
                        names[i], steps: steps[names[i]] ?? [], model: model, policy: policy,
                        fingerprint: fingerprints[names[i]])
                })
        }
        var plans = NameMap<TensorPlan>()
        var overlaps: [Overlap] = []
        for outcome in try results.values() {
            switch outcome {
            case .planned(let plan): plans[plan.name] = plan
            case .overlapping(let found): overlaps += found
            }
        }
        if !overlaps.isEmpty { throw overlapError(overlaps, model: model) }
        return plans
    }

    /// The fingerprints of the model's tensors that `names` name (computed in parallel, each
    /// tensor's pages released after hashing).
    static func fingerprints(of names: [String], in model: Checkpoint) -> NameMap<String> {
        let present = names.compactMap(model.entry(named:))
        let slots = ResultSlots<String>(count: present.count)
        DispatchQueue.concurrentPerform(iterations: present.count) { i in
            let fingerprint = model.view(present[i]).sha256
            model.releasePages(of: present[i])  // read again, from the page cache, when rebuilt
            slots.set(i, .success(fingerprint))
        }
        var out = NameMap<String>()
        for (entry, value) in zip(present, (try? slots.values()) ?? []) { out[entry.name] = value }
        return out
    }

    // MARK: one tensor

    /// A decoded `xor` step: its positions and XOR planes.
    private struct Decoded {
        let positions: [Int]
        let planes: [UInt8]
    }

    private static func planTensor(
        _ name: String, steps: [PatchApplier.Step], model: Checkpoint, policy: CompositionPolicy,
        fingerprint: String?
    ) throws -> Outcome {
        let original = model.entry(named: name)
        let start = original.map(model.view)
        var state: TensorState? = original.map {
            TensorState(dtype: $0.dtype, shape: $0.shape, sha256: fingerprint ?? model.view($0).sha256)
        }
        var known: String? = state?.sha256  // the current state's fingerprint, when known
        var history: [(fingerprint: String, steps: Int)] = known.map { [($0, 0)] } ?? []
        var decoded: [Int: Decoded] = [:]
        var notes: [String] = []
        var overlaps: [Overlap] = []

        func decode(_ k: Int) throws -> Decoded {
            if let cached = decoded[k] { return cached }
            let step = steps[k]
            let value = Decoded(
                positions: try step.patch.positions(step.entry), planes: try step.patch.xorPlanes(step.entry))
            decoded[k] = value
            return value
        }
        func problem(_ step: PatchApplier.Step, _ text: String, kind: FileError.Kind) -> PatchError {
            PatchError(step.patch.path, "tensor \"\(name)\" \(text)", kind: kind)
        }
        /// The first step meets the model as it is (another base); a later one meets what the
        /// steps before it leave (the patches do not chain).
        func mismatchKind(_ k: Int) -> FileError.Kind { k == 0 ? .wrongBase : .notChained }

        /// Checks step k against the state the steps before it leave, and moves on to its result.
        func take(_ k: Int, _ step: PatchApplier.Step) throws {
            guard let expected = step.expected else {
                // The step creates the tensor (add, or the revert of a remove).
                guard state == nil else {
                    throw k == 0
                        ? PatchError(
                            step.patch.path,
                            "tensor \"\(name)\" would be added but the model \(model.path) already has it",
                            kind: .wrongBase)
                        : problem(
                            step, "would be added, but \(steps[k - 1].patch.path) leaves it in place", kind: .notChained
                        )
                }
                state = step.result
                known = step.result?.sha256
                if let known { history.append((known, k + 1)) }
                return
            }
            guard let current = state else {
                let shard =
                    ShardNames.parse(URL(fileURLWithPath: model.path).lastPathComponent) != nil
                    ? """
                     (\(model.path) is one shard of a sharded model: name its folder or index, which hold every \
                    shard)
                    """
                    : ""
                throw k == 0
                    ? PatchError(
                        step.patch.path,
                        "tensor \"\(name)\" (\(expected.typeDescription)) is not in the model \(model.path)\(shard)",
                        kind: .wrongBase)
                    : problem(
                        step, "is removed by \(steps[k - 1].patch.path), so this patch has nothing to change",
                        kind: .notChained)
            }
            guard current.dtype == expected.dtype, current.shape == expected.shape else {
                throw problem(
                    step,
                    """
                    of \(model.path): the patch expects \(expected.typeDescription), \
                    \(k == 0 ? "the model has" : "the earlier patches leave") \(current.typeDescription)
                    """,
                    kind: mismatchKind(k))
            }
            if known == nil {
                // Composed so far: the whole fingerprint is needed to see whether this step chains.
                let view = try PatchApplier.applySteps(name, start: start, steps: Array(steps[..<k]))
                known = view?.sha256
                if let known { history.append((known, k)) }
            }
            if known == expected.sha256 {
                state = step.result
                known = step.result?.sha256
                if let known { history.append((known, k + 1)) }
                return
            }
            // Not a chain: only an XOR whose elements are shown to hold the right bits.
            guard step.entry.operation == .xor else {
                throw problem(
                    step,
                    mismatchText(step, k: k, model: model, steps: steps)
                        + """
                        , and the patch \(step.backwards ? "restores" : "sets") the whole tensor, which cannot be \
                        combined with another change
                        """,
                    kind: mismatchKind(k))
            }
            if policy == .established, !history.contains(where: { $0.fingerprint == expected.sha256 }) {
                // The caller's evidence (revert --base or --later) stands in for the elements' bits,
                // which a later patch may legitimately have changed.
                known = nil
                state = step.result
                return
            }
            let mine = try decode(k)
            let bits = try bitsAt(
                mine.positions, start: start, steps: steps, before: k, decode: decode,
                elementSize: expected.dtype.size, name: name)
            let checks = step.entry.atPositions.map { step.backwards ? ($0.after, $0.before) : ($0.before, $0.after) }
            let bitsMatch = checks.map { Fingerprint.sha256(bits) == $0.0 }

            if let base = history.last(where: { $0.fingerprint == expected.sha256 }) {
                // A sibling: made against an earlier state of this walk.
                var shared: [Overlap] = []
                for j in base.steps..<k where steps[j].entry.operation == .xor {
                    let count = PatchMerger.intersectionCount(try decode(j).positions, mine.positions)
                    if count > 0 {
                        shared.append(Overlap(tensor: name, earlier: steps[j].patch, later: step.patch, shared: count))
                    }
                }
                if !shared.isEmpty {
                    overlaps += shared
                    known = nil
                    state = step.result
                    return
                }
                if bitsMatch == false {
                    throw problem(
                        step,
                        """
                        of \(model.path): the elements this patch changes do not hold the bits its own \
                        fingerprints describe: the patch is corrupt
                        """,
                        kind: .corrupt)
                }
                if checks == nil {
                    // Version 1: no position fingerprints; check the step alone on the state it was made against.
                    let alone = try PatchApplier.applySteps(
                        name, start: start, steps: Array(steps[..<base.steps]) + [step])
                    guard alone?.sha256 == step.result?.sha256 else {
                        throw problem(
                            step,
                            """
                            does not give the tensor its fingerprint describes on the state it was made against: \
                            the patch is corrupt
                            """,
                            kind: .corrupt)
                    }
                }
                let since = Set(steps[base.steps..<k].map(\.patch.path))
                if !since.isEmpty {
                    notes.append(
                        """
                        \"\(name)\": \(step.patch.path) and \(since.sorted().joined(separator: ", ")) change \
                        disjoint elements of it, made against the same tensor: applied together exactly
                        """
                    )
                }
            } else {
                let mismatch = mismatchText(step, k: k, model: model, steps: steps)
                switch (policy, bitsMatch) {
                case (.force, true?):
                    notes.append(
                        """
                        \"\(name)\": \(mismatch); the \(mine.positions.count) elements \(step.patch.path) changes \
                        hold the bits it was made against, so it was applied exactly on top of that change
                        """
                    )
                case (_, true?):
                    throw problem(
                        step,
                        """
                        \(mismatch). The \(mine.positions.count) elements the patch changes still hold the bits \
                        it was made against, so --force applies it exactly on top of that change; check that this \
                        is what you want
                        """,
                        kind: mismatchKind(k))
                case (_, false?):
                    throw problem(
                        step,
                        """
                        \(mismatch), and the elements the patch changes do not hold the bits it was made against: \
                        XOR would write wrong values there, so it is refused, --force or not
                        """,
                        kind: mismatchKind(k))
                case (_, nil):
                    throw problem(
                        step,
                        """
                        \(mismatch). The patch is format version 1, which carries no fingerprints of the elements \
                        it changes, so applying it to a tensor that differs cannot be checked, --force or not; \
                        re-create it with this Scalpel (scalpel create) against its base
                        """,
                        kind: mismatchKind(k))
                }
            }
            if let checks {
                var after = bits
                mine.planes.withUnsafeBytes {
                    PositionFingerprints.xor($0, into: &after, elementSize: expected.dtype.size)
                }
                guard Fingerprint.sha256(after) == checks.1 else {
                    throw problem(
                        step,
                        """
                        does not give the elements it changes the bits its fingerprints describe: the patch is \
                        corrupt
                        """,
                        kind: .corrupt)
                }
            }
            known = nil
            state = step.result
        }

        for (k, step) in steps.enumerated() {
            do {
                try take(k, step)
            } catch {
                // Once patches overlap, later steps stand on a state that is wrong anyway: the
                // overlap is what the user must hear about.
                if !overlaps.isEmpty { return .overlapping(overlaps) }
                throw error
            }
        }
        if !overlaps.isEmpty { return .overlapping(overlaps) }
        return .planned(TensorPlan(name: name, steps: steps, expectedResult: known, notes: notes))
    }

    /// "differs from the base the patch was made for (…)": how the tensor the step meets
    /// differs from the one it expects.
    private static func mismatchText(_ step: PatchApplier.Step, k: Int, model: Checkpoint, steps: [PatchApplier.Step])
        -> String
    {
        if k > 0 {
            let earlier = Set(steps[..<k].map(\.patch.path)).sorted().joined(separator: ", ")
            return
                """
                is not the tensor this patch was made against after \(earlier) (the patches are not a chain, and \
                it was not made against the same tensor as them either)
                """
        }
        if step.backwards { return "of \(model.path) is not the tensor this patch produced" }
        let record = AppliedPatches.read(model.metadata)
        let carried =
            record.isEmpty
            ? ""
            : """
             (the model's record lists \(record.count) applied patch\(record.count == 1 ? "" : "es"): \
            \(record.map { String($0.prefix(12)) }.joined(separator: ", ")))
            """
        return "of \(model.path) differs from the base the patch was made for\(carried)"
    }

    /// The bits at `positions` of the state before step `k`: the model's elements there with
    /// the earlier steps' XORs at the positions they share. Earlier whole-tensor steps make the
    /// state tensor-sized; it is built then.
    private static func bitsAt(
        _ positions: [Int], start: TensorView?, steps: [PatchApplier.Step], before k: Int,
        decode: (Int) throws -> Decoded, elementSize: Int, name: String
    ) throws -> [UInt8] {
        if steps[..<k].contains(where: { $0.entry.operation != .xor }) {
            guard let state = try PatchApplier.applySteps(name, start: start, steps: Array(steps[..<k])) else {
                return []
            }
            return PositionFingerprints.gather(state.bytes, at: positions, elementSize: elementSize)
        }
        guard let start else { return [] }
        var bits = PositionFingerprints.gather(start.bytes, at: positions, elementSize: elementSize)
        for j in 0..<k {
            let earlier = try decode(j)
            let n = earlier.positions.count
            var a = 0
            var b = 0
            while a < earlier.positions.count, b < positions.count {
                if earlier.positions[a] < positions[b] {
                    a += 1
                } else if positions[b] < earlier.positions[a] {
                    b += 1
                } else {
                    for p in 0..<elementSize { bits[b * elementSize + p] ^= earlier.planes[p * n + a] }
                    a += 1
                    b += 1
                }
            }
        }
        return bits
    }
}
