import ArgumentParser
import Foundation
import Checkpoints
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
            under the mask, which refuses anything else. --mask all trains every tensor (full \\
            fine-tuning, the baseline). Dropout as the model's config.json says, while training \\
            only. --replay adds a buffer of --buffer training examples from earlier tasks (task \\
            folders, or patches that record theirs), spread evenly over them, each scored \\
            against its own task's prompts.
            """)

    @Argument(help: "The base model: a model folder or its weights file.") var base: String
    @Argument(help: "Patches applied first, in order (earlier tasks): the update is a patch against base + these.") var patches: [String] = []
    @Option(name: .long, help: "The task folder (classes.txt, train.jsonl).") var task: String
    @Option(name: .long, help: "The mask (from scalpel mask) of what may train, or all (full fine-tuning).") var mask: String
    @Option(name: .shortAndLong, help: "The patch to write (.spatch).") var output: String
    @Option(name: .long, help: "Passes over the training set.") var epochs: Int = 3
    @Option(name: .long, help: "Peak learning rate.") var lr: Float = 1e-4
    @Option(name: .long, help: "Texts per step.") var batch: Int = 32
    @Option(name: .long, help: "AdamW weight decay.") var weightDecay: Float = 0.01
    @Option(name: .long, help: "Fraction of the steps spent warming up.") var warmup: Double = 0.1
    @Option(name: .long, help: "Similarity temperature.") var temperature: Float = 0.05
    @Option(name: .long, help: "Shuffle and dropout seed.") var seed: UInt64 = 0
    @Option(name: .long, parsing: .upToNextOption, help: "Earlier tasks to replay: task folders or their patches.") var replay: [String] = []
    @Option(name: .long, help: "Replay buffer size: examples drawn from the --replay tasks.") var buffer: Int = 100
    @Flag(inversion: .prefixedNo, help: "Dropout as the model's configuration says.") var dropout = true

    func validate() throws {
        if buffer < 0 { throw ValidationError("--buffer must not be negative") }
        if epochs < 1 || batch < 1 { throw ValidationError("--epochs and --batch must be at least 1") }
        if !(lr > 0) || !(temperature > 0) || weightDecay < 0 || !(0..<1).contains(warmup) {
            throw ValidationError("--lr and --temperature must be positive, --weight-decay non-negative, --warmup in [0, 1)")
        }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        var settings = MaskedTrainer.Settings()
        settings.epochs = epochs
        settings.learningRate = lr
        settings.batchSize = batch
        settings.weightDecay = weightDecay
        settings.warmup = warmup
        settings.seed = seed
        settings.temperature = temperature
        settings.dropout = dropout
        let summary = try SPUSteps.train(base: base, patches: patches, task: task, mask: mask == "all" ? nil : mask, replay: replay,
                                         buffer: buffer, settings: settings,
                                         metadata: [("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime())], to: output)
        let result = summary.result
        print("wrote \(output): \(result.steps) steps in \(String(format: "%.1f", result.seconds)) s, last epoch loss \(String(format: "%.4f", result.finalLoss)), training accuracy \(String(format: "%.1f", result.finalAccuracy * 100)) %; \(Format.count(summary.changedElements)) elements changed in \(Format.plural(summary.tensors, "tensor"))")
    }
}
