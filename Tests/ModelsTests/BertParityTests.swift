import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Models

/// The BERT runtime against PyTorch: a tiny random BertModel (transformers) and the real
/// all-MiniLM-L6-v2 against sentence-transformers, both committed by
/// Tests/Fixtures/make_text_fixtures.py.
struct BertParityTests {
    static func close(_ got: [Float], _ want: [Float], relative: Float) -> (Bool, Float) {
        var worst: Float = 0
        for (a, b) in zip(got, want) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        return (got.count == want.count && worst <= relative, worst)
    }

    @Test func tinyBertMatchesTransformers() throws {
        let checkpoint = try Checkpoint.open(DefaultModel.fixtures + "/tiny_bert.safetensors")
        let model = try BertModel(checkpoint: checkpoint, configFile: DefaultModel.fixtures + "/tiny_bert_config.json")
        #expect(
            model.configuration.layers == 2 && model.configuration.heads == 4 && model.configuration.intermediate == 64)
        let ids = try checkpoint.view(named: "expected.input_ids").withBytes { bytes in
            (0..<(bytes.count / 8)).map { Int32(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
        let mask = try checkpoint.view(named: "expected.attention_mask").withBytes { bytes in
            (0..<(bytes.count / 8)).map { bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) }
        }
        let batch = (0..<2).map { b in (0..<7).compactMap { t in mask[b * 7 + t] == 1 ? ids[b * 7 + t] : nil } }
        let (hidden, length, _) = try model.forward(batch)
        #expect(length == 7)
        let expected = try checkpoint.view(named: "expected.last_hidden_state").floatValues()
        // Padded positions are computed too (as transformers does), so every row compares.
        let (ok, worst) = Self.close(hidden, expected, relative: 1e-4)
        #expect(ok, "largest relative difference \(worst)")
        let embeddings = try model.embed(batch).flatMap { $0 }
        let (embeddingsOK, embeddingsWorst) = Self.close(
            embeddings, try checkpoint.view(named: "expected.embedding").floatValues(), relative: 1e-4)
        #expect(embeddingsOK, "largest relative difference \(embeddingsWorst)")
    }

    @Test func allMiniLMMatchesSentenceTransformers() throws {
        guard DefaultModel.isAvailable else { return }
        let model = try BertModel(
            checkpoint: Checkpoint.open(DefaultModel.folder + "/model.safetensors"),
            configFile: DefaultModel.folder + "/config.json")
        #expect(model.configuration.heads == 12 && model.configuration.layers == 6)
        let tokenizer = try WordPieceTokenizer(
            vocabularyFile: DefaultModel.folder + "/vocab.txt", lowercase: true, maxLength: 256)
        let sentences = try DefaultModel.cases("sentences.json")
        let embeddings = try model.embed(sentences.map { tokenizer.encode($0.text) })
        let expected =
            try Checkpoint.open(DefaultModel.fixtures + "/minilm_embeddings.npy").tensors.first.map {
                try Checkpoint.open(DefaultModel.fixtures + "/minilm_embeddings.npy").view($0).floatValues()
            } ?? []
        #expect(expected.count == sentences.count * 384)
        for (i, embedding) in embeddings.enumerated() {
            let reference = Array(expected[(i * 384)..<((i + 1) * 384)])
            let dot = zip(embedding, reference).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let norm = reference.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            #expect(dot / norm > 0.9999, "\(sentences[i].text): cosine \(dot / norm)")
        }
    }

    @Test func unknownArchitecturesAndBrokenShapesAreRefused() throws {
        let folder = NSTemporaryDirectory() + "scalpel-bert-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let source = try Checkpoint.open(DefaultModel.fixtures + "/tiny_bert.safetensors")
        // Not BERT at all: the message lists what was found.
        try SafetensorsWriter.write(
            [OutputTensor(name: "visual.conv1.weight", view: TensorView.make(dtype: .f32, shape: [2, 2]) { _ in })],
            metadata: [], to: folder + "/other.safetensors")
        #expect {
            try BertModel(checkpoint: Checkpoint.open(folder + "/other.safetensors"))
        } throws: { "\($0)".contains("not a BERT checkpoint") && "\($0)".contains("visual.conv1.weight") }
        // A missing tensor, and a tensor with the wrong shape.
        let keep = source.tensors.filter {
            !$0.name.hasPrefix("expected.") && $0.name != "encoder.layer.1.output.dense.bias"
        }
        try SafetensorsWriter.write(
            keep.map { OutputTensor(name: $0.name, view: source.view($0)) }, metadata: [],
            to: folder + "/missing.safetensors")
        #expect {
            try BertModel(
                checkpoint: Checkpoint.open(folder + "/missing.safetensors"),
                configFile: DefaultModel.fixtures + "/tiny_bert_config.json")
        } throws: { "\($0)".contains("encoder.layer.1.output.dense.bias\" is missing") }
        let reshaped = source.tensors.filter { !$0.name.hasPrefix("expected.") }.map { entry -> OutputTensor in
            entry.name == "encoder.layer.0.attention.self.key.weight"
                ? OutputTensor(name: entry.name, view: TensorView.make(dtype: .f32, shape: [16, 32]) { _ in })
                : OutputTensor(name: entry.name, view: source.view(entry))
        }
        try SafetensorsWriter.write(reshaped, metadata: [], to: folder + "/reshaped.safetensors")
        #expect {
            try BertModel(
                checkpoint: Checkpoint.open(folder + "/reshaped.safetensors"),
                configFile: DefaultModel.fixtures + "/tiny_bert_config.json")
        } throws: { "\($0)".contains("attention.self.key.weight\" is [16, 32], expected [32, 32]") }
    }
}

