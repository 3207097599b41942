import Checkpoints
import Foundation

/// A text classification task, as a folder: `classes.txt` (one class per line,
/// `label<TAB>prompt`) and `train.jsonl` / `test.jsonl` (one `{"text": ..., "label": ...}` per
/// line, the label a class label from classes.txt or its 0-based index). Every problem is an
/// error naming the file and the line.
public struct TextTask: Sendable {
    public struct Example: Sendable, Equatable {
        public let text: String
        public let label: Int
    }

    public let folder: String
    public let labels: [String]
    public let prompts: [String]

    public init(folder: String) throws {
        self.folder = folder
        let path = folder + "/classes.txt"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ModelError(path, FileManager.default.fileExists(atPath: path) ? "is not UTF-8 text" : "is missing: a task folder needs classes.txt (label<TAB>prompt per line)")
        }
        var labels: [String] = [], prompts: [String] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ModelError(path, "line \(number + 1): expected label<TAB>prompt, got \"\(trimmed.prefix(60))\"")
            }
            let label = String(parts[0])
            guard !labels.contains(label) else { throw ModelError(path, "line \(number + 1): class \"\(label)\" appears twice") }
            labels.append(label)
            prompts.append(String(parts[1]).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard labels.count >= 2 else { throw ModelError(path, "has \(labels.count) class\(labels.count == 1 ? "" : "es"); a task needs at least two") }
        self.labels = labels
        self.prompts = prompts
    }

    /// The examples of `split` ("train" or "test").
    public func examples(_ split: String) throws -> [Example] {
        let path = folder + "/\(split).jsonl"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ModelError(path, FileManager.default.fileExists(atPath: path) ? "is not UTF-8 text" : "is missing")
        }
        var out: [Example] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let where_ = "line \(number + 1)"
            guard let json = try? JSONValue.parse(String(line)), json.objectMembers != nil else {
                throw ModelError(path, "\(where_): not a JSON object")
            }
            guard let exampleText = json["text"]?.stringValue else { throw ModelError(path, "\(where_): no \"text\" string") }
            let label: Int
            switch json["label"] {
            case .string(let name)?:
                guard let index = labels.firstIndex(of: name) else {
                    throw ModelError(path, "\(where_): label \"\(name)\" is not a class in classes.txt (\(labels.prefix(5).joined(separator: ", "))\(labels.count > 5 ? ", ..." : ""))")
                }
                label = index
            case .integer(let index)?:
                guard labels.indices.contains(index) else { throw ModelError(path, "\(where_): label \(index) is outside the \(labels.count) classes") }
                label = index
            default:
                throw ModelError(path, "\(where_): no \"label\" (a class label or index)")
            }
            out.append(Example(text: exampleText, label: label))
        }
        guard !out.isEmpty else { throw ModelError(path, "has no examples") }
        return out
    }
}

/// Zero-shot classification: each input goes to the class whose prompt's embedding is the most
/// similar (cosine; the embeddings are normalised, so a dot product).
public enum ZeroShot {
    public struct Result: Sendable {
        public let correct: Int
        public let total: Int
        public let perClass: [(correct: Int, total: Int)]
        public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
    }

    public static func evaluate(_ encoder: TextEncoder, task: TextTask, split: String = "test") throws -> Result {
        let examples = try task.examples(split)
        let classEmbeddings = try encoder.embed(task.prompts).map(\.embedding)
        let inputs = try encoder.embed(examples.map(\.text)).map(\.embedding)
        var perClass = Array(repeating: (correct: 0, total: 0), count: task.labels.count)
        var correct = 0
        for (example, embedding) in zip(examples, inputs) {
            let scores = classEmbeddings.map { zip($0, embedding).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            let predicted = scores.indices.max { scores[$0] < scores[$1] } ?? 0
            perClass[example.label].total += 1
            if predicted == example.label {
                correct += 1
                perClass[example.label].correct += 1
            }
        }
        return Result(correct: correct, total: examples.count, perClass: perClass)
    }
}
