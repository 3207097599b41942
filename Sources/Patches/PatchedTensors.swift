import Checkpoints
import Tensors

extension PatchApplier {
    /// The tensors `patches` change, rebuilt in memory from `model` with the same checks as
    /// `apply` (checksums, fingerprints, the chain), for commands that compute on a patched
    /// model without writing it (`eval`). Tensors the patches leave alone are not included.
    public static func patchedTensors(model: Checkpoint, patches: [PatchFile]) throws -> [String: TensorView] {
        var steps: [String: [Step]] = [:]
        for patch in patches {
            guard patch.header.kind == .patch else {
                throw PatchError(patch.path, "is a mask, not a patch: a mask holds positions only and cannot be applied")
            }
            try patch.verifyIntegrity()
            for entry in patch.entries {
                steps[entry.name, default: []].append(Step(patch: patch, entry: entry, backwards: false))
            }
        }
        try checkFingerprints(model: model, steps: steps, force: false)
        var out: [String: TensorView] = [:]
        for (name, chain) in steps {
            guard chain.last?.result != nil else { continue }  // removed
            out[name] = try rebuild(name, start: model.entry(named: name).map(model.view), steps: chain, force: false, path: model.path)
        }
        return out
    }
}
