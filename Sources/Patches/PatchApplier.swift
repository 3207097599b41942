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
    public enum Direction: Sendable {
        /// base + patches → result.
        case apply
        /// result − patch → base (one patch; its entries undone).
        case revert
    }

    public struct Summary: Sendable {
        public let touchedTensors: Int
        public let changedElements: Int
        public let outputs: [String]
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

    @discardableResult
    public static func run(_ direction: Direction, model: Checkpoint, patches: [PatchFile], force: Bool = false,
                           to path: String) throws -> Summary {
        for patch in patches {
            guard patch.header.kind == .patch else {
                throw PatchError(patch.path, "is a mask, not a patch: a mask holds positions only and cannot be applied")
            }
            try patch.verifyIntegrity()
        }
        if direction == .revert, patches.count != 1 {
            throw PatchError(patches.first?.path ?? path, "revert takes exactly one patch")
        }

        // The steps per tensor name, in order, and the order of names in the result.
        var steps: [String: [Step]] = [:]
        var order = model.tensors.map(\.name)
        var known = Set(order)
        for patch in patches {
            for entry in patch.entries {
                steps[entry.name, default: []].append(Step(patch: patch, entry: entry, backwards: direction == .revert))
                if known.insert(entry.name).inserted { order.append(entry.name) }
            }
        }
        try checkFingerprints(model: model, steps: steps, force: force)

        var outputs: [OutputTensor] = []
        var changed = 0
        for name in order {
            let tensorSteps = steps[name] ?? []
            guard let last = tensorSteps.last else {
                guard let entry = model.entry(named: name) else { continue }
                outputs.append(OutputTensor(name: name, dtype: entry.dtype, shape: entry.shape) { model.view(entry) })
                continue
            }
            changed += tensorSteps.reduce(0) { $0 + $1.entry.nnz }
            guard let final = last.result else { continue }  // removed
            outputs.append(OutputTensor(name: name, dtype: final.dtype, shape: final.shape) {
                let source = model.entry(named: name)
                return try rebuild(name, start: source.map(model.view), steps: tensorSteps, force: force, path: path,
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
        // The result keeps the model's format (a sharded model is written as one file).
        let format: CheckpointFormat = model.format == .safetensorsIndex ? .safetensors : model.format == .pytorchIndex ? .pytorch : model.format
        if let named = CheckpointWriter.format(forOutput: path), named != format {
            throw PatchError(path, "the model is \(model.format.displayName) and the result is written in the same format; name the output accordingly (convert it afterwards for another format)")
        }
        // Room in the header for later `apply --in-place` to record more patch ids.
        try CheckpointWriter.write(outputs, metadata: metadata, format: format, extras: model.extras, base: model, to: path, headerRoom: 1024)
        return Summary(touchedTensors: steps.count, changedElements: changed, outputs: [path])
    }

    /// Checks, before anything is written, that each touched tensor is what the first step
    /// on it expects, and that consecutive steps on one tensor chain (each expects what the
    /// previous one leaves).
    static func checkFingerprints(model: Checkpoint, steps: [String: [Step]], force: Bool) throws {
        let names = Array(steps.keys).sorted()
        let results = ResultSlots<Void>(count: names.count)
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            results.set(i, Result {
                let name = names[i]
                let chain = steps[name]!
                let first = chain[0]
                let current = model.entry(named: name)
                switch (first.expected, current) {
                case (nil, nil): break
                case (nil, _?):
                    throw PatchError(first.patch.path, "tensor \"\(name)\" would be added but the model \(model.path) already has it")
                case (let expected?, nil):
                    throw PatchError(first.patch.path, "tensor \"\(name)\" (\(expected.typeDescription)) is not in the model \(model.path)")
                case (let expected?, let tensor?):
                    guard tensor.dtype == expected.dtype, tensor.shape == expected.shape else {
                        throw PatchError(first.patch.path, "tensor \"\(name)\": the patch expects \(expected.typeDescription), the model \(model.path) has \(tensor.dtype.rawValue) \(Shape.describe(tensor.shape))")
                    }
                    let fingerprint = model.view(tensor).sha256
                    model.releasePages(of: tensor)  // read again, from the page cache, when rebuilt
                    if !force, fingerprint != expected.sha256 {
                        let what = first.backwards ? "is not the patched tensor (revert needs the model the patch produced)" : "differs from the base the patch was made for"
                        throw PatchError(first.patch.path, "tensor \"\(name)\" of \(model.path) \(what); --force applies it anyway")
                    }
                }
                for (previous, next) in zip(chain, chain.dropFirst()) where previous.result != next.expected {
                    let compatible = previous.result?.dtype == next.expected?.dtype && previous.result?.shape == next.expected?.shape
                    if !(force && compatible) {
                        throw PatchError(next.patch.path, "tensor \"\(name)\": this patch expects the tensor that \(previous.patch.path) does not produce (the patches are not a chain)")
                    }
                }
            })
        }
        _ = try results.values()
    }

    /// The tensor after all `steps`, starting from `start` (nil when it begins absent).
    static func rebuild(_ name: String, start: TensorView?, steps: [Step], force: Bool, path: String,
                        release: (() -> Void)? = nil) throws -> TensorView {
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
                current = TensorView(dtype: tensor.dtype, shape: tensor.shape, bytes: UnsafeRawBufferPointer(buffer.bytes), owner: buffer)
            case (.add, false), (.replace, false):
                current = try step.patch.wholeTensor(entry, after: true)
                owned = nil
            case (.remove, true), (.replace, true):
                current = try step.patch.wholeTensor(entry, after: false)
                owned = nil
            case (.remove, false), (.add, true):
                current = nil
            case (.mask, _):
                throw PatchError(step.patch.path, "is a mask and cannot be applied")
            }
        }
        guard let result = current, let expected = steps.last?.result else {
            throw PatchError(path, "tensor \"\(name)\" has no result")
        }
        if !force, result.sha256 != expected.sha256 {
            throw PatchError(steps.last!.patch.path, "tensor \"\(name)\": the result does not match the patch's fingerprint (the patch or the model is corrupt)")
        }
        return result
    }
}

/// The list of patch ids `apply` records in a model's metadata (`scalpel.patches`).
public enum AppliedPatches {
    public static func read(_ metadata: [(String, String)]) -> [String] {
        guard let text = metadata.first(where: { $0.0 == PatchFormat.appliedPatchesKey })?.1,
              let json = try? JSONValue.parse(text), let items = json.arrayValue else { return [] }
        return items.compactMap(\.stringValue)
    }

    static func write(_ ids: [String], into metadata: inout [(String, String)]) {
        metadata.removeAll { $0.0 == PatchFormat.appliedPatchesKey }
        if !ids.isEmpty {
            metadata.append((PatchFormat.appliedPatchesKey, JSONValue.array(ids.map { .string($0) }).serialized))
        }
    }
}
