import Foundation
import Testing
import TestSupport
import Tensors
@testable import Checkpoints
@testable import Models
@testable import Training

/// Masked training on the tiny random BERT with a made-up vocabulary and task.
struct MaskedTrainerTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/text"

    static func encoder() throws -> TextEncoder {
        let model = try BertModel(checkpoint: Checkpoint.open(fixtures + "/tiny_bert.safetensors"), configFile: fixtures + "/tiny_bert_config.json")
        var vocabulary: [String: Int32] = ["[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3]
        for i in 4..<100 { vocabulary["w\(i)"] = Int32(i) }
        return TextEncoder(model: model, tokenizer: try WordPieceTokenizer(vocabulary: vocabulary, lowercase: true, maxLength: 16), path: "tiny")
    }

    /// Two classes: texts made of words 10…29 are "low", of words 60…79 "high".
    static func task() throws -> TextTask {
        let folder = NSTemporaryDirectory() + "scalpel-train-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "low\tw40 w41\nhigh\tw90 w91\n".write(toFile: folder + "/classes.txt", atomically: true, encoding: .utf8)
        var lines: [String] = []
        for i in 0..<16 {
            lines.append("{\"text\": \"w\(10 + i) w\(11 + i) w\(12 + i)\", \"label\": \"low\"}")
            lines.append("{\"text\": \"w\(60 + i) w\(61 + i) w\(62 + i)\", \"label\": \"high\"}")
        }
        try lines.joined(separator: "\n").write(toFile: folder + "/train.jsonl", atomically: true, encoding: .utf8)
        return try TextTask(folder: folder)
    }

    @Test func onlyMaskedPositionsChangeAndTheLossFalls() throws {
        let encoder = try Self.encoder(), task = try Self.task()
        let before = (0..<2).map { (encoder.model.firstMLPWeight(layer: $0), encoder.model.firstMLPBias(layer: $0)) }
        let masks = [0: MaskedTrainer.LayerMask(weight: Array(stride(from: 0, to: 64 * 32, by: 7)), bias: [1, 2, 3]),
                     1: MaskedTrainer.LayerMask(weight: Array(stride(from: 5, to: 64 * 32, by: 11)), bias: [])]
        var settings = MaskedTrainer.Settings()
        settings.epochs = 1
        settings.learningRate = 5e-3
        settings.batchSize = 8
        let first = try MaskedTrainer.train(encoder, task: task, masks: masks, settings: settings)
        settings.epochs = 6
        let later = try MaskedTrainer.train(encoder, task: task, masks: masks, settings: settings)
        #expect(later.finalLoss < first.finalLoss, "\(first.finalLoss) → \(later.finalLoss)")
        for layer in 0..<2 {
            let weight = encoder.model.firstMLPWeight(layer: layer), bias = encoder.model.firstMLPBias(layer: layer)
            let allowed = Set(masks[layer]!.weight), allowedBias = Set(masks[layer]!.bias)
            for i in weight.indices where !allowed.contains(i) {
                #expect(weight[i].bitPattern == before[layer].0[i].bitPattern, "layer \(layer) weight \(i) changed outside the mask")
            }
            for i in bias.indices where !allowedBias.contains(i) {
                #expect(bias[i].bitPattern == before[layer].1[i].bitPattern, "layer \(layer) bias \(i) changed outside the mask")
            }
            #expect(allowed.contains { weight[$0] != before[layer].0[$0] }, "layer \(layer): nothing trained")
        }
    }

    @Test func scheduleWarmsUpThenDecays() {
        #expect(MaskedTrainer.learningRate(step: 1, total: 100, warmup: 10, peak: 1) == 0.1)
        #expect(MaskedTrainer.learningRate(step: 10, total: 100, warmup: 10, peak: 1) == 1)
        #expect(abs(MaskedTrainer.learningRate(step: 55, total: 100, warmup: 10, peak: 1) - 0.5) < 1e-6)
        #expect(MaskedTrainer.learningRate(step: 100, total: 100, warmup: 10, peak: 1) < 1e-6)
    }

    @Test func crossEntropyGradientMatchesAFiniteDifference() {
        // Two texts, three prompts, unit-ish vectors.
        var embeddings: [[Float]] = [[0.6, 0.8, 0], [0, 0.6, 0.8], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
        let labels = [1, 2]
        let (_, gradients, _) = MaskedTrainer.crossEntropy(embeddings, labels: labels, scale: 20)
        for (row, column) in [(0, 1), (1, 2), (3, 0), (4, 2)] {
            let eps: Float = 1e-3
            embeddings[row][column] += eps
            let up = MaskedTrainer.crossEntropy(embeddings, labels: labels, scale: 20).0
            embeddings[row][column] -= 2 * eps
            let down = MaskedTrainer.crossEntropy(embeddings, labels: labels, scale: 20).0
            embeddings[row][column] += eps
            let difference = (up - down) / (2 * eps)
            #expect(abs(difference - gradients[row][column]) <= 1e-2 * max(1, abs(gradients[row][column])), "\(row),\(column): \(difference) vs \(gradients[row][column])")
        }
    }
}
