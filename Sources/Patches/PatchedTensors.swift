import Checkpoints
import Tensors

extension PatchApplier {
    /// The tensors `patches` change, rebuilt in memory from `model` with the same checks as
    /// `apply` (checksums, already applied, each step landing on the bits it was made
    /// against), for commands that compute on a patched model without writing it (`eval`).
    /// Tensors the patches leave alone are not included. Throws as `run` does.
    public static func patchedTensors(model: Checkpoint, patches: [PatchFile]) throws -> [String: TensorView] {
        let plans = try prepare(.apply, model: model, patches: patches, policy: .strict)
        var out: [String: TensorView] = [:]
        for (name, plan) in plans {  // tensor names of an architecture: plain ASCII
            guard plan.steps.last?.result != nil else { continue }  // removed
            out[name] = try rebuild(plan, start: model.entry(named: name).map(model.view), path: model.path)
        }
        return out
    }
}
