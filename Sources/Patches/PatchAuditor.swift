import Checkpoints
import Dispatch
import Tensors

/// Statistics of the value changes an `xor` entry makes (new − old), over finite values.
public struct DeltaStatistics: Sendable {
    /// ‖new − old‖₂ over the changed elements.
    public let l2: Double
    /// The largest |new − old|.
    public let maxAbs: Double
    /// Share of the nonzero deltas that are positive (0.5: balanced).
    public let positiveShare: Double?
    /// L2 norm of the base tensor's finite values.
    public let baseL2: Double

    /// How large the change is against the tensor: ‖new − old‖ / ‖old‖ (nil for an all-zero
    /// base), the scale-free figure that compares layers of different sizes and inits.
    public var relativeL2: Double? { baseL2 > 0 ? l2 / baseL2 : nil }
}

/// What `audit` finds about one entry.
public struct EntryAudit: Sendable {
    /// Whether the base holds the tensor the entry expects; `mismatch` says what differs.
    public enum Fingerprint: Sendable, Equatable {
        case matches
        case mismatch(String)
    }

    /// The entry audited.
    public let entry: PatchEntry
    /// nil when the entry's checksum, frames and positions are all sound; else the problem.
    public let integrityProblem: String?
    /// With a base: whether the base holds what the entry expects.
    public let fingerprint: Fingerprint?
    /// With a base, for `xor` entries of floating tensors.
    public let delta: DeltaStatistics?
    /// For sound `xor` and `mask` entries of tensors of rank 2 and up: how the changed
    /// elements spread over rows and columns, with magnitudes when `delta` is known.
    public let spread: ChangeSpread?
}

/// Checks every entry of a patch completely, collecting problems instead of stopping at the
/// first, so one run says everything that is wrong.
public enum PatchAuditor {
    /// Audits every entry of `patch` (in parallel, in entry order): its checksum, frames and
    /// positions; with `base`, whether the base holds what the entry expects and the size of
    /// the value changes. Never throws: each problem is reported in its entry's audit.
    public static func audit(_ patch: PatchFile, base: Checkpoint?) -> [EntryAudit] {
        let entries = patch.entries
        let slots = ResultSlots<EntryAudit>(count: entries.count)
        DispatchQueue.concurrentPerform(iterations: entries.count) { i in
            slots.set(i, .success(audit(entries[i], in: patch, base: base)))
            WorkProgress.add(entries[i].elementCount)
        }
        return (try? slots.values()) ?? []
    }

    static func audit(_ entry: PatchEntry, in patch: PatchFile, base: Checkpoint?) -> EntryAudit {
        var problem: String?
        var positions: [Int] = []
        var planes: [UInt8] = []
        do {
            try patch.verify(entry)
            for (role, _) in entry.frames {
                switch role {
                case .index: positions = try patch.positions(entry)
                case .values: planes = try patch.xorPlanes(entry)
                case .beforeData, .afterData: _ = try patch.decompress(entry, role)
                }
            }
        } catch let error as PatchError {
            problem = error.problem
        } catch {
            problem = "\(error)"
        }
        // Counts need only the positions. Until the base's fingerprint vouches for the shape it
        // is the header's word, so the spread is only built when its counts take no more room
        // than the positions already decoded (plus slack for small patches of wide tensors):
        // a hostile header cannot make audit allocate a count for each of 2^40 rows.
        let positional = problem == nil && (entry.operation == .xor || entry.operation == .mask)
        func counts() -> ChangeSpread? { entry.before.flatMap { ChangeSpread.counting(positions, shape: $0.shape) } }
        var spread =
            positional && ChangeSpread.fits(entry.before?.shape ?? [], slots: positions.count + 65_536) ? counts() : nil
        guard let base else {
            return EntryAudit(entry: entry, integrityProblem: problem, fingerprint: nil, delta: nil, spread: spread)
        }

        let fingerprint: EntryAudit.Fingerprint
        var delta: DeltaStatistics?
        let tensor = base.entry(named: entry.name)
        switch (entry.before, tensor) {
        case (nil, nil): fingerprint = .matches
        case (nil, _?): fingerprint = .mismatch("the base already has this tensor")
        case (_?, nil): fingerprint = .mismatch("not in the base")
        case (let state?, let tensor?):
            let view = base.view(tensor)
            if tensor.dtype != state.dtype || tensor.shape != state.shape {
                fingerprint = .mismatch(
                    """
                    base has \(tensor.dtype.rawValue) \(Shape.describe(tensor.shape)), patch expects \
                    \(state.typeDescription)
                    """
                )
            } else if view.sha256 != state.sha256 {
                fingerprint = .mismatch("base tensor differs from the one the patch was made for")
            } else {
                fingerprint = .matches
                if positional, spread == nil { spread = counts() }  // a real tensor of the base: its shape is sound
                if problem == nil, entry.operation == .xor, state.dtype.isFloatingPoint {
                    spread = ChangeSpread(shape: state.shape, withMagnitudes: true)
                    delta = statistics(view, positions: positions, planes: planes, spread: &spread)
                }
            }
        }
        return EntryAudit(
            entry: entry, integrityProblem: problem, fingerprint: fingerprint, delta: delta, spread: spread)
    }

    /// The changes' statistics, from the old tensor and the entry's positions and XOR planes;
    /// adds each change's magnitude to `spread` when there is one.
    static func statistics(_ old: TensorView, positions: [Int], planes: [UInt8], spread: inout ChangeSpread?)
        -> DeltaStatistics
    {
        let size = old.dtype.size
        let n = positions.count
        var element = [UInt8](repeating: 0, count: size)
        var squared = 0.0
        var maxAbs = 0.0
        var positive = 0
        var negative = 0
        element.withUnsafeMutableBytes { scratch in
            for (k, index) in positions.enumerated() {
                for p in 0..<size { scratch[p] = old.bytes[index * size + p] ^ planes[p * n + k] }
                let before = Double(ElementConversion.load(old.bytes, index, old.dtype))
                let after = Double(ElementConversion.load(UnsafeRawBufferPointer(scratch), 0, old.dtype))
                let d = after - before
                spread?.add(index, magnitude: abs(d))  // counted even when not finite: its bits changed
                guard d.isFinite else { continue }
                squared += d * d
                maxAbs = max(maxAbs, abs(d))
                if d > 0 { positive += 1 } else if d < 0 { negative += 1 }
            }
        }
        let signed = positive + negative
        return DeltaStatistics(
            l2: squared.squareRoot(), maxAbs: maxAbs,
            positiveShare: signed == 0 ? nil : Double(positive) / Double(signed),
            baseL2: TensorStatistics.of(old)?.l2 ?? 0)
    }
}
