import ArgumentParser
import Foundation
import Checkpoints
import Relevance
import Training

extension ContinualRunner.Method: ExpressibleByArgument {}

struct ContinualCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "continual",
        abstract: "Learn a sequence of tasks with SPU (or a baseline), one patch per task; report accuracy, forgetting and the control set.",
        discussion: """
            For each task in turn: scalpel mask on the model so far, scalpel train under the mask, \\
            RUN/taskK.spatch; then every task seen so far and the control set are evaluated. \\
            --method spu scores with SPU; random-mask, fisher-mask and magnitude-mask keep masks \\
            of the same sizes by other scores; spu-mas-ratio and spu-mas-exclude are SPU weighed \\
            against MAS importance on --generic-text (see scalpel mask --help); full trains \\
            every tensor (no mask). --buffer N \\
            replays N examples of the earlier tasks in each later task's training. \\
            RUN/report.json, RUN/report.md and RUN/report.svg hold the accuracy matrix, the \\
            average accuracy over the seen tasks, forgetting (mean over earlier tasks of best \\
            earlier minus final accuracy), the control accuracy and its drop from the base, \\
            trainable and changed parameter counts, the time, and the settings the patches were \\
            made with. An interrupted run resumes from the last finished task when started \\
            again with the same settings; with other settings it is refused (each named), and \\
            --restart removes the run's files (state.json, report.*, taskK.spatch, \\
            taskK-mask.spatch; no other file) and starts over. Progress goes to stderr.
            """)

    @Argument(help: "The base model: a model folder or its weights file.") var base: String
    @Option(name: .long, parsing: .upToNextOption, help: "The task folders, in order.") var tasks: [String]
    @Option(name: .long, help: "The control task folder (evaluated zero-shot).") var control: String
    @Option(name: .shortAndLong, help: "The run folder.") var output: String
    @Option(name: .long, help: "spu, full, random-mask, fisher-mask, magnitude-mask, spu-mas-ratio or spu-mas-exclude.") var method: ContinualRunner.Method = .spu
    @Option(name: .long, help: "mask: fraction kept per tensor.") var rate: Double = 0.1
    @Option(name: .long, help: "mask: eligible tensors (first-mlp, second-mlp, attention, or globs).") var layers: String = "first-mlp"
    @Flag(inversion: .prefixedNo, help: "mask: include the eligible layers' biases whole.") var denseBias = true
    @Option(name: .long, help: "mask: fraction of the batches scored.") var scoreFraction: Double = 0.25
    @Option(name: .long, help: "train: replay buffer, examples of the earlier tasks (0: no replay).") var buffer: Int = 0
    @OptionGroup var knowledgeAware: KnowledgeAwareOptions
    @OptionGroup var training: TrainingOptions
    @Flag(name: .long, help: "Remove the run's files from the run folder (state.json, report.*, taskK.spatch, taskK-mask.spatch; no other file) and start over.")
    var restart = false

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
        options.scoring = knowledgeAware.applied(to: options.scoring)
        options.scoring.scoreFraction = scoreFraction
        options.scoring.batchSize = training.batch
        options.scoring.seed = training.seed
        options.scoring.logitScale = training.temperature.map { 1 / $0 }
        options.training = training.settings
        options.metadata = [("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime())]
        let report = try ContinualRunner.run(base: base, tasks: tasks, control: control, folder: output, options: options, restart: restart) { line in
            FileHandle.standardError.write(Data("[continual] \(line)\n".utf8))
        }
        let json = ContinualRunner.json(report, method: method.rawValue)
        try AtomicFile.write(Array((json.pretty() + "\n").utf8), to: output + "/report.json")
        let markdown = ContinualReport.markdown(report, method: method.rawValue)
        try AtomicFile.write(Array(markdown.utf8), to: output + "/report.md")
        try AtomicFile.write(Array(ContinualReport.svg(report).utf8), to: output + "/report.svg")
        print(markdown, terminator: "")
    }
}

