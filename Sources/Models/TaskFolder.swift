import Checkpoints
import Foundation
import Tensors

/// A classification task, as a folder: `classes.txt` (one class per line, `label<TAB>prompt`)
/// and, for text, `train.jsonl` / `test.jsonl` (one `{"text": ..., "label": ...}` per line,
/// the label a class label from classes.txt or its 0-based index) or, for images,
/// `train.npz` / `test.npz` (`images` float32 (N, 3, H, H), already preprocessed, and `labels`
/// int64 indexing the classes in file order). The text files may have LF or CRLF line
/// endings and a byte-order mark (`TextFile`). Every problem is an error naming the file and
/// the line or the array.
public struct TaskFolder: Sendable {
    /// One text example of a split.
    public struct Example: Sendable, Equatable {
        /// The example's text.
        public let text: String
        /// The class, as a 0-based index into `labels`.
        public let label: Int
    }

    /// The task's folder.
    public let folder: String
    /// The class labels, in classes.txt's order (a class's index is its position here).
    public let labels: [String]
    /// Each class's prompt, parallel to `labels` (what zero-shot classification embeds).
    public let prompts: [String]

    /// Reads the task's classes from `folder`/classes.txt (blank lines skipped).
    /// - Throws: `ModelError` naming classes.txt: missing or unreadable, not UTF-8 or with a
    ///   lone CR (naming the line), a line that is not label<TAB>prompt, a class twice, or
    ///   fewer than two classes.
    public init(folder: String) throws {
        self.folder = folder
        let path = folder + "/classes.txt"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError(path, "is missing: a task folder needs classes.txt (label<TAB>prompt per line)")
        }
        var labels: [String] = []
        var prompts: [String] = []
        for (number, line) in try TextFile.lines(path).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ModelError(path, "line \(number + 1): expected label<TAB>prompt, got \"\(trimmed.prefix(60))\"")
            }
            let label = String(parts[0])
            // Labels are names: compared by their bytes, not by Unicode equivalence.
            guard !labels.contains(where: { $0.utf8.elementsEqual(label.utf8) }) else {
                throw ModelError(path, "line \(number + 1): class \"\(label)\" appears twice")
            }
            labels.append(label)
            prompts.append(String(parts[1]).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard labels.count >= 2 else {
            throw ModelError(
                path, "has \(labels.count) class\(labels.count == 1 ? "" : "es"); a task needs at least two")
        }
        self.labels = labels
        self.prompts = prompts
    }

    /// Whether the folder holds `split` ("train" or "test"), as text or images.
    public func hasSplit(_ split: String) -> Bool {
        ["jsonl", "npz"].contains { FileManager.default.fileExists(atPath: folder + "/\(split).\($0)") }
    }

    /// True when the split's examples are images (`split.npz`, and no `split.jsonl`) rather than texts.
    public func hasImages(_ split: String) -> Bool {
        FileManager.default.fileExists(atPath: folder + "/\(split).npz")
            && !FileManager.default.fileExists(atPath: folder + "/\(split).jsonl")
    }

    /// The images and labels of `split` ("train" or "test") from `split.npz`: each image
    /// 3 · H · W floats, channel-major.
    /// - Throws: `ModelError` naming `split.npz`: unreadable as a checkpoint, no float32 (N, 3, H, H) `images`, no
    ///   int64 or int32 `labels` of shape [N], or a label outside the classes.
    public func images(_ split: String) throws -> (images: [[Float]], labels: [Int], size: Int) {
        let path = folder + "/\(split).npz"
        let archive = try Checkpoint.open(path)
        let (images, size) = try ImageFile.images(in: archive)
        guard let labels = archive.entry(named: "labels") else {
            throw ModelError(
                path,
                """
                needs an array \"labels\" beside \"images\"; it has \
                \(archive.tensors.map(\.name).joined(separator: ", "))
                """
            )
        }
        guard [.i64, .i32].contains(labels.dtype), labels.shape == [images.count] else {
            throw ModelError(
                path,
                """
                \"labels\" must be int64 of shape [\(images.count)], not \(labels.dtype.rawValue) \
                \(Shape.describe(labels.shape))
                """
            )
        }
        // Read as the integers they are (through Float, a large int64 would round, and one
        // past Int's range would trap converting back).
        let view = archive.view(labels)
        let indices: [Int64] = view.withBytes { raw in
            (0..<view.elementCount).map { i in
                view.dtype == .i64
                    ? Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
                    : Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
            }
        }
        if let bad = indices.firstIndex(where: { $0 < 0 || $0 >= Int64(self.labels.count) }) {
            throw ModelError(
                path, "\"labels\"[\(bad)] is \(indices[bad]), outside the \(self.labels.count) classes of classes.txt")
        }
        return (images, indices.map { Int($0) }, size)
    }

    /// The text examples of `split` ("train" or "test"), from `split`.jsonl (blank lines
    /// skipped).
    /// - Throws: `ModelError` naming the file: missing or unreadable, and naming the line: not
    ///   UTF-8, a lone CR, not a JSON object, no "text" string, or no label of a class.
    public func examples(_ split: String) throws -> [Example] {
        let path = folder + "/\(split).jsonl"
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError(path, "is missing") }
        var out: [Example] = []
        for (number, line) in try TextFile.lines(path).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let place = "line \(number + 1)"
            guard let json = try? JSONValue.parse(line), json.objectMembers != nil else {
                throw ModelError(path, "\(place): not a JSON object")
            }
            guard let exampleText = json["text"]?.stringValue else {
                throw ModelError(path, "\(place): no \"text\" string")
            }
            let label: Int
            switch json["label"] {
            case .string(let name)?:
                guard let index = labels.firstIndex(where: { $0.utf8.elementsEqual(name.utf8) }) else {
                    throw ModelError(
                        path,
                        """
                        \(place): label \"\(name)\" is not a class in classes.txt \
                        (\(labels.prefix(5).joined(separator: ", "))\(labels.count > 5 ? ", ..." : ""))
                        """
                    )
                }
                label = index
            case .integer(let index)?:
                guard labels.indices.contains(index) else {
                    throw ModelError(path, "\(place): label \(index) is outside the \(labels.count) classes")
                }
                label = index
            default:
                throw ModelError(path, "\(place): no \"label\" (a class label or index)")
            }
            out.append(Example(text: exampleText, label: label))
        }
        guard !out.isEmpty else { throw ModelError(path, "has no examples") }
        return out
    }
}

/// One input of a task: a text, or a preprocessed image (3 · H · W floats, channel-major).
public enum EncoderInput: Sendable, Hashable {
    /// A text example.
    case text(String)
    /// A preprocessed image: 3 · H · H floats, channel-major.
    case image([Float])
}

extension TaskFolder {
    /// The inputs and labels of `split`, images when the split is `split.npz`, else texts.
    /// - Throws: `ModelError` as `images(_:)` or `examples(_:)` does.
    public func inputs(_ split: String) throws -> (inputs: [EncoderInput], labels: [Int]) {
        if hasImages(split) {
            let data = try images(split)
            return (data.images.map(EncoderInput.image), data.labels)
        }
        let examples = try examples(split)
        return (examples.map { .text($0.text) }, examples.map(\.label))
    }

    /// The file holding `split`'s data (`split.npz` for images, else `split.jsonl`).
    public func dataFile(_ split: String) -> String {
        folder + "/\(split)." + (hasImages(split) ? "npz" : "jsonl")
    }
}
