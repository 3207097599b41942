import Checkpoints
import Foundation
import Models
import Patches
import Relevance
import Tensors

/// A continual sequence of tasks: for each task in turn, a mask on the model so far (SPU or an
/// ablation; none for full fine-tuning), training under it, a patch `taskK.spatch` in the run
/// folder; then every task seen so far and the control set are evaluated. The run's state and
/// settings are saved after each task, so an interrupted run resumes from the last finished
/// one, under the same settings only.
public enum ContinualRunner {
    /// How each task's update is found.
    public enum Method: String, CaseIterable, Sendable {
        /// Masks scored by SPU (|Σ gradient| of the output-norm loss).
        case spu
        /// No mask: every tensor of the encoder trains.
        case full
        /// Seeded random masks of the same sizes (the ablation).
        case randomMask = "random-mask"
        /// Masks of the largest mean squared gradients.
        case fisherMask = "fisher-mask"
        /// Masks of the largest weights.
        case magnitudeMask = "magnitude-mask"
        /// Masks by SPU relevance over MAS importance on generic text (knowledge-aware).
        case spuMASRatio = "spu-mas-ratio"
        /// SPU masks that may not take the weights most important on generic text (knowledge-aware).
        case spuMASExclude = "spu-mas-exclude"

        /// The score of its masks; nil for full fine-tuning, which has none.
        public var score: ScoreMethod? {
            switch self {
            case .spu: .spu
            case .full: nil
            case .randomMask: .random
            case .fisherMask: .fisher
            case .magnitudeMask: .magnitude
            case .spuMASRatio: .spuMASRatio
            case .spuMASExclude: .spuMASExclude
            }
        }
    }

    /// How each task of the sequence is learned and measured (the defaults are SPU's).
    public struct Options: Sendable {
        /// How each task's mask is chosen (or none, for full fine-tuning).
        public var method = Method.spu
        /// The fraction of each eligible tensor a mask keeps, in (0, 1].
        public var rate = 0.1
        /// The eligible tensors (LayerGroup): a group name or globs.
        public var layers = "first-mlp"
        /// How relevance is scored.
        public var scoring = RelevanceScorer.Settings()
        /// Whether the biases of the masked Linear layers train whole (the paper's choice).
        public var denseBias = true
        /// How each task trains.
        public var training = MaskedTrainer.Settings()
        /// Experience replay: this many training examples of the earlier tasks join each
        /// later task's training set (0: none).
        public var replayBuffer = 0
        /// The protocol of the progress lines and of report.json's "protocol" (both are
        /// always measured and reported; the choice changes no patch).
        public var evaluation = EvaluationProtocol.classIncremental
        /// Recorded in every patch and mask the run writes.
        public var metadata: [(String, String)] = []
        /// The defaults.
        public init() {}
    }

    /// What the run has measured so far (saved as state.json, and the final report.json): which
    /// test items each model state classifies correctly under each protocol; every figure is
    /// computed from these (`metrics`, `control`).
    public struct Report: Sendable {
        /// The tasks' folder names, in sequence order.
        public var tasks: [String]
        /// State 0 is the base model, then one state per finished task.
        public var states: [StateOutcomes]
        /// Elements the masks let train, summed over the finished tasks.
        public var trainableParameters: Int
        /// Elements the patches change, summed over the finished tasks.
        public var changedParameters: Int
        /// Wall-clock time of the run so far (resumed runs add up).
        public var seconds: Double
        /// What the run's patches were made with (its recorded settings).
        public var settings = ContinualSettings(values: [])

        /// A report as measured, or as state.json stores it.
        public init(
            tasks: [String], states: [StateOutcomes], trainableParameters: Int, changedParameters: Int, seconds: Double,
            settings: ContinualSettings = ContinualSettings(values: [])
        ) {
            self.tasks = tasks
            self.states = states
            self.trainableParameters = trainableParameters
            self.changedParameters = changedParameters
            self.seconds = seconds
            self.settings = settings
        }

        /// Tasks learned so far.
        public var finishedTasks: Int { max(states.count - 1, 0) }
        /// counts[s][i]: task i's test items in state s under `evaluation`.
        public func counts(_ evaluation: EvaluationProtocol) -> [[ItemCount]] {
            states.map { $0.tasks(evaluation).map(ItemCount.init) }
        }
        /// The figures under `evaluation`.
        public func metrics(_ evaluation: EvaluationProtocol) -> ProtocolMetrics {
            ProtocolMetrics(counts: counts(evaluation))
        }
        /// The control set's figures.
        public var control: ControlMetrics { ControlMetrics(counts: states.map { ItemCount($0.control) }) }
    }

