import Checkpoints
import Foundation
import Tensors

/// Takes one patch back out of a model, also from the middle of its stack of applied patches.
///
/// `apply` records every patch it applies and changes the bytes by XOR, so taking a patch's
/// XOR out again is exact at the bit level wherever the patch's elements still hold what the
/// patch left. Before anything is written, every tensor the patch touches must show that, by
/// one of three kinds of evidence:
/// - its fingerprint is the patch's after-fingerprint (no later patch changed the tensor);
/// - `base` is given, the patch was made against it, and the model's record lists the patch:
///   the patches in the stack were then all XORed onto that base, and removing this one
///   leaves exactly base plus the others (whatever else they touched);
/// - the later patches in the model's record are given, and none of them changes an element
///   this patch changes.
public enum PatchReverter {
    /// Writes `model` with `patch` taken out, to `path` (a new file, or a model folder with a
    /// trailing `/`), and removes the patch from the model's record.
    /// - Parameters:
    ///   - base: the base the patch was made against, when other patches were applied after it.
    ///   - later: the patches applied after it, to show that they leave its elements alone.
    /// - Throws: `PatchError` when the patch is a mask (`.incompatible`), damaged (`.corrupt`),
    ///   not in the model's record or not revertible exactly from what is given
    ///   (`.notRevertible`), made against another base (`.wrongBase`); output errors
    ///   (`.outputExists`, `.outputIsInput`, `.cannotWrite`). Nothing is written then.
    @discardableResult
    public static func revert(
        model: Checkpoint, patch: PatchFile, base: Checkpoint? = nil, later: [PatchFile] = [],
        to path: String
    ) throws -> PatchApplier.Summary {
        guard patch.header.kind == .patch else {
            throw PatchError(patch.path, "is a mask, not a patch: there is nothing to revert", kind: .incompatible)
        }
        try patch.verifyIntegrity()
        let stack = AppliedPatches.read(model.metadata)
        let recorded = stack.contains(patch.id)
        if !stack.isEmpty, !recorded {
            throw PatchError(
                patch.path,
                "was not applied to \(model.path): its record lists \(describe(stack)), not \(patch.shortId)",
                kind: .notRevertible)
        }
        let laterIds = stack.lastIndex(of: patch.id).map { Array(stack[($0 + 1)...]) } ?? []
        for file in later where !laterIds.contains(file.id) {
            throw PatchError(
                file.path,
                """
                is not recorded in \(model.path) after \(patch.path) (the patches applied after it: \
                \(laterIds.isEmpty ? "none" : describe(laterIds)))
                """,
                kind: .notRevertible)
        }
        var problems: [String] = []
        for entry in patch.entries {
            guard let after = entry.after else {
                if model.entry(named: entry.name) != nil {
                    problems.append("\"\(entry.name)\": the patch removes it, but the model has it")
                }
                continue
            }
            guard let tensor = model.entry(named: entry.name), tensor.dtype == after.dtype, tensor.shape == after.shape
            else {
                problems.append(
                    "\"\(entry.name)\": the patch leaves \(after.typeDescription), which the model does not have")
                continue
            }
            let fingerprint = model.view(tensor).sha256
            model.releasePages(of: tensor)
            if fingerprint == after.sha256 { continue }
            guard entry.operation == .xor, let before = entry.before else {
                problems.append("\"\(entry.name)\": the patch sets the whole tensor and it has changed since")
                continue
            }
            if let base {
                guard recorded else {
                    problems.append(
                        """
                        \"\(entry.name)\": changed since the patch; \(model.path) carries no record of applied \
                        patches, so nothing shows the patch was applied to it
                        """
                    )
                    continue
                }
                guard let original = base.entry(named: entry.name), base.view(original).sha256 == before.sha256 else {
                    problems.append("\"\(entry.name)\": the patch was not made against the base \(base.path)")
                    continue
                }
            } else if !later.isEmpty {
                let positions = try patch.positions(entry)
                for file in later {
                    guard let other = file.entry(named: entry.name) else { continue }
                    let shared =
                        other.operation == .xor || other.operation == .mask
                        ? PatchMerger.intersectionCount(positions, try file.positions(other)) : positions.count
                    if shared > 0 {
                        problems.append(
                            """
                            \"\(entry.name)\": \(file.path) changed \(shared) of the \(positions.count) elements \
                            this patch changed
                            """
                        )
                    }
                }
            } else {
                let since =
                    laterIds.isEmpty
                    ? ""
                    : """
                     (the model's record lists \(laterIds.count) patch\(laterIds.count == 1 ? "" : "es") applied \
                    after it: \(describe(laterIds)))
                    """
                problems.append("\"\(entry.name)\": changed since the patch was applied\(since)")
            }
        }
        if !problems.isEmpty {
            var advice = "Reverting a patch alone is exact only where no later change touched its elements."
            if base == nil, later.isEmpty {
                advice +=
                    """
                     Give the later patches with --later to check element by element, or --base BASE if this \
                    patch was made against BASE and the model is BASE plus its recorded patches.
                    """
            }
            throw PatchError(
                patch.path, "cannot be reverted exactly from \(model.path):",
                details: problems.map { "  " + $0 } + [advice], kind: .notRevertible)
        }
        return try PatchApplier.run(.revert, model: model, patches: [patch], policy: .established, to: path)
    }

    static func describe(_ ids: [String]) -> String {
        ids.map { String($0.prefix(12)) }.joined(separator: ", ")
    }
}
