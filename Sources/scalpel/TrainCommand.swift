import ArgumentParser
import Foundation
import Checkpoints
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the masked weights on a task with AdamW; write the update as a patch.",
        discussion: """
            Loss: cross-entropy over the similarities between each training text and the task's \
            class prompts, divided by --temperature (0.05: a scale of 20). AdamW (β 0.9, 0.999; \
            decoupled decay on weights, not biases) at the masked positions only, learning rate \
            warmed up linearly over --warmup of the steps then decayed on a cosine. Every \
            position outside the mask ends bit-identical to the base: the patch is created \
            under the mask, which refuses anything else. --mask all trains every tensor (full \
            fine-tuning, the baseline). Dropout as the model's config.json says, while training \
            only. --replay adds a buffer of --buffer training examples from earlier tasks (task \
            folders, or patches that record theirs), spread evenly over them, each scored \
            against its own task's prompts.
            """)

    @Argument(help: "The base model: a model folder or its weights file.") var base: String
    @Argument(help: "Patches applied first, in order (earlier tasks): the update is a patch against base + these.") var patches: [String] = []
    @Option(name: .long, help: "The task folder (classes.txt, train.jsonl or train.npz).") var task: String
    @Option(name: .long, help: "The mask (from scalpel mask) of what may train, or all (full fine-tuning).") var mask: String
    @Option(name: .shortAndLong, help: "The patch to write (.spatch).") var output: String
    @Option(name: .long, parsing: .upToNextOption, help: "Earlier tasks to replay: task folders or their patches.") var replay: [String] = []
    @Option(name: .long, help: "Replay buffer size: examples drawn from the --replay tasks.") var buffer: Int = 100
    @OptionGroup var training: TrainingOptions
    @OptionGroup var overwriteOption: OverwriteOption

    func validate() throws {
        if buffer < 0 { throw ValidationError("--buffer must not be negative") }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        try overwriteOption.prepare(outputs: [output], inputs: [base, mask] + patches + replay)
        let summary = try SPUSteps.train(base: base, patches: patches, task: task, mask: mask == "all" ? nil : mask, replay: replay,
                                         buffer: buffer, settings: training.settings,
                                         metadata: [("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime())], to: output)
        let result = summary.result
        print("wrote \(output): \(result.steps) steps in \(String(format: "%.1f", result.seconds)) s, last epoch loss \(String(format: "%.4f", result.finalLoss)), training accuracy \(String(format: "%.1f", result.finalAccuracy * 100)) %; \(Format.count(summary.changedElements)) elements changed in \(Format.plural(summary.tensors, "tensor"))")
    }
}
