import Checkpoints
import Tensors

/// Some of the patches given to `apply` are already in the model: applying an XOR patch a
/// second time would undo it, so nothing is written.
public struct AlreadyAppliedError: Error, CustomStringConvertible, Sendable {
    /// The model's path.
    public let model: String
    /// The patch files already applied, in the order given.
    public let patches: [String]
    /// How many patches were given in all.
    public let given: Int
    /// Why each is taken as applied (same order as `patches`).
    public let reasons: [String]

    /// The message: each patch already applied and why, and what to do.
    public var description: String {
        let list = zip(patches, reasons).map { "  \($0): \($1)" }
        let advice =
            patches.count == given
            ? "the model already is what applying \(given == 1 ? "it" : "them") would give"
            : "apply the others alone"
        // Paths are shown escaped (`DisplayText`), one per line.
        return
            ([
                """
                \(model): \(patches.count == 1 ? "a patch is" : "\(patches.count) patches are") already applied, \
                so nothing was written (\(advice)):
                """
            ] + list)
            .map(DisplayText.escaped).joined(separator: "\n")
    }
}

/// Recognises patches a model already carries.
enum AlreadyApplied {
    /// Throws `AlreadyAppliedError` when any of `patches` is already in `model`: the model's
    /// record (`scalpel.patches`) lists it and every tensor it touches holds its result (the
    /// whole-tensor fingerprint, or for a composed `xor` entry its elements' position
    /// fingerprint), or, recorded or not, every tensor it touches has its after-fingerprint.
    /// A recorded patch whose results the model no longer holds is refused too (re-applying
    /// a recorded patch is never right). `fingerprints` are the model's, by tensor name.
    static func check(_ patches: [PatchFile], model: Checkpoint, fingerprints: NameMap<String>) throws {
        let record = AppliedPatches.read(model.metadata)
        var found: [(String, String)] = []
        for patch in patches where !patch.entries.isEmpty {
            let recorded = record.contains(patch.id)
            let holds = try patch.entries.allSatisfy {
                try holdsResult($0, of: patch, model: model, fingerprints: fingerprints, byPositions: recorded)
            }
            if holds {
                found.append(
                    (
                        patch.path,
                        recorded
                            ? """
                            the model's record lists it (\(patch.shortId)) and every tensor it touches holds its \
                            result
                            """
                            : "every tensor it touches already has the fingerprint it produces"
                    ))
            } else if recorded {
                throw PatchError(
                    patch.path,
                    """
                    the record of \(model.path) lists this patch (\(patch.shortId)) as applied already, but the \
                    tensors it touches no longer hold its result; a patch is applied once (revert it from the \
                    model it was applied to, then apply again)
                    """,
                    kind: .wrongBase)
            }
        }
        if !found.isEmpty {
            throw AlreadyAppliedError(
                model: model.path, patches: found.map(\.0), given: patches.count, reasons: found.map(\.1))
        }
    }

    /// Whether the model's tensor holds what `entry` produces.
    private static func holdsResult(
        _ entry: PatchEntry, of patch: PatchFile, model: Checkpoint,
        fingerprints: NameMap<String>, byPositions: Bool
    ) throws -> Bool {
        guard let after = entry.after else { return model.entry(named: entry.name) == nil }
        // An entry that claims no change (before = after) cannot tell applied from not.
        guard entry.before != after, let tensor = model.entry(named: entry.name),
            tensor.dtype == after.dtype, tensor.shape == after.shape
        else { return false }
        if fingerprints[entry.name] == after.sha256 { return true }
        // Composed with a sibling, the tensor matches no single patch: its elements tell.
        guard byPositions, entry.operation == .xor, let expected = entry.atPositions else { return false }
        let positions = try patch.positions(entry)
        let bits = PositionFingerprints.gather(model.view(tensor).bytes, at: positions, elementSize: after.dtype.size)
        return Fingerprint.sha256(bits) == expected.after
    }
}
