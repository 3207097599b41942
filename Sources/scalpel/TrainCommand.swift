import ArgumentParser
import Checkpoints
import Foundation
import Patches
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

    @Argument(help: "The base model: a model folder or its weights file.")
    var base: String
    @Argument(help: "Patches applied first, in order (earlier tasks): the update is a patch against base + these.")
    var patches: [String] = []
    @Option(name: .long, help: "The task folder (classes.txt, train.jsonl or train.npz).")
    var task: String
    @Option(name: .long, help: "The mask (from scalpel mask) of what may train, or all (full fine-tuning).")
    var mask: String
    @Option(name: .shortAndLong, help: "The patch to write (.spatch).")
    var output: String
    @Option(name: .long, parsing: .upToNextOption, help: "Earlier tasks to replay: task folders or their patches.")
    var replay: [String] = []
    @Option(name: .long, help: "Replay buffer size: examples drawn from the --replay tasks.")
    var buffer: Int = 100
    @OptionGroup var training: TrainingOptions
    @Flag(name: .long, help: "Evaluate the task's test split after every epoch, not only before and after training.")
    var evalEveryEpoch = false
    @OptionGroup var overwriteOption: OverwriteOption
    @OptionGroup var outputOptions: OutputOptions

    static let usage = "scalpel train BASE [PATCH...] --task TASK --mask MASK|all -o PATCH"

    func validate() throws {
        if buffer < 0 { throw ValidationError("--buffer must not be negative") }
        try ArgumentRoles.check(model: base, patches: patches, usage: Self.usage)
        if mask != "all", ArgumentRoles.isModel(mask), !ArgumentRoles.isPatch(mask) {
            let isFolder =
                (try? FileManager.default.attributesOfItem(atPath: mask)[.type] as? FileAttributeType) == .typeDirectory
            if !isFolder {
                throw ValidationError(
                    "--mask \(mask) is not a mask (.spatch made by scalpel mask): the command is: \(Self.usage)")
            }
        }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        try overwriteOption.prepare(outputs: [output], inputs: [base, mask] + patches + replay)
        if mask != "all", let warning = TaskIdentity.maskMismatch(try PatchFile.open(mask), task: task) {
            Format.warning(warning)
        }
        let progress = TrainingProgress(quiet: outputOptions.quiet || outputOptions.json)
        let reporting = SPUSteps.TrainReporting(
            evaluateEveryEpoch: evalEveryEpoch, step: progress.step,
            evaluated: { epoch, accuracy in
                progress.say(
                    epoch == 0
                        ? "test accuracy before training: \(Format.fixed(accuracy * 100, 2)) %"
                        : "test accuracy after epoch \(epoch): \(Format.fixed(accuracy * 100, 2)) %")
            })
        let summary: SPUSteps.TrainSummary
        do {
            defer { progress.finish() }
            summary = try SPUSteps.train(
                base: base, patches: patches, task: task, mask: mask == "all" ? nil : mask, replay: replay,
                buffer: buffer, settings: training.settings,
                metadata: [("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime())],
                to: output,
                reporting: reporting)
        }
        let result = summary.result
        var text =
            """
            wrote \(output): \(result.steps) steps in \(String(format: "%.1f", result.seconds)) s, last epoch \
            loss \(String(format: "%.4f", result.finalLoss)), training accuracy \
            \(String(format: "%.1f", result.finalAccuracy * 100)) %; \(Format.count(summary.changedElements)) \
            elements changed in \(Format.plural(summary.tensors, "tensor"))
            """
        if let before = summary.testAccuracyBefore, let after = summary.testAccuracyAfter {
            let change = (after - before) * 100
            text +=
                """
                \ntest accuracy \(Format.fixed(before * 100, 2)) % before, \(Format.fixed(after * 100, 2)) % \
                after (\(change >= 0 ? "+" : "")\(Format.fixed(change, 2)) points)
                """
            if change < 0 {
                text += ": training lowered the task's held-out accuracy; try a lower --lr or fewer --epochs"
            }
        } else {
            text += "\nthe task has no test split: no held-out accuracy"
        }
        outputOptions.emit(
            "train",
            [
                ("output", .string(output)), ("patch_id", ResultJSON.writtenPatchID(output)), ("base", .string(base)),
                ("patches", .array(try patches.map { ResultJSON.patch(try PatchFile.open($0)) })),
                ("task", .string(task)),
                ("mask", .string(mask)), ("steps", .integer(result.steps)), ("seconds", .number(result.seconds)),
                ("loss", .number(result.finalLoss)), ("train_accuracy", ResultJSON.percent(result.finalAccuracy)),
                ("test_accuracy_before", ResultJSON.percent(summary.testAccuracyBefore)),
                ("test_accuracy_after", ResultJSON.percent(summary.testAccuracyAfter)),
                ("test_accuracy_per_epoch", .array(summary.testAccuracyPerEpoch.map { ResultJSON.percent($0) })),
                ("tensors_touched", .integer(summary.tensors)), ("elements_changed", .integer(summary.changedElements)),
                ("elements_trainable", .integer(summary.trainableElements)), ("bytes", ResultJSON.fileBytes(output)),
            ], text: text)
    }
}