    /// Runs `tasks` in order from `base` in `folder`, evaluating each state on the tasks seen
    /// and on `control`. A folder that holds a run resumes it after its last finished task,
    /// only when the settings it recorded (`ContinualSettings`) equal these; `restart` first
    /// removes the run's files (`ContinualRunFolder`, nothing else) and starts over.
    /// - Throws: `FileError` naming state.json or the folder when the run there cannot be
    ///   resumed: other settings (each named, recorded → new), no record of them (an older
    ///   Scalpel), files of a run without its state, a damaged state or a missing patch;
    ///   and what reading the inputs, masking, training or evaluating throws.
    public static func run(
        base: String, tasks: [String], control: String, folder: String, options: Options, restart: Bool = false,
        trainingStep: ((MaskedTrainer.StepProgress) -> Void)? = nil,
        progress: (String) -> Void
    ) throws -> Report {
        // The settings first: an unreadable input is refused before anything is removed.
        let settings = try ContinualSettings(base: base, tasks: tasks, control: control, options: options)
        if restart {
            let removed = try ContinualRunFolder.discard(folder)
            if !removed.isEmpty { progress("restart: removed " + removed.joined(separator: ", ")) }
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let statePath = folder + "/state.json"
        let names = tasks.map { URL(fileURLWithPath: $0).lastPathComponent }
        let evaluator = try ContinualEvaluator(tasks: tasks, control: control)
        let headline = options.evaluation
        func summary(_ report: Report) -> String {
            let k = report.finishedTasks
            let figures =
                k == 0 ? report.metrics(headline).taskAccuracyBase : report.metrics(headline).accuracyMatrix[k - 1]
            return figures.map { String(format: "%.1f", $0) }.joined(separator: " ")
                + " % (\(headline.rawValue)-incremental), control "
                + String(format: "%.2f", report.control.accuracy) + " %"
        }
        var report: Report
        if let saved = try resumed(folder, settings: settings, method: options.method, evaluator: evaluator) {
            report = saved
            progress("resuming after task \(saved.finishedTasks)")
        } else {
            let start = Date()
            report = Report(
                tasks: names, states: [try evaluate(base: base, patches: [], evaluator, seen: 0)],
                trainableParameters: 0, changedParameters: 0, seconds: 0, settings: settings)
            report.seconds = Date().timeIntervalSince(start)
            try save(report, method: options.method, evaluation: headline, to: statePath)
            progress("base model: tasks " + summary(report))
        }
        for (k, task) in tasks.enumerated() where k >= report.finishedTasks {
            let start = Date()
            let earlier = (0..<k).map { folder + "/task\($0 + 1).spatch" }
            let patch = folder + "/task\(k + 1).spatch"
            var mask: String?
            if let score = options.method.score {
                mask = folder + "/task\(k + 1)-mask.spatch"
                progress("task \(k + 1) of \(tasks.count) (\(names[k])): mask")
                var scoring = options.scoring
                scoring.method = score
                _ = try SPUSteps.mask(
                    base: base, patches: earlier, task: task, rate: options.rate, layers: options.layers,
                    settings: scoring,
                    denseBias: options.denseBias, metadata: options.metadata, to: mask!)
            }
            progress("task \(k + 1) of \(tasks.count) (\(names[k])): train")
            let trained = try SPUSteps.train(
                base: base, patches: earlier, task: task, mask: mask, replay: Array(tasks.prefix(k)),
                buffer: options.replayBuffer, settings: options.training, metadata: options.metadata, to: patch,
                reporting: SPUSteps.TrainReporting(evaluate: false, step: trainingStep))
            progress("task \(k + 1) of \(tasks.count) (\(names[k])): evaluate")
            let patches = earlier + [patch]
            report.states.append(try evaluate(base: base, patches: patches, evaluator, seen: k + 1))
            let masks = (0...k).map { folder + "/task\($0 + 1)-mask.spatch" }
            report.trainableParameters =
                options.method == .full ? trained.trainableElements : try changedElements(masks)
            report.changedParameters = try changedElements(patches)
            report.seconds += Date().timeIntervalSince(start)
            try save(report, method: options.method, evaluation: headline, to: statePath)
            let counts = report.counts(headline)
            if counts.count > k + 1, counts[k].count > k, counts[k + 1].count > k {
                let control = report.control
                progress(
                    """
                    task \(k + 1) (\(names[k])): test accuracy \(String(format: "%.1f", counts[k][k].percent)) % \
                    before, 
                    """
                        + """
                        \(String(format: "%.1f", counts[k + 1][k].percent)) % after \
                        (\(headline.rawValue)-incremental); control 
                        """
                            + """
                            \(String(format: "%.2f", control.accuracy)) %, \(String(format: "%+.2f", -control.drop)) \
                            points from the base
                            """
                )
            }
            progress("task \(k + 1): " + summary(report))
        }
        return report
    }

    /// The outcomes of base + patches, the state after `seen` tasks.
    static func evaluate(base: String, patches: [String], _ evaluator: ContinualEvaluator, seen: Int) throws
        -> StateOutcomes
    {
        let checkpoint = try Checkpoint.open(base)
        let replacements = try PatchApplier.patchedTensors(model: checkpoint, patches: patches.map(PatchFile.open))
        let encoder = try Architecture.encoder(
            checkpoint, replacements: replacements, folder: PatchedModel.folder(of: base))
        return try evaluator.outcomes(encoder, seen: seen)
    }

    /// Elements the patches (or masks) touch: the union of their positions.
    static func changedElements(_ patches: [String]) throws -> Int {
        var positions: [String: Set<Int>] = [:]
        for path in patches {
            let patch = try PatchFile.open(path)
            for entry in patch.entries { positions[entry.name, default: []].formUnion(try patch.positions(entry)) }
        }
        return positions.values.reduce(0) { $0 + $1.count }
    }
}
