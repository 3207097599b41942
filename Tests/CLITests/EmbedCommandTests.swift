import Foundation
import Testing

@testable import Checkpoints

/// The default model (fetched by ./test.sh) and the sample task, for the commands that run it.
enum DefaultModelFiles {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let model = root + "/.cache/models/all-MiniLM-L6-v2"
    static let task = root + "/Samples/tasks/topics"

    /// True when the model is there; otherwise the test says it skipped.
    static var isAvailable: Bool {
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else {
            print("skipped: \(model) is missing (./test.sh fetches it)")
            return false
        }
        return true
    }
}

struct EmbedCommandTests {
    static let model = DefaultModelFiles.model

    @Test func embedPrintsNormalisedEmbeddingsAndRefusesBadInput() throws {
        guard DefaultModelFiles.isAvailable else { return }
        let result = try CLI.run([
            "embed", Self.model, "--text", "A man is eating food.", "--text", "A monkey is playing drums.", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONValue.parse(result.stdout)
        #expect(json["dimension"]?.intValue == 384)
        let embeddings = try #require(json["embeddings"]?.arrayValue)
        #expect(embeddings.count == 2 && embeddings[0]["tokens"]?.intValue == 8)
        let values = try #require(embeddings[0]["embedding"]?.arrayValue).compactMap { value -> Double? in
            if case .number(let x) = value { return x }
            return nil
        }
        #expect(values.count == 384 && abs(values.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        let text = try CLI.run(["embed", Self.model, "--text", "hello"])
        #expect(text.stdout.contains("3 tokens") && text.stdout.contains("(384 values)  hello"), "\(text.stdout)")
        let noText = try CLI.run(["embed", Self.model])
        #expect(noText.status != 0 && noText.stderr.contains("--text"))
        let folder = try CLI.scratchFolder()
        let bare = try InspectConvertTests.makeModel(in: folder)
        let notBert = try CLI.run(["embed", bare, "--text", "x"])
        #expect(
            notBert.status != 0 && notBert.stderr.contains("is of no architecture Scalpel runs")
                && notBert.stderr.contains("encoder.layer.0.intermediate.dense.weight"), "\(notBert.stderr)")
        let forced = try CLI.run(["embed", bare, "--text", "x", "--arch", "bert"])
        #expect(
            forced.status != 0 && forced.stderr.contains("no vocab.txt or tokenizer.json beside the weights"),
            "\(forced.stderr)")
    }

    /// --text-file reads Windows text (CRLF, a byte-order mark) as its LF version, and refuses
    /// a lone CR naming the file and line.
    @Test func aWindowsTextFileEmbedsAsItsLFVersion() throws {
        guard DefaultModelFiles.isAvailable else { return }
        let folder = try CLI.scratchFolder()
        try Data(Array("A man is eating food.\n\nA monkey is playing drums.\n".utf8)).write(
            to: URL(fileURLWithPath: folder + "/lf.txt"))
        try Data([0xEF, 0xBB, 0xBF] + Array("A man is eating food.\r\n\r\nA monkey is playing drums.\r\n".utf8)).write(
            to: URL(fileURLWithPath: folder + "/crlf.txt"))
        let (unix, windows) = (
            try CLI.run(["embed", Self.model, "--text-file", folder + "/lf.txt", "--json"]),
            try CLI.run(["embed", Self.model, "--text-file", folder + "/crlf.txt", "--json"])
        )
        #expect(unix.status == 0 && windows.status == 0, "\(unix.stderr) \(windows.stderr)")
        // Two texts (the empty line skipped), the first as --text embeds it.
        let embeddings = try JSONValue.parse(unix.stdout)["embeddings"]?.arrayValue
        #expect(embeddings?.count == 2 && embeddings?.first?["tokens"]?.intValue == 8)
        #expect(windows.stdout == unix.stdout)
        try Data(Array("one\rtwo\n".utf8)).write(to: URL(fileURLWithPath: folder + "/cr.txt"))
        let lone = try CLI.run(["embed", Self.model, "--text-file", folder + "/cr.txt"])
        #expect(
            lone.status != 0
                && lone.stderr.contains(
                    folder + "/cr.txt: line 1: a carriage return (CR) not followed by a line feed (LF)"),
            "\(lone.stderr)")
    }
}

struct EvalCommandTests {
    @Test func evalWithAPatchEqualsEvalOfThePatchedFile() throws {
        guard DefaultModelFiles.isAvailable else { return }
        let model = DefaultModelFiles.model
        let task = DefaultModelFiles.task
        // A "tuned" model: every weight rounded through bf16, in a folder with the tokenizer files.
        let folder = try CLI.scratchFolder()
        for file in ["vocab.txt", "config.json", "tokenizer_config.json", "sentence_bert_config.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + file, toPath: folder + "/" + file)
        }
        let bf16 = try CLI.scratchFolder("eval-bf16") + "/bf16.safetensors"
        #expect(try CLI.run(["convert", model + "/model.safetensors", bf16, "--dtype", "bf16"]).status == 0)
        #expect(try CLI.run(["convert", bf16, folder + "/model.safetensors", "--dtype", "f32"]).status == 0)
        let patch = folder + "/rounded.spatch"
        #expect(
            try CLI.run(["create", model + "/model.safetensors", folder + "/model.safetensors", "-o", patch]).status
                == 0)
        let patched = try CLI.run(["eval", model, patch, "--task", task, "--json"])
        #expect(patched.status == 0, "\(patched.stderr)")
        let file = try CLI.run(["eval", folder, "--task", task, "--json"])
        let a = try JSONValue.parse(patched.stdout)
        let b = try JSONValue.parse(file.stdout)
        #expect(a["accuracy"] == b["accuracy"] && a["per_class"] == b["per_class"] && a["total"]?.intValue == 20)
        // apply into a folder gives a model folder that evaluates by itself (vocab and config copied).
        let applied = try CLI.scratchFolder("eval-folder") + "/patched/"
        let written = try CLI.run(["apply", model, patch, "-o", applied])
        #expect(written.status == 0, "\(written.stderr)")
        let fromFolder = try CLI.run(["eval", applied, "--task", task, "--json"])
        #expect(fromFolder.status == 0, "\(fromFolder.stderr)")
        let c = try JSONValue.parse(fromFolder.stdout)
        #expect(c["accuracy"] == a["accuracy"] && c["per_class"] == a["per_class"])
        for name in ["vocab.txt", "config.json", "1_Pooling/config.json", "tokenizer.json"] {
            #expect(FileManager.default.contentsEqual(atPath: model + "/" + name, andPath: applied + name), "\(name)")
        }
        // The patched model already carries the patch: refused before anything is computed.
        let other = try CLI.run(["eval", folder, patch, "--task", task])
        #expect(other.status != 0 && other.stderr.contains("already applied"), "\(other.stderr)")
        let noTask = try CLI.run(["eval", model, "--task", folder])
        #expect(noTask.status != 0 && noTask.stderr.contains("classes.txt"), "\(noTask.stderr)")
    }
}
