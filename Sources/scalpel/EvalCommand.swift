import ArgumentParser
import Checkpoints
import Foundation
import Models
import Patches

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Zero-shot classification accuracy of a model (with patches applied in memory) on a task.",
        discussion: """
            Each test example (text, or image for a task with test.npz and a CLIP model) is \
            assigned the class whose prompt (classes.txt) has the most similar embedding; \
            accuracy is the fraction assigned their label. Patches are \
            checked and applied in memory, in order, as apply would; nothing is written.
            """)

    @Argument(help: "The encoder: a model folder or its weights file.")
    var model: String
    @Argument(help: "Patches to apply in memory first, in order.")
    var patches: [String] = []
    @Option(name: .long, help: "The task folder (classes.txt, test.jsonl or test.npz).")
    var task: String
    @Option(name: .long, help: "bert or clip (default: recognised from the tensor names).")
    var arch: Architecture?
    @Option(name: .long, help: "Which examples: test or train.")
    var split: String = "test"
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if split != "test", split != "train" { throw ValidationError("--split is test or train") }
        try ArgumentRoles.check(model: model, patches: patches, usage: "scalpel eval MODEL [PATCH...] --task TASK")
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(model)
        let files = try patches.map(PatchFile.open)
        let replacements = try PatchApplier.patchedTensors(model: checkpoint, patches: files)
        let encoder = try Architecture.encoder(checkpoint, replacements: replacements, architecture: arch)
        let textTask = try TaskFolder(folder: task)
        let progress = ProgressDisplay.counting("eval", total: 0, unit: .inputs, outputOptions)
        let result: ZeroShot.Result
        do {
            defer { progress.finish() }
            result = try ZeroShot.evaluate(encoder, task: textTask, split: split)
        }
        if outputOptions.json {
            print(
                ResultJSON.object(
                    "eval",
                    [
                        ("model", .string(checkpoint.path)), ("architecture", .string(encoder.architecture)),
                        ("patches", .array(files.map(ResultJSON.patch))), ("task", .string(task)),
                        ("split", .string(split)), ("accuracy", ResultJSON.percent(result.accuracy)),
                        ("correct", .integer(result.correct)),
                        ("total", .integer(result.total)),
                        // Labels may repeat or be canonically equivalent: a list keeps every class.
                        (
                            "per_class",
                            .array(
                                zip(textTask.labels, result.perClass).map { label, counts in
                                    .object([
                                        ("label", .string(label)), ("correct", .integer(counts.correct)),
                                        ("total", .integer(counts.total)),
                                        (
                                            "accuracy",
                                            ResultJSON.percent(
                                                counts.total == 0 ? nil : Double(counts.correct) / Double(counts.total))
                                        ),
                                    ])
                                })
                        ),
                    ]
                ).pretty())
        } else {
            print(
                """
                \(task) (\(split)): accuracy \(Format.fixed(result.accuracy * 100, 2)) % (\(result.correct) of \
                \(result.total)), \(Format.plural(textTask.labels.count, "class")), \
                \(patches.isEmpty ? "base model" : Format.plural(patches.count, "patch") + " applied")
                """
            )
            var rows: [[String]] = [["class", "correct", "examples", "accuracy"]]
            for (label, counts) in zip(textTask.labels, result.perClass) where counts.total > 0 {
                rows.append([
                    label, "\(counts.correct)", "\(counts.total)",
                    Format.fixed(Double(counts.correct) / Double(counts.total) * 100, 1) + " %",
                ])
            }
            print(Format.table(rows, rightAligned: [1, 2, 3]), terminator: "")
        }
    }
}