/// The run's report for people: a Markdown page and an SVG plot.
enum ContinualReport {
    /// The tables of `r`, its settings last: those it recorded, which its patches were made with.
    static func markdown(_ r: ContinualRunner.Report, method: String) -> String {
        var out = "# Continual run: \(method)\n\n"
        var rows: [[String]] = [["after task"] + r.tasks.map { $0 } + ["control"]]
        rows.append(["base (zero-shot)"] + r.taskAccuracyBase.map { Format.fixed($0, 1) } + [Format.fixed(r.controlAccuracyBase, 2)])
        for (k, row) in r.accuracyMatrix.enumerated() {
            rows.append(["\(k + 1) \(r.tasks[k])"] + r.tasks.indices.map { $0 < row.count ? Format.fixed(row[$0], 1) : "" } + [Format.fixed(r.controlAccuracy[k], 2)])
        }
        out += "| " + rows[0].joined(separator: " | ") + " |\n| " + rows[0].map { _ in "---" }.joined(separator: " | ") + " |\n"
        for row in rows.dropFirst() { out += "| " + row.joined(separator: " | ") + " |\n" }
        out += """

            | measure | value |
            | --- | --- |
            | average accuracy over the tasks, base → final | \(Format.fixed(r.taskAccuracyBase.reduce(0, +) / Double(max(r.taskAccuracyBase.count, 1)), 2)) % → \(Format.fixed(r.averageAccuracy, 2)) % |
            | forgetting | \(Format.fixed(r.forgetting, 2)) points |
            | control accuracy, base → final | \(Format.fixed(r.controlAccuracyBase, 2)) % → \(Format.fixed(r.finalControlAccuracy, 2)) % (drop \(Format.fixed(r.controlAccuracyBase - r.finalControlAccuracy, 2))) |
            | trainable parameters (union of the masks; all for full fine-tuning) | \(Format.count(r.trainableParameters)) |
            | changed parameters (union of the patches) | \(Format.count(r.changedParameters)) |
            | time | \(Format.fixed(r.seconds, 1)) s |

            | setting | value |
            | --- | --- |

            """
        for (name, value) in r.settings.values { out += "| \(name) | \(value.replacingOccurrences(of: "|", with: "\\|")) |\n" }
        return out
    }

    /// Average accuracy over the seen tasks and control accuracy after each task.
    static func svg(_ r: ContinualRunner.Report) -> String {
        let width = 480.0, height = 300.0, left = 50.0, bottom = 40.0, top = 20.0, right = 20.0
        let n = max(r.accuracyMatrix.count, 1)
        func x(_ k: Int) -> Double { left + (width - left - right) * Double(k) / Double(max(n, 1)) }
        func y(_ value: Double) -> Double { height - bottom - (height - top - bottom) * value / 100 }
        let average = [Optional<Double>.none] + r.accuracyMatrix.map { $0.reduce(0, +) / Double(max($0.count, 1)) }
        let control = [r.controlAccuracyBase] + r.controlAccuracy
        func line(_ values: [Double?], _ color: String) -> String {
            let points = values.enumerated().compactMap { k, v in v.map { "\(x(k)),\(y($0))" } }.joined(separator: " ")
            return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>"
        }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        for tick in stride(from: 0, through: 100, by: 25) {
            out += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(Double(tick)))\" y2=\"\(y(Double(tick)))\" stroke=\"#ddd\"/><text x=\"\(left - 8)\" y=\"\(y(Double(tick)) + 4)\" text-anchor=\"end\">\(tick)</text>\n"
        }
        for k in 0...n { out += "<text x=\"\(x(k))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">\(k == 0 ? "base" : "task \(k)")</text>\n" }
        out += line(average, "#1f77b4") + "\n" + line(control.map { $0 }, "#d62728") + "\n"
        out += "<text x=\"\(left + 8)\" y=\"\(top + 4)\" fill=\"#1f77b4\">average accuracy on the tasks seen (%)</text>\n"
        out += "<text x=\"\(left + 8)\" y=\"\(top + 18)\" fill=\"#d62728\">control accuracy (%)</text>\n</svg>\n"
        return out
    }
}
