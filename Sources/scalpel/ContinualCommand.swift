import ArgumentParser
import Checkpoints
import Foundation
import Relevance
import Tensors
import Training

extension ContinualRunner.Method: ExpressibleByArgument {}
extension EvaluationProtocol: ExpressibleByArgument {}

struct ContinualCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "continual",
        abstract:
            """
            Learn a sequence of tasks with SPU (or a baseline), one patch per task; report accuracy, forgetting \
            and the control set.
            """,
        discussion: """
            For each task in turn: scalpel mask on the model so far, scalpel train under the \
            mask, RUN/taskK.spatch; then every task and the control set are evaluated. \
            --method spu scores with SPU; random-mask, fisher-mask and magnitude-mask keep masks \
            of the same sizes by other scores; spu-mas-ratio and spu-mas-exclude are SPU weighed \
            against MAS importance on --generic-text (see scalpel mask --help); full trains \
            every tensor (no mask). --buffer N replays N examples of the earlier tasks in each \
            later task's training.

            Evaluation follows --protocol: class (the default, as the method's paper measures: \
            after task k every seen task's test items are classified among the classes of all \
            seen tasks) or task (each task among its own classes); report.json holds both. \
            RUN/report.json, RUN/report.md and RUN/report.svg hold the accuracy matrix, the \
            average accuracy over the seen tasks' items, forgetting (mean over earlier tasks of \
            best earlier minus final accuracy), learning accuracy (each task right after it was \
            learned), accuracy on the tasks not yet learned, the control accuracy and its drop \
            from the base, each with a 95 % bootstrap interval over the test items, trainable \
            and changed parameter counts, the time, and the settings the patches were made with.

            An interrupted run resumes from the last finished task when started again with the \
            same settings; with other settings it is refused (each named), and --restart \
            removes the run's files (state.json, report.*, taskK.spatch, taskK-mask.spatch; no \
            other file) and starts over. Progress goes to stderr.
            """)

    @Argument(help: "The base model: a model folder or its weights file.")
    var base: String
    @Option(name: .long, parsing: .upToNextOption, help: "The task folders, in order.")
    var tasks: [String]
    @Option(name: .long, help: "The control task folder (evaluated zero-shot).")
    var control: String
    @Option(name: .shortAndLong, help: "The run folder.")
    var output: String
    @Option(name: .long, help: "spu, full, random-mask, fisher-mask, magnitude-mask, spu-mas-ratio or spu-mas-exclude.")
    var method: ContinualRunner.Method = .spu
    @Option(name: .long, help: "mask: fraction kept per tensor.")
    var rate: Double = 0.1
    @Option(name: .long, help: "mask: eligible tensors (first-mlp, second-mlp, attention, or globs).")
    var layers: String = "first-mlp"
    @Flag(inversion: .prefixedNo, help: "mask: include the eligible layers' biases whole.")
    var denseBias = true
    @Option(name: .long, help: "mask: fraction of the batches scored.")
    var scoreFraction: Double = 0.25
    @Option(name: .long, help: "train: replay buffer, examples of the earlier tasks (0: no replay).")
    var buffer: Int = 0
    @Option(
        name: .customLong("protocol"),
        help: "class or task: how the tasks' test items are classified in the report's headline (both are measured).")
    var evaluation: EvaluationProtocol = .classIncremental
    @OptionGroup var knowledgeAware: KnowledgeAwareOptions
    @OptionGroup var training: TrainingOptions
    @Flag(
        name: .long,
        help:
            """
            Remove the run's files from the run folder (state.json, report.*, taskK.spatch, taskK-mask.spatch; no \
            other file) and start over.
            """
    )
    var restart = false
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if tasks.isEmpty { throw ValidationError("give the tasks with --tasks T1 T2 ...") }
        if buffer < 0 { throw ValidationError("--buffer must not be negative") }
        if !(rate > 0 && rate <= 1) { throw ValidationError("--rate must be in (0, 1], got \(rate)") }
        if !(scoreFraction > 0 && scoreFraction <= 1) { throw ValidationError("--score-fraction must be in (0, 1]") }
        try knowledgeAware.validate(score: method.score, rate: rate)
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        var options = ContinualRunner.Options()
        options.method = method
        options.rate = rate
        options.layers = layers
        options.denseBias = denseBias
        options.replayBuffer = buffer
        options.evaluation = evaluation
        options.scoring = knowledgeAware.applied(to: options.scoring)
        options.scoring.scoreFraction = scoreFraction
        options.scoring.batchSize = training.batch
        options.scoring.seed = training.seed
        options.scoring.logitScale = training.temperature.map { 1 / $0 }
        options.training = training.settings
        options.metadata = [("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime())]
        for task in tasks where TaskIdentity.same(task, control) {
            Format.warning(
                """
                the control \(control) is also a task of the sequence (\(task)): its drop measures learning that \
                task, not forgetting what the model knew
                """
            )
        }
        let quiet = outputOptions.quiet
        let progress = TrainingProgress("continual: train", quiet: quiet)
        let report: ContinualRunner.Report
        do {
            defer { progress.finish() }
            report = try ContinualRunner.run(
                base: base, tasks: tasks, control: control, folder: output, options: options, restart: restart,
                trainingStep: progress.step
            ) { line in
                // Task folder names reach the terminal: escaped (by `say`).
                progress.say("[continual] \(line)")
            }
        }
        let json = ContinualRunner.json(report, method: method.rawValue, evaluation: evaluation)
        try AtomicFile.write(Array((json.pretty() + "\n").utf8), to: output + "/report.json")
        let markdown = ContinualReport.markdown(report, json: json, method: method.rawValue, evaluation: evaluation)
        try AtomicFile.write(Array(markdown.utf8), to: output + "/report.md")
        try AtomicFile.write(
            Array(ContinualReport.svg(report, json: json, evaluation: evaluation).utf8), to: output + "/report.svg")
        outputOptions.emit(
            "continual", [("output", .string(output)), ("base", .string(base)), ("report", json)], text: markdown)
    }
}
