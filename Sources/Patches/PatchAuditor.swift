import Checkpoints
import Dispatch
import Tensors

/// Statistics of the value changes an `xor` entry makes (new − old), over finite values.
public struct DeltaStatistics: Sendable {
    public let l2: Double
    public let maxAbs: Double
    /// Share of the nonzero deltas that are positive (0.5: balanced).
    public let positiveShare: Double?
}

/// What `audit` finds about one entry.
public struct EntryAudit: Sendable {
    public enum Fingerprint: Sendable, Equatable {
        case matches
        case mismatch(String)
    }

    public let entry: PatchEntry
    /// nil when the entry's checksum, frames and positions are all sound; else the problem.
    public let integrityProblem: String?
    /// With a base: whether the base holds what the entry expects.
    public let fingerprint: Fingerprint?
    /// With a base, for `xor` entries of floating tensors.
    public let delta: DeltaStatistics?
}

/// Checks every entry of a patch completely, collecting problems instead of stopping at the
/// first, so one run says everything that is wrong.
public enum PatchAuditor {
    public static func audit(_ patch: PatchFile, base: Checkpoint?) -> [EntryAudit] {
        let entries = patch.entries
        let slots = ResultSlots<EntryAudit>(count: entries.count)
        DispatchQueue.concurrentPerform(iterations: entries.count) { i in
            slots.set(i, .success(audit(entries[i], in: patch, base: base)))
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
        guard let base else { return EntryAudit(entry: entry, integrityProblem: problem, fingerprint: nil, delta: nil) }

        let fingerprint: EntryAudit.Fingerprint
        var delta: DeltaStatistics?
        let tensor = base.entry(named: entry.name)
        switch (entry.before, tensor) {
        case (nil, nil): fingerprint = .matches
        case (nil, _?): fingerprint = .mismatch("the base already has this tensor")
        case (_?, nil): fingerprint = .mismatch("not in the base")
        case let (state?, tensor?):
            let view = base.view(tensor)
            if tensor.dtype != state.dtype || tensor.shape != state.shape {
                fingerprint = .mismatch("base has \(tensor.dtype.rawValue) \(Shape.describe(tensor.shape)), patch expects \(state.typeDescription)")
            } else if view.sha256 != state.sha256 {
                fingerprint = .mismatch("base tensor differs from the one the patch was made for")
            } else {
                fingerprint = .matches
                if problem == nil, entry.operation == .xor, state.dtype.isFloatingPoint {
                    delta = statistics(view, positions: positions, planes: planes)
                }
            }
        }
        return EntryAudit(entry: entry, integrityProblem: problem, fingerprint: fingerprint, delta: delta)
    }

    static func statistics(_ old: TensorView, positions: [Int], planes: [UInt8]) -> DeltaStatistics {
        let size = old.dtype.size
        let n = positions.count
        var element = [UInt8](repeating: 0, count: size)
        var squared = 0.0, maxAbs = 0.0, positive = 0, negative = 0
        element.withUnsafeMutableBytes { scratch in
            for (k, index) in positions.enumerated() {
                for p in 0..<size { scratch[p] = old.bytes[index * size + p] ^ planes[p * n + k] }
                let before = Double(ElementConversion.load(old.bytes, index, old.dtype))
                let after = Double(ElementConversion.load(UnsafeRawBufferPointer(scratch), 0, old.dtype))
                let d = after - before
                guard d.isFinite else { continue }
                squared += d * d
                maxAbs = max(maxAbs, abs(d))
                if d > 0 { positive += 1 } else if d < 0 { negative += 1 }
            }
        }
        let signed = positive + negative
        return DeltaStatistics(l2: squared.squareRoot(), maxAbs: maxAbs,
                               positiveShare: signed == 0 ? nil : Double(positive) / Double(signed))
    }
}
