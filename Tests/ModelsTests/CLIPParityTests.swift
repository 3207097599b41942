import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Models

/// The CLIP runtime against open_clip and transformers on tiny random models committed by
/// Tests/Fixtures/make_clip_fixtures.py: embeddings of both towers within 1e-4, gradients of
/// every first-MLP weight and bias within 1e-3 (relative to the tensor's largest).
struct CLIPParityTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/clip"

    static func inputs(_ checkpoint: Checkpoint) throws -> (images: [[Float]], texts: [[Int32]]) {
        let pixels = try checkpoint.view(named: "expected.images").floatValues()
        let images = (0..<2).map { Array(pixels[($0 * 3072)..<(($0 + 1) * 3072)]) }
        let ids = try checkpoint.view(named: "expected.texts").withBytes { bytes in
            (0..<(bytes.count / 8)).map { Int32(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
        let texts = (0..<2).map { Array(ids[($0 * 20)..<(($0 + 1) * 20)]) }
        return (images, texts)
    }

    /// Σ_ij (I_i · T_j)², the fixture's loss.
    static func loss(_ images: [[Float]], _ texts: [[Float]]) -> (loss: Float, images: [[Float]], texts: [[Float]]) {
        var total: Float = 0
        var dImages = images.map { $0.map { _ in Float(0) } }
        var dTexts = texts.map { $0.map { _ in Float(0) } }
        for (i, image) in images.enumerated() {
            for (j, text) in texts.enumerated() {
                let dot = zip(image, text).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                total += dot * dot
                for k in image.indices {
                    dImages[i][k] += 2 * dot * text[k]
                    dTexts[j][k] += 2 * dot * image[k]
                }
            }
        }
        return (total, dImages, dTexts)
    }

    static func check(_ file: String, config: String?, naming: CLIPModel.Naming, activation: CLIPModel.Activation)
        throws
    {
        let checkpoint = try Checkpoint.open(fixtures + "/" + file)
        let model = try CLIPModel(
            checkpoint: checkpoint, configFile: config.map { fixtures + "/" + $0 },
            activation: config == nil ? activation : nil)
        let c = model.configuration
        #expect(c.naming == naming && c.activation == activation)
        #expect(
            c.text.layers == 2 && c.vision.layers == 2 && c.text.heads == 2 && c.vision.heads == 2 && c.patchSize == 8
                && c.imageSize == 32 && c.embedding == 16)
        let (images, texts) = try inputs(checkpoint)
        for (got, name) in [
            (try model.embedImages(images), "image_embeds"), (try model.embedTexts(texts), "text_embeds"),
        ] {
            let want = try checkpoint.view(named: "expected." + name).floatValues()
            let worst = zip(got.flatMap { $0 }, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(
                got.flatMap { $0 }.count == want.count && worst <= 1e-4, "\(file) \(name): largest difference \(worst)")
        }
        let names = Set(
            checkpoint.tensors.map(\.name).filter { $0.hasPrefix("expected.grad.") }.map {
                String($0.dropFirst("expected.grad.".count))
            })
        #expect(names.count == 8)
        let result = try model.gradients(images: images, texts: texts, of: names, loss: loss)
        let expectedLoss = try checkpoint.view(named: "expected.loss").floatValues()[0]
        #expect(abs(result.loss - expectedLoss) <= 1e-4 * max(1, abs(expectedLoss)))
        for name in names.sorted() {
            let want = try checkpoint.view(named: "expected.grad." + name).floatValues()
            let got = try #require(result.tensors[name], "\(name) has no gradient")
            let scale = want.map { abs($0) }.max() ?? 1
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(
                got.count == want.count && worst <= 1e-3 * max(scale, 1e-6),
                "\(file) \(name): largest difference \(worst) of \(scale)")
        }
    }

    @Test func openCLIPQuickGELUMatches() throws {
        try Self.check(
            "tiny_open_clip.safetensors", config: "open_clip_config.json", naming: .openCLIP, activation: .quickGELU)
    }

    @Test func openCLIPGELUMatches() throws {
        try Self.check("tiny_open_clip_gelu.safetensors", config: nil, naming: .openCLIP, activation: .gelu)
    }

    @Test func huggingFaceCLIPModelMatches() throws {
        try Self.check(
            "tiny_hf_clip.safetensors", config: "tiny_hf_clip_config.json", naming: .huggingFace, activation: .quickGELU
        )
    }

    @Test func onlyTheTowersAskedForRunBackwards() throws {
        let checkpoint = try Checkpoint.open(Self.fixtures + "/tiny_open_clip.safetensors")
        let model = try CLIPModel(checkpoint: checkpoint, configFile: Self.fixtures + "/open_clip_config.json")
        let (images, texts) = try Self.inputs(checkpoint)
        let result = try model.gradients(
            images: images, texts: texts, of: ["visual.transformer.resblocks.1.mlp.c_fc.weight"], loss: Self.loss)
        #expect(Array(result.tensors.keys) == ["visual.transformer.resblocks.1.mlp.c_fc.weight"])
        #expect {
            try model.gradients(images: images, texts: texts, of: ["ln_final.weight"], loss: Self.loss)
        } throws: {
            "\($0)".contains("not a first-MLP tensor")
        }
        #expect { try model.embedImages([[Float](repeating: 0, count: 10)]) } throws: {
            "\($0)".contains("3 × 32 × 32")
        }
    }

    @Test func missingTensorsAndWrongShapesAreRefusedByName() throws {
        let folder = NSTemporaryDirectory() + "scalpel-clip-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let source = try Checkpoint.open(Self.fixtures + "/tiny_open_clip.safetensors")
        let weights = source.tensors.filter { !$0.name.hasPrefix("expected.") }
        try SafetensorsWriter.write(
            weights.filter { $0.name != "visual.ln_post.bias" }.map {
                OutputTensor(name: $0.name, view: source.view($0))
            },
            metadata: [], to: folder + "/missing.safetensors")
        #expect { try CLIPModel(checkpoint: Checkpoint.open(folder + "/missing.safetensors")) } throws: {
            "\($0)".contains("\"visual.ln_post.bias\" is missing")
        }
        try SafetensorsWriter.write(
            weights.map { entry in
                OutputTensor(
                    name: entry.name,
                    view: entry.name == "transformer.resblocks.1.mlp.c_proj.weight"
                        ? TensorView.make(dtype: .f32, shape: [64, 32]) { _ in } : source.view(entry))
            }, metadata: [], to: folder + "/reshaped.safetensors")
        #expect { try CLIPModel(checkpoint: Checkpoint.open(folder + "/reshaped.safetensors")) } throws: {
            "\($0)".contains("\"transformer.resblocks.1.mlp.c_proj.weight\" is [64, 32], expected [32, 64]")
        }
    }

    /// Shapes the configuration is read from are checked for rank and size before they are
    /// indexed: a malformed file is refused by name, never a crash (an index out of range, the
    /// square root of a negative position count).
    @Test(arguments: [
        ("text_projection", [Int]([32])), ("transformer.resblocks.0.mlp.c_fc.weight", [128]),
        ("visual.positional_embedding", [1, 32]), ("token_embedding.weight", [0, 32]),
    ])
    func configurationShapesOfTheWrongRankAreRefused(name: String, shape: [Int]) throws {
        let folder = NSTemporaryDirectory() + "scalpel-clip-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let source = try Checkpoint.open(Self.fixtures + "/tiny_open_clip.safetensors")
        try SafetensorsWriter.write(
            source.tensors.filter { !$0.name.hasPrefix("expected.") }.map { entry in
                OutputTensor(
                    name: entry.name,
                    view: entry.name == name ? TensorView.make(dtype: .f32, shape: shape) { _ in } : source.view(entry))
            }, metadata: [], to: folder + "/malformed.safetensors")
        #expect { try CLIPModel(checkpoint: Checkpoint.open(folder + "/malformed.safetensors")) } throws: {
            ($0 as? FileError)?.kind == .malformed && "\($0)".contains(name)
        }
    }

    @Test func headsThatDoNotSplitTheWidthAreRefused() throws {
        let folder = NSTemporaryDirectory() + "scalpel-clip-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config = folder + "/config.json"
        try Data(#"{"text_config": {"num_attention_heads": 3}}"#.utf8).write(to: URL(fileURLWithPath: config))
        #expect {
            try CLIPModel(
                checkpoint: Checkpoint.open(Self.fixtures + "/tiny_open_clip.safetensors"), configFile: config)
        } throws: {
            "\($0)".contains("config.json")
                && "\($0)".contains("the text tower's width of 32 does not split into 3 attention heads")
        }
    }

    @Test func aCheckpointOfAnotherArchitectureIsRefusedWithWhatItHolds() throws {
        #expect {
            try CLIPModel(
                checkpoint: Checkpoint.open(ReferencePython.packageRoot + "/Tests/Fixtures/text/tiny_bert.safetensors"))
        } throws: {
            "\($0)".contains("not a CLIP checkpoint") && "\($0)".contains("embeddings.")
        }
    }
}
