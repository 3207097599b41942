import Checkpoints
import Foundation
import Models
import Relevance
import Tensors

/// Everything that decides a continual run's result, recorded in its state.json and report.json:
/// a run folder resumes only under the settings it was started with, so that the patches and
/// the report always describe one run.
///
/// Each setting is a name (the command line's option where there is one) and its value as
/// text, compared exactly. The base and the task folders are identified by their contents,
/// not their paths: a moved folder is the same, an edited one is not.
public struct ContinualSettings: Sendable, Equatable {
    /// (name, value), in a fixed order.
    public let values: [(String, String)]

    /// Settings as they are: (name, value) pairs in their order.
    public init(values: [(String, String)]) {
        self.values = values
    }

    /// The settings of a run of `tasks` (then `control`) from `base` with `options`. Mask
    /// settings are left out for full fine-tuning, which has no mask, and the generic text's
    /// (its file's fingerprint, how many texts, the score's parameter) for the scores that do
    /// not read it. Where the scoring and the training settings differ (the command line keeps
    /// them equal), the value shows both.
    /// - Throws: an error naming a file that cannot be read: the base's weights, a task's
    ///   classes.txt or its train or test data (the control's test data), the generic text
    ///   (or one that holds a control text, `ControlSeparation`); `ModelError` naming the
    ///   option for a knowledge-aware method without generic text.
    public init(base: String, tasks: [String], control: String, options: ContinualRunner.Options) throws {
        let t = options.training
        let s = options.scoring
        func both<T: Equatable>(_ training: T, _ scoring: T, _ text: (T) -> String) -> String {
            training == scoring || options.method.score == nil
                ? text(training) : "\(text(training)) (scoring \(text(scoring)))"
        }
        // Scoring takes a logit scale, training a temperature: the same when the scale is 1 / it.
        let model = "the model's"
        var temperature = t.temperature.map { "\($0)" } ?? model
        if options.method.score != nil, t.temperature.map({ 1 / $0 }) != s.logitScale {
            temperature += " (scoring logit scale \(s.logitScale.map { "\($0)" } ?? model))"
        }
        var values: [(String, String)] = [
            ("base weights", try Self.weightsFingerprint(base)),
            ("method", options.method.rawValue),
            ("tasks", JSONValue.array(tasks.map { .string(URL(fileURLWithPath: $0).lastPathComponent) }).serialized),
            (
                "task files",
                try tasks.map { try Self.filesFingerprint($0, splits: ["train", "test"]) }.joined(separator: " ")
            ),
            ("control", URL(fileURLWithPath: control).lastPathComponent),
            ("control files", try Self.filesFingerprint(control, splits: ["test"])),
        ]
        if options.method.score != nil {
            values += [
                ("rate", "\(options.rate)"), ("layers", options.layers), ("dense-bias", "\(options.denseBias)"),
                ("score-fraction", "\(s.scoreFraction)"),
            ]
        }
        if let score = options.method.score, score.usesGenericImportance {
            var scoring = s
            scoring.method = score
            try KnowledgeAwareScores.check(scoring, rate: options.rate)
            let file = s.generic.textFile ?? ""
            // Read now, so a file that is too short, or holds control data, is refused before the run starts.
            let texts = try GenericImportance.texts(file, count: s.generic.examples)
            try ControlSeparation.check(genericTexts: texts, file: file, control: control)
            // The file's contents, not its path: 16 hex digits of its SHA-256 (as sha256sum prints it).
            let fingerprint = try GenericImportance.fingerprint(file)
            values += [
                ("generic text", String(fingerprint.prefix(16))), ("generic-examples", "\(s.generic.examples)"),
                score == .spuMASRatio
                    ? ("importance floor", "\(s.importanceFloor)") : ("protected-fraction", "\(s.protectedFraction)"),
            ]
        }
        values += [
            ("epochs", "\(t.epochs)"), ("lr", "\(t.learningRate)"),
            ("batch", both(t.batchSize, s.batchSize) { "\($0)" }),
            ("weight-decay", "\(t.weightDecay)"), ("warmup", "\(t.warmup)"),
            ("temperature", temperature),
            ("seed", both(t.seed, s.seed) { "\($0)" }),
            ("dropout", "\(t.dropout)"), ("buffer", "\(options.replayBuffer)"),
        ]
        self.values = values
    }

    /// Equal when they hold the same keys and values in the same order, compared by bytes.
    public static func == (a: ContinualSettings, b: ContinualSettings) -> Bool {
        a.values.count == b.values.count
            && zip(a.values, b.values).allSatisfy { $0.0 == $1.0 && $0.1.utf8.elementsEqual($1.1.utf8) }
    }

    /// One line per setting that differs, "name: recorded → new" ("(none)" where one side
    /// has no such setting), in the new settings' order.
    public func differences(from recorded: ContinualSettings) -> [String] {
        func value(_ name: String, in settings: ContinualSettings) -> String? {
            settings.values.first { $0.0 == name }?.1
        }
        let names = values.map(\.0) + recorded.values.map(\.0).filter { name in !values.contains { $0.0 == name } }
        return names.compactMap { name in
            let (old, new) = (value(name, in: recorded), value(name, in: self))
            if let old, let new, old.utf8.elementsEqual(new.utf8) { return nil }
            return "\(name): \(old ?? "(none)") → \(new ?? "(none)")"
        }
    }

    /// The settings as a JSON object of strings (state.json's and report.json's "settings").
    public var json: JSONValue { .object(values.map { ($0, .string($1)) }) }

    /// The settings a JSON object of strings records, or nil when `json` is not one.
    public init?(json: JSONValue?) {
        guard let members = json?.objectMembers else { return nil }
        var values: [(String, String)] = []
        for (name, value) in members {
            guard let text = value.stringValue else { return nil }
            values.append((name, text))
        }
        self.values = values
    }

    /// The first 16 hex digits of the SHA-256 over every tensor's name, dtype, shape and
    /// SHA-256, in name order: the weights, whatever file format or tensor order holds them.
    private static func weightsFingerprint(_ base: String) throws -> String {
        let checkpoint = try Checkpoint.open(base)
        var manifest = ""
        for entry in checkpoint.tensors.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            manifest += "\(entry.name)\t\(entry.dtype.rawValue)\t\(entry.shape)\t\(checkpoint.view(entry).sha256)\n"
        }
        return short(Array(manifest.utf8))
    }

    /// The first 16 hex digits of the SHA-256 over the SHA-256 of each file a task folder's
    /// `splits` are read from (classes.txt, then each split's .jsonl or .npz).
    private static func filesFingerprint(_ folder: String, splits: [String]) throws -> String {
        let task = try TaskFolder(folder: folder)
        var manifest = ""
        for file in [folder + "/classes.txt"] + splits.map(task.dataFile) {
            let mapping = try MappedFile(path: file)
            manifest += URL(fileURLWithPath: file).lastPathComponent + "\t" + Fingerprint.sha256(mapping.bytes) + "\n"
        }
        return short(Array(manifest.utf8))
    }

    private static func short(_ bytes: [UInt8]) -> String {
        String(bytes.withUnsafeBytes { Fingerprint.sha256($0) }.prefix(16))
    }
}
