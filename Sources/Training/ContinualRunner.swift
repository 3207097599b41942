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

    public struct Options: Sendable {
        public var method = Method.spu
        public var rate = 0.1
        /// The eligible tensors (LayerGroup): a group name or globs.
        public var layers = "first-mlp"
        public var scoring = RelevanceScorer.Settings()
        public var denseBias = true
        public var training = MaskedTrainer.Settings()
        /// Experience replay: this many training examples of the earlier tasks join each
        /// later task's training set (0: none).
        public var replayBuffer = 0
        public var metadata: [(String, String)] = []
        public init() {}
    }

    /// What the run has measured so far (saved as state.json, and the final report.json).
    public struct Report: Sendable {
        public var tasks: [String]
        /// Row k: accuracy (percent) on tasks 1…k+1 after training task k+1.
        public var accuracyMatrix: [[Double]]
        /// Zero-shot accuracy (percent) of the base on each task.
        public var taskAccuracyBase: [Double]
        public var controlAccuracyBase: Double
        /// Control accuracy after each task.
        public var controlAccuracy: [Double]
        public var trainableParameters: Int
        public var changedParameters: Int
        public var seconds: Double
        /// What the run's patches were made with (its recorded settings).
        public var settings = ContinualSettings(values: [])

        public var averageAccuracy: Double { accuracyMatrix.last.map { $0.reduce(0, +) / Double(max($0.count, 1)) } ?? 0 }
        /// Mean over the earlier tasks of (best accuracy before the end − final accuracy).
        public var forgetting: Double {
            guard let last = accuracyMatrix.last, accuracyMatrix.count > 1 else { return 0 }
            let drops = (0..<(last.count - 1)).map { j in
                (accuracyMatrix.dropLast().compactMap { $0.count > j ? $0[j] : nil }.max() ?? last[j]) - last[j]
            }
            return drops.reduce(0, +) / Double(max(drops.count, 1))
        }
        public var finalControlAccuracy: Double { controlAccuracy.last ?? controlAccuracyBase }
    }

    /// Runs `tasks` in order from `base` in `folder`, evaluating each state on the tasks seen
    /// and on `control`. A folder that holds a run resumes it after its last finished task,
    /// only when the settings it recorded (`ContinualSettings`) equal these; `restart` first
    /// removes the run's files (`ContinualRunFolder`, nothing else) and starts over.
    /// - Throws: `FileError` naming state.json or the folder when the run there cannot be
    ///   resumed: other settings (each named, recorded → new), no record of them (an older
    ///   Scalpel), files of a run without its state, a damaged state or a missing patch;
    ///   and what reading the inputs, masking, training or evaluating throws.
    public static func run(base: String, tasks: [String], control: String, folder: String, options: Options, restart: Bool = false,
                           progress: (String) -> Void) throws -> Report {
        // The settings first: an unreadable input is refused before anything is removed.
        let settings = try ContinualSettings(base: base, tasks: tasks, control: control, options: options)
        if restart {
            let removed = try ContinualRunFolder.discard(folder)
            if !removed.isEmpty { progress("restart: removed " + removed.joined(separator: ", ")) }
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let statePath = folder + "/state.json"
        let names = tasks.map { URL(fileURLWithPath: $0).lastPathComponent }
        var report: Report
        if let saved = try resumed(folder, settings: settings, method: options.method) {
            report = saved
            progress("resuming after task \(saved.accuracyMatrix.count)")
        } else {
            let start = Date()
            report = Report(tasks: names, accuracyMatrix: [], taskAccuracyBase: try tasks.map { try evaluate(base: base, patches: [], task: $0) * 100 },
                            controlAccuracyBase: try evaluate(base: base, patches: [], task: control) * 100,
                            controlAccuracy: [], trainableParameters: 0, changedParameters: 0, seconds: 0, settings: settings)
            report.seconds = Date().timeIntervalSince(start)
            try save(report, method: options.method, to: statePath)
            progress("base model: tasks " + report.taskAccuracyBase.map { String(format: "%.1f", $0) }.joined(separator: " ") + " %, control \(String(format: "%.2f", report.controlAccuracyBase)) %")
        }
        for (k, task) in tasks.enumerated() where k >= report.accuracyMatrix.count {
            let start = Date()
            let earlier = (0..<k).map { folder + "/task\($0 + 1).spatch" }
            let patch = folder + "/task\(k + 1).spatch"
            var mask: String?
            if let score = options.method.score {
                mask = folder + "/task\(k + 1)-mask.spatch"
                progress("task \(k + 1) of \(tasks.count) (\(names[k])): mask")
                var scoring = options.scoring
                scoring.method = score
                _ = try SPUSteps.mask(base: base, patches: earlier, task: task, rate: options.rate, layers: options.layers, settings: scoring,
                                      denseBias: options.denseBias, metadata: options.metadata, to: mask!)
            }
            progress("task \(k + 1) of \(tasks.count) (\(names[k])): train")
            let trained = try SPUSteps.train(base: base, patches: earlier, task: task, mask: mask, replay: Array(tasks.prefix(k)),
                                             buffer: options.replayBuffer, settings: options.training, metadata: options.metadata, to: patch)
            progress("task \(k + 1) of \(tasks.count) (\(names[k])): evaluate")
            let patches = earlier + [patch]
            report.accuracyMatrix.append(try tasks.prefix(k + 1).map { try evaluate(base: base, patches: patches, task: $0) * 100 })
            report.controlAccuracy.append(try evaluate(base: base, patches: patches, task: control) * 100)
            let masks = (0...k).map { folder + "/task\($0 + 1)-mask.spatch" }
            report.trainableParameters = options.method == .full ? trained.trainableElements : try changedElements(masks)
            report.changedParameters = try changedElements(patches)
            report.seconds += Date().timeIntervalSince(start)
            try save(report, method: options.method, to: statePath)
            progress("task \(k + 1): " + report.accuracyMatrix[k].map { String(format: "%.1f", $0) }.joined(separator: " ") + " %, control \(String(format: "%.2f", report.controlAccuracy[k])) %")
        }
        return report
    }

    /// Zero-shot accuracy (0…1) of base + patches on a task's test set.
    static func evaluate(base: String, patches: [String], task: String) throws -> Double {
        let checkpoint = try Checkpoint.open(base)
        let replacements = try PatchApplier.patchedTensors(model: checkpoint, patches: patches.map(PatchFile.open))
        let encoder = try Architecture.encoder(checkpoint, replacements: replacements, folder: PatchedModel.folder(of: base))
        return try ZeroShot.evaluate(encoder, task: TaskFolder(folder: task)).accuracy
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

    public static func json(_ report: Report, method: String) -> JSONValue {
        func number(_ x: Double) -> JSONValue { .number((x * 100).rounded() / 100) }
        return .object([
            ("method", .string(method)), ("tasks", .array(report.tasks.map { .string($0) })),
            ("accuracy_matrix", .array(report.accuracyMatrix.map { .array($0.map(number)) })),
            ("average_accuracy", number(report.averageAccuracy)),
            ("average_accuracy_base", number(report.taskAccuracyBase.reduce(0, +) / Double(max(report.taskAccuracyBase.count, 1)))),
            ("task_accuracy_base", .array(report.taskAccuracyBase.map(number))), ("forgetting", number(report.forgetting)),
            ("control_accuracy_base", number(report.controlAccuracyBase)), ("control_accuracy", number(report.finalControlAccuracy)),
            ("control_accuracy_after_each_task", .array(report.controlAccuracy.map(number))),
            ("control_drop", number(report.controlAccuracyBase - report.finalControlAccuracy)),
            ("trainable_parameters", .integer(report.trainableParameters)), ("changed_parameters", .integer(report.changedParameters)),
            ("seconds", number(report.seconds)), ("settings", report.settings.json),
        ])
    }

    static func save(_ report: Report, method: Method, to path: String) throws {
        try AtomicFile.write(Array(json(report, method: method.rawValue).pretty().utf8), to: path)
    }

    /// The saved state of the run in `folder`, if there is one, when it was made with
    /// `settings`; nil for a folder without a run.
    static func resumed(_ folder: String, settings: ContinualSettings, method: Method) throws -> Report? {
        let path = folder + "/state.json"
        let advice = "start over with --restart (it removes the run's files from \(folder), and no other file), or use another output folder"
        guard FileManager.default.fileExists(atPath: path) else {
            let files = try ContinualRunFolder.runFiles(in: folder)
            guard files.isEmpty else { throw FileError(folder, "holds \(files.joined(separator: ", ")) but no state.json, so there is no run to resume; \(advice)") }
            return nil
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(contentsOf: path)
        } catch let error as FileError {
            throw FileError(path, error.problem + "; " + advice)
        }
        guard let recorded = ContinualSettings(json: json["settings"]) else {
            throw FileError(path, "records no settings (an older Scalpel wrote it), so resuming its run cannot be checked; \(advice)")
        }
        let differences = settings.differences(from: recorded)
        guard differences.isEmpty else {
            throw FileError(path, "the run there was made with other settings:",
                            details: differences.map { "  " + $0 } + ["resume it with the same settings, or " + advice])
        }
        func number(_ value: JSONValue?) -> Double? {
            switch value {
            case .number(let x)?: return x
            case .integer(let i)?: return Double(i)
            default: return nil
            }
        }
        func numbers(_ value: JSONValue?) -> [Double]? {
            guard let items = value?.arrayValue else { return nil }
            let values = items.compactMap(number)
            return values.count == items.count ? values : nil
        }
        let tasks = json["tasks"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let matrix = (json["accuracy_matrix"]?.arrayValue ?? []).map(numbers)
        guard let base = numbers(json["task_accuracy_base"]), base.count == tasks.count, let controlBase = number(json["control_accuracy_base"]),
              let control = numbers(json["control_accuracy_after_each_task"]), matrix.count == control.count, matrix.count <= tasks.count,
              matrix.enumerated().allSatisfy({ $1?.count == $0 + 1 }),
              let trainable = json["trainable_parameters"]?.intValue, let changed = json["changed_parameters"]?.intValue, let seconds = number(json["seconds"]) else {
            throw FileError(path, "is damaged (its accuracies do not fit its list of tasks); \(advice)")
        }
        // Every finished task's files must still be there: the later tasks build on them.
        for k in 0..<matrix.count {
            for file in ["task\(k + 1).spatch"] + (method.score == nil ? [] : ["task\(k + 1)-mask.spatch"])
            where !FileManager.default.fileExists(atPath: folder + "/" + file) {
                throw FileError(folder + "/" + file, "is missing, though state.json records task \(k + 1) as finished; \(advice)")
            }
        }
        return Report(tasks: tasks, accuracyMatrix: matrix.compactMap { $0 }, taskAccuracyBase: base, controlAccuracyBase: controlBase,
                      controlAccuracy: control, trainableParameters: trainable, changedParameters: changed, seconds: seconds, settings: recorded)
    }
}
