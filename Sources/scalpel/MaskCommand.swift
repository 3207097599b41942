import ArgumentParser
import Checkpoints
import Foundation
import Patches
import Relevance
import Training

extension ScoreMethod: ExpressibleByArgument {}

struct MaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mask",
        abstract: "Score the eligible weights by their relevance to a task and keep the top fraction: a mask.",
        discussion: """
            SPU (the default): the score of a weight is the absolute value of its gradient summed \
            over the first --score-fraction of the task's training batches (shuffled with --seed), \
            of the output-norm loss: the mean over the batch's texts of the squared L2 norm of \
            their logits against the task's class prompts (scale 20). Each eligible tensor keeps \
            its own top --rate entries (equal scores: lower positions first); the eligible layers' \
            biases are included whole unless --no-dense-bias. Eligible (--layers): first-mlp (the \
            first MLP linear of every layer, intermediate.dense: the default), second-mlp \
            (output.dense), attention (query, key, value and attention.output.dense), or globs \
            over tensor names (e.g. '*.layer.5.*.weight'), comma-separated. fisher (mean \
            squared gradient), magnitude and random exist for comparison. \
            Knowledge-aware scores weigh the task against what the model knows, its MAS \
            importance on generic text (--generic-text: mean over its first --generic-examples \
            texts of |d ||p||^2 / dw|, p the embedding before its L2 normalisation): \
            spu-mas-ratio scores SPU relevance / (importance + 0.1 x the tensor's mean importance); \
            spu-mas-exclude keeps SPU's ranking but never selects the --protected-fraction of each \
            tensor most important on the generic text. Both keep the same count per tensor.
            """)

    @Argument(help: "The base model: a model folder or its weights file.")
    var base: String
    @Argument(help: "Patches applied first, in order (earlier tasks): the mask is for the patched model.")
    var patches: [String] = []
    @Option(name: .long, help: "The task folder (classes.txt, train.jsonl or train.npz).")
    var task: String
    @Option(name: .shortAndLong, help: "The mask to write (.spatch).")
    var output: String
    @Option(name: .long, help: "The fraction of each eligible tensor kept, in (0, 1].")
    var rate: Double = 0.1
    @Option(
        name: .long,
        help: "Eligible tensors: first-mlp, second-mlp, attention, or globs over tensor names, comma-separated.")
    var layers: String = "first-mlp"
    @Option(
        name: .long, help: "spu, fisher, magnitude, random, or the knowledge-aware spu-mas-ratio or spu-mas-exclude.")
    var score: ScoreMethod = .spu
    @Option(name: .long, help: "The fraction of the training batches the gradient is summed over, in (0, 1].")
    var scoreFraction: Double = 0.25
    @Option(name: .long, help: "Inputs per scoring batch.")
    var batch: Int = 32
    @Option(name: .long, help: "The seed of the shuffle (and of --score random).")
    var seed: UInt64 = 0
    @Flag(inversion: .prefixedNo, help: "Include the eligible layers' biases whole.")
    var denseBias = true
    @Option(
        name: .long,
        help:
            """
            Similarity temperature of the loss (default: the checkpoint's learned logit scale, as CLIP has; else \
            0.05).
            """
    )
    var temperature: Float?
    @OptionGroup var knowledgeAware: KnowledgeAwareOptions
    @OptionGroup var overwriteOption: OverwriteOption
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        try ArgumentRoles.check(
            model: base, patches: patches, usage: "scalpel mask BASE [PATCH...] --task TASK -o MASK")
        if let temperature, !(temperature > 0) {
            throw ValidationError("--temperature must be positive, got \(temperature)")
        }
        if !(rate > 0 && rate <= 1) { throw ValidationError("--rate must be in (0, 1], got \(rate)") }
        if !(scoreFraction > 0 && scoreFraction <= 1) {
            throw ValidationError("--score-fraction must be in (0, 1], got \(scoreFraction)")
        }
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        try knowledgeAware.validate(score: score, rate: rate)
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        try overwriteOption.prepare(
            outputs: [output], inputs: [base] + patches + [knowledgeAware.genericText].compactMap { $0 })
        var settings = knowledgeAware.applied(to: RelevanceScorer.Settings())
        settings.method = score
        settings.scoreFraction = scoreFraction
        settings.batchSize = batch
        settings.seed = seed
        settings.logitScale = temperature.map { 1 / $0 }
        let progress = ProgressDisplay.counting("mask: scoring batches", total: 0, unit: .steps, outputOptions)
        let summary: SPUSteps.MaskSummary
        do {
            defer { progress.finish() }
            summary = try SPUSteps.mask(
                base: base, patches: patches, task: task, rate: rate, layers: layers, settings: settings,
                denseBias: denseBias,
                metadata: [("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime())],
                to: output)
        }
        outputOptions.emit(
            "mask",
            [
                ("output", .string(output)), ("patch_id", ResultJSON.writtenPatchID(output)), ("base", .string(base)),
                ("patches", .array(try patches.map { ResultJSON.patch(try PatchFile.open($0)) })),
                ("task", .string(task)),
                ("score", .string(score.rawValue)), ("rate", .number(rate)), ("layers", .string(layers)),
                ("tensors_touched", .integer(summary.tensors)), ("elements_selected", .integer(summary.kept)),
                ("elements_eligible", .integer(summary.eligible)),
                ("parameter_count", .integer(summary.modelParameters)),
            ],
            text:
                """
                wrote \(output): \(score.rawValue) mask of \(Format.plural(summary.tensors, "tensor")), \
                \(Format.count(summary.kept)) of \(Format.count(summary.eligible)) eligible elements \
                (\(Format.fixed(Double(summary.kept) / Double(max(summary.eligible, 1)) * 100, 2)) %), \
                \(Format.fixed(Double(summary.kept) / Double(max(summary.modelParameters, 1)) * 100, 3)) % of the \
                model
                """
        )
    }
}
