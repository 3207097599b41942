import Checkpoints
import Dispatch
import Foundation
import Tensors

/// Applies patches to a checkpoint (or reverts one), writing a new checkpoint.
///
/// Everything is checked before the first byte is written: every patch's stored data
/// against its checksums, and every touched tensor against the fingerprint the patch expects.
/// Untouched tensors are then copied file to file; touched ones are rebuilt one at a time,
/// so memory stays near the largest touched tensor.
public enum PatchApplier {
    /// Which way the patches go.
    public enum Direction: Sendable {
        /// base + patches → result.
        case apply
        /// result − patch → base (one patch; its entries undone).
        case revert
    }

    /// What `run` wrote.
    public struct Summary: Sendable {
        /// Tensors the patches change.
        public let touchedTensors: Int
        /// Distinct elements changed, the union over all patches.
        public let changedElements: Int
        /// The files written (one, or each shard and the index of a model folder).
        public let outputs: [String]
        /// One line per tensor where patches were composed rather than chained (siblings,
        /// or `--force` on top of another change), for the command to show.
        public var notes: [String] = []
    }

    /// One step on one tensor: an entry, and whether it runs backwards.
    struct Step {
        let patch: PatchFile
        let entry: PatchEntry
        let backwards: Bool

        /// The tensor the step expects to find, and the one it leaves.
        var expected: TensorState? { backwards ? entry.after : entry.before }
        var result: TensorState? { backwards ? entry.before : entry.after }
    }

    /// Checks everything `apply` or `revert` checks before writing: each patch is a patch
    /// (not a mask) whose stored data matches its checksums; for `apply`, none of them is
    /// already in the model (`AlreadyAppliedError`); and every step of every tensor lands
    /// on the bits it was made against (`PatchComposition`). Returns the checked plan of
    /// each touched tensor.
    static func prepare(
        _ direction: Direction, model: Checkpoint, patches: [PatchFile],
        policy: CompositionPolicy
    ) throws -> NameMap<PatchComposition.TensorPlan> {
        for patch in patches {
            guard patch.header.kind == .patch else {
                throw PatchError(
                    patch.path, "is a mask, not a patch: a mask holds positions only and cannot be applied",
                    kind: .incompatible)
            }
            try patch.verifyIntegrity()
        }
        var steps = NameMap<[Step]>()
        for patch in patches {
            for entry in patch.entries {
                steps[entry.name, default: []].append(Step(patch: patch, entry: entry, backwards: direction == .revert))
            }
        }
        let fingerprints = PatchComposition.fingerprints(of: steps.names, in: model)
        if direction == .apply {
            try AlreadyApplied.check(patches, model: model, fingerprints: fingerprints)
        }
        return try PatchComposition.plan(model: model, steps: steps, policy: policy, fingerprints: fingerprints)
    }

    /// Applies `patches` in order to `model` (or reverts the one patch), writing `path` in the
    /// model's format. `policy` says what may be composed (`CompositionPolicy`); nothing is
    /// written unless every check passes. Throws `PatchError` naming the patch, the tensor and
    /// the problem, or `AlreadyAppliedError`.
    @discardableResult
    public static func run(
        _ direction: Direction, model: Checkpoint, patches: [PatchFile],
        policy: CompositionPolicy = .strict, to path: String
    ) throws -> Summary {
        if direction == .revert, patches.count != 1 {
            throw PatchError(patches.first?.path ?? path, "revert takes exactly one patch")
        }
        let plans = try prepare(direction, model: model, patches: patches, policy: policy)

        // The order of names in the result: the model's, then added tensors in patch order.
        var order = model.tensors.map(\.name)
        var known = NameSet(order)
        for patch in patches {
            for entry in patch.entries where known.insert(entry.name) { order.append(entry.name) }
        }
        var outputs: [OutputTensor] = []
        var changed = 0
        for name in order {
            guard let plan = plans[name], let last = plan.steps.last else {
                guard let entry = model.entry(named: name) else { continue }
                outputs.append(OutputTensor(name: name, dtype: entry.dtype, shape: entry.shape) { model.view(entry) })
                continue
            }
            changed = [changed, try distinctChanges(plan.steps)].saturatingSum()
            guard let final = last.result else { continue }  // removed
            outputs.append(
                OutputTensor(name: name, dtype: final.dtype, shape: final.shape) {
                    let source = model.entry(named: name)
                    return try rebuild(
                        plan, start: source.map(model.view), path: path,
                        release: source.map { entry in { model.releasePages(of: entry) } })
                })
        }

        var metadata = model.metadata
        var stack = AppliedPatches.read(metadata)
        switch direction {
        case .apply: stack += patches.map(\.id)
        case .revert:
            if let last = stack.lastIndex(of: patches[0].id) { stack.remove(at: last) }
        }
        AppliedPatches.write(stack, into: &metadata)
        let notes = plans.names.sorted { $0.precedesByBytes($1) }.flatMap { plans[$0]?.notes ?? [] }
        if ModelFolderWriter.isFolder(path) {
            // A model folder: the base's layout (shards, index) and its other files.
            let written = try ModelFolderWriter.write(
                outputs, metadata: metadata, base: model, to: path, headerRoom: 1024)
            return Summary(
                touchedTensors: plans.count, changedElements: changed, outputs: written.files,
                notes: notes
                    + written.skipped.map {
                        "\($0) of the base's folder was not copied: other weights, which the result does not update"
                    })
        }
        // A file: the model's format (a sharded model is written as one file).
        let format: CheckpointFormat =
            model.format == .safetensorsIndex ? .safetensors : model.format == .pytorchIndex ? .pytorch : model.format
        if let named = CheckpointWriter.format(forOutput: path), named != format {
            throw PatchError(
                path,
                """
                the model is \(model.format.displayName) and the result is written in the same format; name the \
                output accordingly (convert it afterwards for another format)
                """,
                kind: .cannotWrite)
        }
        // Room in the header for later `apply --in-place` to record more patch ids.
        try CheckpointWriter.write(
            outputs, metadata: metadata, format: format, extras: model.extras, base: model, to: path, headerRoom: 1024)
        return Summary(touchedTensors: plans.count, changedElements: changed, outputs: [path], notes: notes)
    }

