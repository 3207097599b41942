import Checkpoints
import Foundation
import Models
import Patches
import Relevance
import Tensors

/// The two steps of SPU on a task, as files: a mask of the task-relevant weights, and the
/// masked training that turns it into a patch. Both work on base + earlier patches.
public enum SPUSteps {
    public struct MaskSummary: Sendable {
        public let tensors: Int
        public let kept: Int
        public let eligible: Int
        public let modelParameters: Int
    }

    /// Scores the first-MLP weights of base + `patches` for `task` and writes the top `rate`
    /// of each (with the layers' biases whole when `denseBias`) as a mask.
    public static func mask(base: String, patches: [String], task: String, rate: Double, settings: RelevanceScorer.Settings,
                            denseBias: Bool, metadata: [(String, String)], to output: String) throws -> MaskSummary {
        let model = try PatchedModel(base: base, patches: patches, beside: output)
        let encoder = try model.encoder(base: base)
        let scores = try RelevanceScorer.scores(encoder, task: try TextTask(folder: task), settings: settings)
        var positions: [(String, [Int])] = []
        var kept = 0, eligible = 0
        for layer in scores.keys.sorted() {
            guard let values = scores[layer] else { continue }
            let top = MaskSelection.top(values, rate: rate)
            positions.append((encoder.model.tensorName(layer: layer, "intermediate.dense.weight"), top))
            kept += top.count
            eligible += values.count
            if denseBias {
                let bias = encoder.model.configuration.intermediate
                positions.append((encoder.model.tensorName(layer: layer, "intermediate.dense.bias"), Array(0..<bias)))
                kept += bias
                eligible += bias
            }
        }
        let recorded = metadata + [
            ("task", URL(fileURLWithPath: task).lastPathComponent), ("mask.score", settings.method.rawValue), ("mask.rate", "\(rate)"),
            ("mask.layers", "first-mlp"), ("mask.score_fraction", "\(settings.scoreFraction)"), ("mask.batch", "\(settings.batchSize)"),
            ("mask.seed", "\(settings.seed)"), ("mask.dense_bias", "\(denseBias)"), ("data.sha256", dataFingerprint(task)),
        ]
        try MaskWriter.write(positions: positions, base: model.checkpoint, metadata: recorded, to: output)
        return MaskSummary(tensors: positions.count, kept: kept, eligible: eligible, modelParameters: model.checkpoint.parameterCount)
    }

    public struct TrainSummary: Sendable {
        public let result: MaskedTrainer.Result
        public let changedElements: Int
        public let tensors: Int
    }

    /// Trains the masked weights of base + `patches` on `task` and writes the update, a patch
    /// against base + `patches` made under the mask.
    public static func train(base: String, patches: [String], task: String, mask: String, settings: MaskedTrainer.Settings,
                             metadata: [(String, String)], to output: String) throws -> TrainSummary {
        let patched = try PatchedModel(base: base, patches: patches, beside: output)
        let checkpoint = patched.checkpoint
        let maskFile = try PatchFile.open(mask)
        let allowed = try PatchCreator.maskPositions(maskFile, base: checkpoint)
        let encoder = try patched.encoder(base: base)
        let model = encoder.model
        var masks: [Int: MaskedTrainer.LayerMask] = [:]
        var known: Set<String> = []
        for layer in 0..<model.configuration.layers {
            let weightName = model.tensorName(layer: layer, "intermediate.dense.weight"), biasName = model.tensorName(layer: layer, "intermediate.dense.bias")
            known.formUnion([weightName, biasName])
            let weight = (allowed[weightName] ?? []).sorted(), bias = (allowed[biasName] ?? []).sorted()
            if !weight.isEmpty || !bias.isEmpty { masks[layer] = MaskedTrainer.LayerMask(weight: weight, bias: bias) }
        }
        if let other = allowed.keys.sorted().first(where: { !known.contains($0) }) {
            throw ModelError(mask, "masks tensor \"\(other)\", which this version cannot train (it trains intermediate.dense of every layer)")
        }
        let result = try MaskedTrainer.train(encoder, task: try TextTask(folder: task), masks: masks, settings: settings)

        // The trained tensors in the base's dtypes, in a hidden file beside the output, from
        // which the patch is made under the mask.
        var replaced: [String: TensorView] = [:]
        for layer in masks.keys {
            for (suffix, values) in [("intermediate.dense.weight", model.firstMLPWeight(layer: layer)), ("intermediate.dense.bias", model.firstMLPBias(layer: layer))] {
                let name = model.tensorName(layer: layer, suffix)
                guard let entry = checkpoint.entry(named: name) else { continue }
                let f32 = TensorView.make(dtype: .f32, shape: entry.shape) { buffer in values.withUnsafeBytes { buffer.copyMemory(from: $0) } }
                replaced[name] = entry.dtype == .f32 ? f32 : f32.converted(to: entry.dtype)
            }
        }
        let url = URL(fileURLWithPath: output)
        let tuned = url.deletingLastPathComponent().path + "/.\(url.lastPathComponent).scalpel-trained.safetensors"
        TemporaryFiles.register(tuned)
        defer {
            try? FileManager.default.removeItem(atPath: tuned)
            TemporaryFiles.unregister(tuned)
        }
        try SafetensorsWriter.write(checkpoint.tensors.map { entry in OutputTensor(name: entry.name, view: replaced[entry.name] ?? checkpoint.view(entry)) },
                                    metadata: checkpoint.metadata, to: tuned)
        let s = settings
        let recorded = metadata + [
            ("task", URL(fileURLWithPath: task).lastPathComponent), ("train.mask", maskFile.id),
            ("train.on", JSONValue.array(try patches.map { .string(try PatchFile.open($0).id) }).serialized),
            ("train.epochs", "\(s.epochs)"), ("train.lr", "\(s.learningRate)"), ("train.batch", "\(s.batchSize)"),
            ("train.weight_decay", "\(s.weightDecay)"), ("train.warmup", "\(s.warmup)"), ("train.temperature", "\(s.temperature)"),
            ("train.seed", "\(s.seed)"), ("train.optimizer", "AdamW(0.9, 0.999, 1e-8), cosine schedule"), ("data.sha256", dataFingerprint(task)),
            ("train.steps", "\(result.steps)"), ("train.final_loss", String(format: "%.6f", result.finalLoss)),
            ("train.final_accuracy", String(format: "%.4f", result.finalAccuracy)), ("train.seconds", String(format: "%.1f", result.seconds)),
        ]
        let summary = try PatchCreator.create(base: checkpoint, tuned: Checkpoint.open(tuned),
                                              options: PatchCreator.Options(mask: maskFile, metadata: recorded), to: output)
        return TrainSummary(result: result, changedElements: summary.changedElements, tensors: summary.entryCount)
    }

    static func dataFingerprint(_ task: String) -> String {
        let data = FileManager.default.contents(atPath: task + "/train.jsonl") ?? Data()
        return data.withUnsafeBytes { Fingerprint.sha256($0) }
    }
}
