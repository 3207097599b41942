import Foundation
import Testing

@testable import Checkpoints
@testable import Models

/// Text files saved by Windows tools (CRLF line endings, a UTF-8 byte-order mark) read exactly
/// as their LF versions: task folders, vocabularies, configuration JSON; and what cannot be
/// read is refused with the file and the line.
struct WindowsTextTests {
    static func scratch(_ label: String = #function) throws -> String {
        let path = NSTemporaryDirectory() + "scalpel-windows-\(label.filter(\.isLetter))-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes `text` to `path`, its LFs as CRLF and with a byte-order mark when `windows`.
    static func write(_ text: String, to path: String, windows: Bool) throws {
        let bytes =
            windows
            ? [0xEF, 0xBB, 0xBF] + Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8) : Array(text.utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A task over the tiny BERT's made-up words (w4 … w99), LF or Windows style.
    static func task(in folder: String, windows: Bool) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try write("low\tw30 w31\nhigh\tw60 w61\n\nmid\tw45 w46\n", to: folder + "/classes.txt", windows: windows)
        var lines: [String] = []
        for i in 0..<6 {
            lines.append("{\"text\": \"w\(30 + i) w\(31 + i)\", \"label\": \"low\"}")
            lines.append("{\"text\": \"w\(60 + i) w\(61 + i)\", \"label\": 1}")
            lines.append("{\"text\": \"w\(45 + i) w\(44 + i)\", \"label\": \"mid\"}")
            if i == 2 { lines.append("") }
        }
        for split in ["train", "test"] {
            try write(lines.joined(separator: "\n") + "\n", to: folder + "/\(split).jsonl", windows: windows)
        }
        return folder
    }

    /// The tiny BERT in a model folder with vocab.txt and tokenizer_config.json, LF or Windows style.
    static func model(in folder: String, windows: Bool) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: DefaultModel.fixtures + "/tiny_bert.safetensors", toPath: folder + "/model.safetensors")
        let config = try String(contentsOfFile: DefaultModel.fixtures + "/tiny_bert_config.json", encoding: .utf8)
        try write(config, to: folder + "/config.json", windows: windows)
        try write(
            (["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (4..<100).map { "w\($0)" }).joined(separator: "\n") + "\n",
            to: folder + "/vocab.txt", windows: windows)
        try write("{\n  \"do_lower_case\": false\n}\n", to: folder + "/tokenizer_config.json", windows: windows)
        return folder
    }

    @Test func aWindowsTaskFolderReadsAndEvaluatesAsItsLFVersion() throws {
        let root = try Self.scratch()
        let (unix, windows) = (
            try TaskFolder(folder: Self.task(in: root + "/lf", windows: false)),
            try TaskFolder(folder: Self.task(in: root + "/crlf", windows: true))
        )
        #expect(unix.labels == ["low", "high", "mid"] && unix.prompts == ["w30 w31", "w60 w61", "w45 w46"])
        #expect(windows.labels == unix.labels && windows.prompts == unix.prompts)
        #expect(
            Array(windows.labels[0].utf8) == Array("low".utf8)
                && Array(windows.prompts[2].utf8) == Array("w45 w46".utf8))
        for split in ["train", "test"] {
            let examples = try unix.examples(split)
            #expect(examples.count == 18 && examples[1] == .init(text: "w60 w61", label: 1))
            #expect(try windows.examples(split) == examples)
        }
        // The same evaluation, by a model whose own text files are Windows style too.
        let encoders = try [false, true].map {
            try TextEncoder(path: Self.model(in: root + "/model-\($0)", windows: $0))
        }
        #expect(
            encoders[1].tokenizer.vocabulary == encoders[0].tokenizer.vocabulary
                && encoders[0].tokenizer.vocabulary.count == 100)
        #expect(!encoders[0].tokenizer.lowercase && !encoders[1].tokenizer.lowercase)
        let results = try encoders.flatMap { encoder in
            try [unix, windows].map { try ZeroShot.evaluate(encoder, task: $0) }
        }
        #expect(results[0].total == 18)
        for result in results.dropFirst() {
            #expect(
                result.correct == results[0].correct
                    && result.perClass.map(\.correct) == results[0].perClass.map(\.correct))
        }
    }

    @Test func windowsTextThatCannotBeReadIsRefusedWithTheFileAndLine() throws {
        let root = try Self.scratch()
        let folder = try Self.task(in: root + "/task", windows: true)
        // "é" in Latin-1 on line 3 of test.jsonl.
        let bytes =
            Array("{\"text\": \"a\", \"label\": 0}\r\n\r\n{\"text\": \"caf".utf8) + [0xE9]
            + Array("\", \"label\": 1}\r\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/test.jsonl"))
        #expect { try TaskFolder(folder: folder).examples("test") } throws: {
            "\($0)" == folder + "/test.jsonl: line 3: not valid UTF-8 (at byte 14 of the line); save the file as UTF-8"
        }
        // Old Mac line endings in classes.txt.
        try Data(Array("low\tw30\rhigh\tw60\r".utf8)).write(to: URL(fileURLWithPath: folder + "/classes.txt"))
        #expect { try TaskFolder(folder: folder) } throws: {
            "\($0)".hasPrefix(folder + "/classes.txt: line 1: a carriage return (CR) not followed by a line feed (LF)")
        }
        // A vocabulary and a configuration file saved as UTF-16 (Windows' "Unicode").
        func utf16(_ text: String) -> Data {
            Data([0xFF, 0xFE] + Array(text.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        }
        let model = try Self.model(in: root + "/model", windows: true)
        try utf16("[PAD]\n").write(to: URL(fileURLWithPath: model + "/vocab.txt"))
        #expect { try WordPieceTokenizer(vocabularyFile: model + "/vocab.txt") } throws: {
            "\($0)" == model + "/vocab.txt: is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8"
        }
        try utf16("{\"do_lower_case\": false}").write(to: URL(fileURLWithPath: model + "/tokenizer_config.json"))
        #expect { try TextEncoder(path: model) } throws: {
            "\($0)" == model
                + "/tokenizer_config.json: is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8"
        }
        // A configuration file that is not JSON is refused, not passed over (the tokenizer
        // would silently lowercase).
        try Data("do_lower_case: false\n".utf8).write(to: URL(fileURLWithPath: model + "/tokenizer_config.json"))
        #expect { try TextEncoder(path: model) } throws: {
            "\($0)" == model + "/tokenizer_config.json: is not valid JSON: unexpected character 'd' at byte 0"
        }
    }

    /// The real vocabulary, converted to CRLF with a byte-order mark, gives the same ids.
    @Test func theDefaultVocabularyWithCRLFTokenizesIdentically() throws {
        guard DefaultModel.isAvailable else { return }
        let root = try Self.scratch()
        let text = try String(contentsOfFile: DefaultModel.folder + "/vocab.txt", encoding: .utf8)
        try Self.write(text, to: root + "/vocab.txt", windows: true)
        let (unix, windows) = (
            try TokenizerTests.tokenizer(),
            try WordPieceTokenizer(vocabularyFile: root + "/vocab.txt", lowercase: true, maxLength: 256)
        )
        #expect(windows.vocabulary == unix.vocabulary && windows.vocabulary.count == 30_522)
        for item in try DefaultModel.cases("tokenizer_cases.json") { #expect(windows.encode(item.text) == item.ids) }
    }

    /// CLIP's merges, uncompressed, converted to CRLF with a byte-order mark, give the same ids.
    @Test func clipMergesWithCRLFTokenizeIdentically() throws {
        guard CLIPTokenizerTests.isAvailable else { return }
        let root = try Self.scratch()
        let text = String(decoding: try Deflate.gunzip(path: CLIPTokenizerTests.vocabulary), as: UTF8.self)
        try Self.write(text, to: root + "/merges.txt", windows: true)
        let (unix, windows) = (
            try CLIPTokenizer(vocabularyFile: CLIPTokenizerTests.vocabulary),
            try CLIPTokenizer(vocabularyFile: root + "/merges.txt")
        )
        #expect(windows.ranks == unix.ranks && windows.encoder == unix.encoder)
        for text in ["a photo of a cat", "Windows\r\nline endings", "naïve café 😀"] {
            #expect(windows.encode(text) == unix.encode(text))
        }
    }
}
