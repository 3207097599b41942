import Foundation
import Testing
@testable import Checkpoints
import Tensors

/// embed and eval on a CLIP model: the tiny random open_clip model of the fixtures, given the
/// real tokenizer's vocabulary size so prompts tokenize, and an image task.
struct CLIPCommandTests {
    static let vocabulary = DefaultModelFiles.root + "/.cache/models/clip-bpe/bpe_simple_vocab_16e6.txt.gz"

    /// A model folder and an image task folder with four images (labels as given).
    static func setUp(labels: [Int64]) throws -> (model: String, task: String) {
        let folder = try CLI.scratchFolder()
        let fixtures = DefaultModelFiles.root + "/Tests/Fixtures/clip"
        let source = try Checkpoint.open(fixtures + "/tiny_open_clip.safetensors")
        var generator = SeededGenerator(seed: 5)
        let tokens = TensorView.make(dtype: .f32, shape: [49_408, 32]) { buffer in
            let floats = buffer.bindMemory(to: Float.self)
            for i in floats.indices { floats[i] = Float(Int(generator.next() % 2001) - 1000) * 2e-5 }
        }
        let tensors = source.tensors.filter { !$0.name.hasPrefix("expected.") }.map { entry in
            OutputTensor(name: entry.name, view: entry.name == "token_embedding.weight" ? tokens : source.view(entry))
        }
        try FileManager.default.createDirectory(atPath: folder + "/model", withIntermediateDirectories: true)
        try SafetensorsWriter.write(tensors, metadata: [], to: folder + "/model/model.safetensors")
        try FileManager.default.copyItem(atPath: fixtures + "/open_clip_config.json", toPath: folder + "/model/open_clip_config.json")
        try FileManager.default.copyItem(atPath: vocabulary, toPath: folder + "/model/bpe_simple_vocab_16e6.txt.gz")
        // The task: two copies of the fixture's two images.
        let pixels = try source.view(named: "expected.images").floatValues()
        let images = TensorView.make(dtype: .f32, shape: [4, 3, 32, 32]) { buffer in
            (pixels + pixels).withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        let labelView = TensorView.make(dtype: .i64, shape: [4]) { buffer in labels.withUnsafeBytes { buffer.copyMemory(from: $0) } }
        try FileManager.default.createDirectory(atPath: folder + "/task", withIntermediateDirectories: true)
        try SafetensorsWriter.write([OutputTensor(name: "images", view: images), OutputTensor(name: "labels", view: labelView)],
                                    metadata: [], to: folder + "/arrays.safetensors")
        #expect(try CLI.run(["convert", folder + "/arrays.safetensors", folder + "/task/test.npz"]).status == 0)
        try "noise\ta photo of noise\nstatic\ta photo of static\nsnow\ta photo of snow\n".write(toFile: folder + "/task/classes.txt", atomically: true, encoding: .utf8)
        return (folder + "/model", folder + "/task")
    }

    @Test func embedAndEvalRunCLIPOnImagesAndTexts() throws {
        guard FileManager.default.fileExists(atPath: Self.vocabulary) else {
            print("skipped: \(Self.vocabulary) is missing (./test.sh fetches it)")
            return
        }
        let (model, task) = try Self.setUp(labels: [0, 1, 0, 1])
        let embedded = try CLI.run(["embed", model, "--images", task + "/test.npz", "--text", "a photo of snow", "--json"])
        #expect(embedded.status == 0, "\(embedded.stderr)")
        let json = try JSONValue.parse(embedded.stdout)
        #expect(json["architecture"]?.stringValue == "CLIP" && json["dimension"]?.intValue == 16)
        let rows = try #require(json["embeddings"]?.arrayValue)
        #expect(rows.count == 5)
        for row in rows {
            let values = (row["embedding"]?.arrayValue ?? []).compactMap { value -> Double? in
                if case .number(let x) = value { return x }
                return nil
            }
            #expect(values.count == 16 && abs(values.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
        }
        let evaluated = try CLI.run(["eval", model, "--task", task, "--json"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let result = try JSONValue.parse(evaluated.stdout)
        #expect(result["total"]?.intValue == 4 && result["architecture"]?.stringValue == "CLIP")
        // Labels outside the classes, and images given to a text encoder, are refused.
        let (_, badTask) = try Self.setUp(labels: [0, 1, 7, 1])
        let bad = try CLI.run(["eval", model, "--task", badTask])
        #expect(bad.status != 0 && bad.stderr.contains("\"labels\"[2] is 7, outside the 3 classes"), "\(bad.stderr)")
        if DefaultModelFiles.isAvailable {
            let bert = try CLI.run(["embed", DefaultModelFiles.model, "--images", task + "/test.npz"])
            #expect(bert.status != 0 && bert.stderr.contains("no image tower"), "\(bert.stderr)")
        }
    }
}