/// Gradients of a scalar loss with respect to every tensor, against PyTorch's.
struct BertGradientTests {
    static let checkpoint = try! Checkpoint.open(DefaultModel.fixtures + "/tiny_bert.safetensors")

    static func model() throws -> BertModel {
        try BertModel(checkpoint: checkpoint, configFile: DefaultModel.fixtures + "/tiny_bert_config.json")
    }

    static func batch() throws -> [[Int32]] {
        let ids = try checkpoint.view(named: "expected.input_ids").withBytes { bytes in
            (0..<(bytes.count / 8)).map { Int32(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
        let mask = try checkpoint.view(named: "expected.attention_mask").withBytes { bytes in
            (0..<(bytes.count / 8)).map { bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) }
        }
        return (0..<2).map { b in (0..<7).compactMap { t in mask[b * 7 + t] == 1 ? ids[b * 7 + t] : nil } }
    }

    /// The fixture's loss: Σ_b (e_b · d)², so dloss/de_b = 2 (e_b · d) d.
    static func loss(_ direction: [Float]) -> BertModel.EmbeddingLoss {
        { embeddings in
            var total: Float = 0
            let grads = embeddings.map { e -> [Float] in
                let dot = zip(e, direction).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                total += dot * dot
                return direction.map { 2 * dot * $0 }
            }
            return (total, grads)
        }
    }

    @Test func everyGradientMatchesPyTorch() throws {
        let model = try Self.model()
        let direction = try Self.checkpoint.view(named: "expected.loss_direction").floatValues()
        let names = Set(model.parameterNames)
        #expect(names.count == 5 + 2 * 16)
        let result = try model.gradients(Self.batch(), of: names, loss: Self.loss(direction))
        let expectedLoss = try Self.checkpoint.view(named: "expected.loss").floatValues()[0]
        #expect(
            abs(result.loss - expectedLoss) <= 1e-4 * max(1, abs(expectedLoss)), "\(result.loss) vs \(expectedLoss)")
        #expect(Set(result.tensors.keys) == names)
        for name in names.sorted() {
            let want = try Self.checkpoint.view(named: "expected.grad." + name).floatValues()
            let got = try #require(result.tensors[name])
            let scale = want.map { abs($0) }.max() ?? 1
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(
                got.count == want.count && worst <= 1e-3 * max(scale, 1e-6),
                "\(name): largest difference \(worst) of \(scale)")
        }
    }

    @Test func onlyTheTensorsAskedForGetGradients() throws {
        let model = try Self.model()
        let direction = try Self.checkpoint.view(named: "expected.loss_direction").floatValues()
        let asked: Set = ["encoder.layer.1.intermediate.dense.bias", "encoder.layer.1.output.LayerNorm.weight"]
        let result = try model.gradients(Self.batch(), of: asked, loss: Self.loss(direction))
        #expect(
            Set(result.tensors.keys) == asked && result.tensors["encoder.layer.1.intermediate.dense.bias"]?.count == 64)
        let want = try Self.checkpoint.view(named: "expected.grad.encoder.layer.1.intermediate.dense.bias")
            .floatValues()
        let worst =
            zip(result.tensors["encoder.layer.1.intermediate.dense.bias"]!, want).map { abs($0 - $1) }.max()
            ?? .infinity
        #expect(worst <= 1e-3 * (want.map { abs($0) }.max() ?? 1))
        #expect {
            try model.gradients(
                Self.batch(), of: ["encoder.layer.2.intermediate.dense.weight"], loss: Self.loss(direction))
        } throws: {
            "\($0)".contains("is not a trainable tensor")
        }
    }

    /// With dropout on, a fixed seed makes the loss a deterministic function of the weights,
    /// so central finite differences check the backward pass through the dropout masks.
    @Test func gradientsThroughDropoutMatchFiniteDifferences() throws {
        let model = try Self.model()
        let direction = try Self.checkpoint.view(named: "expected.loss_direction").floatValues()
        let dropout = Dropout(hidden: 0.3, attention: 0.3, seed: 11)
        let names = [
            "embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight",
            "encoder.layer.0.attention.output.dense.bias", "encoder.layer.1.output.dense.weight",
        ]
        let batch = try Self.batch()
        let analytic = try model.gradients(batch, of: Set(names), dropout: dropout, loss: Self.loss(direction))
        let plain = try model.gradients(batch, of: Set(names), loss: Self.loss(direction))
        #expect(analytic.loss != plain.loss, "dropout changed nothing")
        for name in names {
            let values = try #require(model.values(of: name))
            let gradient = try #require(analytic.tensors[name])
            // The largest entries, where the relative error of a difference quotient is smallest.
            let probes = gradient.indices.sorted { abs(gradient[$0]) > abs(gradient[$1]) }.prefix(3)
            for i in probes {
                let step: Float = 1e-2
                var shifted = values
                shifted[i] = values[i] + step
                try model.setValues(shifted, of: name)
                let up = try model.gradients(batch, of: [], dropout: dropout, loss: Self.loss(direction)).loss
                shifted[i] = values[i] - step
                try model.setValues(shifted, of: name)
                let down = try model.gradients(batch, of: [], dropout: dropout, loss: Self.loss(direction)).loss
                try model.setValues(values, of: name)
                let numeric = (up - down) / (2 * step)
                #expect(
                    abs(numeric - gradient[i]) <= 2e-2 * abs(gradient[i]) + 1e-4,
                    "\(name)[\(i)]: \(gradient[i]) vs \(numeric)")
            }
        }
    }
}
