import ArgumentParser
import Foundation
import Checkpoints
import Models
import Patches
import Tensors
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the masked weights on a task with AdamW; write the update as a patch.",
        discussion: """
            Loss: cross-entropy over the similarities between each training text and the task's \\
            class prompts, divided by --temperature (0.05: a scale of 20). AdamW (β 0.9, 0.999; \\
            decoupled decay on weights, not biases) at the masked positions only, learning rate \\
            warmed up linearly over --warmup of the steps then decayed on a cosine. Every \\
            position outside the mask ends bit-identical to the base: the patch is created \\
            under the mask, which refuses anything else. Trains BERT's first-MLP layer group \\
            (what scalpel mask selects); no dropout.
            """)

    @Argument(help: "The base model: a model folder or its weights file.") var base: String
    @Argument(help: "Patches applied first, in order (earlier tasks): the update is a patch against base + these.") var patches: [String] = []
    @Option(name: .long, help: "The task folder (classes.txt, train.jsonl).") var task: String
    @Option(name: .long, help: "The mask (from scalpel mask) of what may train.") var mask: String
    @Option(name: .shortAndLong, help: "The patch to write (.spatch).") var output: String
    @Option(name: .long, help: "Passes over the training set.") var epochs: Int = 3
    @Option(name: .long, help: "Peak learning rate.") var lr: Float = 1e-4
    @Option(name: .long, help: "Texts per step.") var batch: Int = 32
    @Option(name: .long, help: "AdamW weight decay.") var weightDecay: Float = 0.01
    @Option(name: .long, help: "Fraction of the steps spent warming up.") var warmup: Double = 0.1
    @Option(name: .long, help: "Similarity temperature.") var temperature: Float = 0.05
    @Option(name: .long, help: "Shuffle seed.") var seed: UInt64 = 0

    func validate() throws {
        if mask == "all" {
            throw ValidationError("--mask all (full fine-tuning) needs gradients of every weight; this version trains the first-MLP layer group under a mask from scalpel mask")
        }
        if epochs < 1 || batch < 1 { throw ValidationError("--epochs and --batch must be at least 1") }
        if !(lr > 0) || !(temperature > 0) || weightDecay < 0 || !(0..<1).contains(warmup) {
            throw ValidationError("--lr and --temperature must be positive, --weight-decay non-negative, --warmup in [0, 1)")
        }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
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
        let textTask = try TextTask(folder: task)
        var settings = MaskedTrainer.Settings()
        settings.epochs = epochs
        settings.learningRate = lr
        settings.batchSize = batch
        settings.weightDecay = weightDecay
        settings.warmup = warmup
        settings.seed = seed
        settings.temperature = temperature
        let result = try MaskedTrainer.train(encoder, task: textTask, masks: masks, settings: settings)

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
        let data = FileManager.default.contents(atPath: task + "/train.jsonl") ?? Data()
        let metadata: [(String, String)] = [
            ("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime()),
            ("task", URL(fileURLWithPath: task).lastPathComponent),
            ("train.mask", maskFile.id),
            ("train.on", JSONValue.array(try patches.map { .string(try PatchFile.open($0).id) }).serialized), ("train.epochs", "\(epochs)"), ("train.lr", "\(lr)"), ("train.batch", "\(batch)"),
            ("train.weight_decay", "\(weightDecay)"), ("train.warmup", "\(warmup)"), ("train.temperature", "\(temperature)"),
            ("train.seed", "\(seed)"), ("train.optimizer", "AdamW(0.9, 0.999, 1e-8), cosine schedule"), ("data.sha256", data.withUnsafeBytes { Fingerprint.sha256($0) }),
            ("train.steps", "\(result.steps)"), ("train.final_loss", String(format: "%.6f", result.finalLoss)),
            ("train.final_accuracy", String(format: "%.4f", result.finalAccuracy)), ("train.seconds", String(format: "%.1f", result.seconds)),
        ]
        let summary = try PatchCreator.create(base: checkpoint, tuned: Checkpoint.open(tuned),
                                              options: PatchCreator.Options(mask: maskFile, metadata: metadata), to: output)
        print("wrote \(output): \(result.steps) steps in \(String(format: "%.1f", result.seconds)) s, last epoch loss \(String(format: "%.4f", result.finalLoss)), training accuracy \(String(format: "%.1f", result.finalAccuracy * 100)) %; \(Format.count(summary.changedElements)) elements changed in \(Format.plural(summary.entryCount, "tensor"))")
    }
}