    /// The tensor after `steps`, starting from `start` (nil when it begins absent; nil
    /// returned when the steps remove it), without checks: callers have planned the steps.
    static func applySteps(_ name: String, start: TensorView?, steps: [Step], release: (() -> Void)? = nil) throws
        -> TensorView?
    {
        var current = start
        var owned: ByteBuffer?  // set once the bytes are a private, writable copy
        for step in steps {
            let entry = step.entry
            switch (entry.operation, step.backwards) {
            case (.xor, _):
                guard let tensor = current else { throw PatchError(step.patch.path, "tensor \"\(name)\" is missing") }
                let buffer = owned ?? ByteBuffer(copying: tensor.bytes)
                if owned == nil { release?() }
                let positions = try step.patch.positions(entry)
                let planes = try step.patch.xorPlanes(entry)
                planes.withUnsafeBytes {
                    BytePlanes.applyXor($0, into: buffer.bytes, at: positions, elementSize: tensor.dtype.size)
                }
                owned = buffer
                current = TensorView(
                    dtype: tensor.dtype, shape: tensor.shape, bytes: UnsafeRawBufferPointer(buffer.bytes), owner: buffer
                )
            case (.add, false), (.replace, false):
                current = try step.patch.wholeTensor(entry, after: true)
                owned = nil
            case (.remove, true), (.replace, true):
                current = try step.patch.wholeTensor(entry, after: false)
                owned = nil
            case (.remove, false), (.add, true):
                current = nil
                owned = nil
            case (.mask, _):
                throw PatchError(step.patch.path, "is a mask and cannot be applied")
            }
        }
        return current
    }

    /// The tensor a checked plan produces, compared with the whole-tensor fingerprint the
    /// plan expects where it knows one (composed tensors were checked position by position).
    static func rebuild(
        _ plan: PatchComposition.TensorPlan, start: TensorView?, path: String,
        release: (() -> Void)? = nil
    ) throws -> TensorView {
        guard let result = try applySteps(plan.name, start: start, steps: plan.steps, release: release),
            let last = plan.steps.last
        else {
            throw PatchError(path, "tensor \"\(plan.name)\" has no result")
        }
        if let expected = plan.expectedResult, result.sha256 != expected {
            throw PatchError(
                last.patch.path,
                """
                tensor \"\(plan.name)\": the result does not match the patch's fingerprint (the patch or the \
                model is corrupt)
                """,
                kind: .resultMismatch)
        }
        return result
    }
}

/// The list of patch ids `apply` records in a model's metadata (`scalpel.patches`).
public enum AppliedPatches {
    /// The recorded patch ids (SHA-256 hex), oldest first; empty when there is no record.
    public static func read(_ metadata: [(String, String)]) -> [String] {
        guard let text = metadata.first(where: { $0.0.hasSameBytes(as: PatchFormat.appliedPatchesKey) })?.1,
            let json = try? JSONValue.parse(text), let items = json.arrayValue
        else { return [] }
        return items.compactMap(\.stringValue)
    }

    static func write(_ ids: [String], into metadata: inout [(String, String)]) {
        metadata.removeAll { $0.0.hasSameBytes(as: PatchFormat.appliedPatchesKey) }
        if !ids.isEmpty {
            metadata.append((PatchFormat.appliedPatchesKey, JSONValue.array(ids.map { .string($0) }).serialized))
        }
    }
}

extension PatchApplier {
    /// The elements `steps` change, each counted once: patches in a chain or siblings that
    /// touch the same element count it once (the union of their positions), so the figure is
    /// what differs between the input and the output at most. Whole-tensor steps count the
    /// tensor's elements.
    private static func distinctChanges(_ steps: [Step]) throws -> Int {
        guard steps.count > 1, steps.allSatisfy({ $0.entry.operation == .xor }) else {
            return steps.count == 1 ? steps[0].entry.nnz : steps.map(\.entry.nnz).max() ?? 0
        }
        return PositionUnion.count(try steps.map { try $0.patch.positions($0.entry) })
    }
}
