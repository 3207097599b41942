import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Models
@testable import Training

/// Masked training on the tiny random BERT with a made-up vocabulary and task.
struct MaskedTrainerTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/text"

    static func encoder() throws -> TextEncoder {
        let model = try BertModel(
            checkpoint: Checkpoint.open(fixtures + "/tiny_bert.safetensors"),
            configFile: fixtures + "/tiny_bert_config.json")
        var vocabulary: [String: Int32] = ["[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3]
        for i in 4..<100 { vocabulary["w\(i)"] = Int32(i) }
        return TextEncoder(
            model: model, tokenizer: try WordPieceTokenizer(vocabulary: vocabulary, lowercase: true, maxLength: 16),
            path: "tiny")
    }

    /// Two classes: texts made of words 10…29 are "low", of words 60…79 "high".
    static func task() throws -> TaskFolder {
        let folder = NSTemporaryDirectory() + "scalpel-train-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "low\tw40 w41\nhigh\tw90 w91\n".write(toFile: folder + "/classes.txt", atomically: true, encoding: .utf8)
        var lines: [String] = []
        for i in 0..<16 {
            lines.append("{\"text\": \"w\(10 + i) w\(11 + i) w\(12 + i)\", \"label\": \"low\"}")
            lines.append("{\"text\": \"w\(60 + i) w\(61 + i) w\(62 + i)\", \"label\": \"high\"}")
        }
        try lines.joined(separator: "\n").write(toFile: folder + "/train.jsonl", atomically: true, encoding: .utf8)
        return try TaskFolder(folder: folder)
    }

    @Test func onlyMaskedPositionsChangeAndTheLossFalls() throws {
        let encoder = try Self.encoder()
        let data = try TrainingData(task: Self.task())
        let names = encoder.model.parameterNames
        let before = Dictionary(uniqueKeysWithValues: names.map { ($0, encoder.model.values(of: $0)!) })
        let masks: [String: MaskedTrainer.TensorMask] = [
            "encoder.layer.0.intermediate.dense.weight": .positions(Array(stride(from: 0, to: 64 * 32, by: 7))),
            "encoder.layer.0.intermediate.dense.bias": .positions([1, 2, 3]),
            "encoder.layer.1.attention.self.key.weight": .positions(Array(stride(from: 5, to: 32 * 32, by: 11))),
            "encoder.layer.1.output.LayerNorm.weight": .all,
        ]
        var settings = MaskedTrainer.Settings()
        settings.epochs = 1
        settings.learningRate = 5e-3
        settings.batchSize = 8
        let first = try MaskedTrainer.train(encoder, data: data, masks: masks, settings: settings)
        settings.epochs = 6
        let later = try MaskedTrainer.train(encoder, data: data, masks: masks, settings: settings)
        #expect(later.finalLoss < first.finalLoss, "\(first.finalLoss) → \(later.finalLoss)")
        for name in names {
            let now = encoder.model.values(of: name)!
            let was = before[name]!
            let allowed: Set<Int>
            switch masks[name] {
            case .positions(let positions)?: allowed = Set(positions)
            case .all?: allowed = Set(now.indices)
            case nil: allowed = []
            }
            let outside = now.indices.filter { !allowed.contains($0) && now[$0].bitPattern != was[$0].bitPattern }
            #expect(outside.isEmpty, "\(name): \(outside.count) elements changed outside the mask")
            if !allowed.isEmpty { #expect(allowed.contains { now[$0] != was[$0] }, "\(name): nothing trained") }
        }
    }

    @Test func fullFineTuningMovesEveryTensorAndRepeatsExactly() throws {
        var settings = MaskedTrainer.Settings()
        settings.epochs = 1
        settings.learningRate = 1e-3
        settings.batchSize = 8
        var results: [[String: [Float]]] = []
        for _ in 0..<2 {
            let encoder = try Self.encoder()
            let masks = Dictionary(
                uniqueKeysWithValues: encoder.model.parameterNames.map { ($0, MaskedTrainer.TensorMask.all) })
            _ = try MaskedTrainer.train(
                encoder, data: TrainingData(task: Self.task()), masks: masks, settings: settings)
            results.append(
                Dictionary(
                    uniqueKeysWithValues: encoder.model.parameterNames.map { ($0, encoder.model.values(of: $0)!) }))
        }
        let base = try Self.encoder().model
        for name in base.parameterNames {
            #expect(results[0][name]! != base.values(of: name)!, "\(name) did not train")
            #expect(
                results[0][name]!.map(\.bitPattern) == results[1][name]!.map(\.bitPattern),
                "\(name): two runs with one seed differ")
        }
    }

    @Test func replayMixesABalancedBufferOfEarlierTasks() throws {
        let current = try Self.task()
        let earlier = try Self.task()
        let other = try Self.task()
        let data = try TrainingData(task: current, replay: [earlier, other], buffer: 5, seed: 1)
        #expect(data.tasks.count == 3 && data.counts == [32, 3, 2])
        let earlierTexts = Set(try earlier.examples("train").map { EncoderInput.text($0.text) })
        #expect(data.examples.filter { $0.task == 1 }.allSatisfy { earlierTexts.contains($0.input) })
        #expect(try TrainingData(task: current, replay: [earlier], buffer: 500).counts == [32, 32])
        // No buffer, no replay: earlier tasks' prompts stay out of the batches.
        #expect(try TrainingData(task: current, replay: [earlier], buffer: 0).tasks.count == 1)
        // Each replayed text is scored against its own task's prompts.
        // One text of the second task (its classes are prompts 2 and 3): prompts 0 and 1, the
        // current task's, get no gradient, and its prediction is among its own two classes.
        let targets = [MaskedTrainer.Target(label: 3, classes: 2..<4)]
        let prompts: [[Float]] = [[0.8, 0.6], [0.8, 0.6], [1, 0], [0, 1]]
        let result = MaskedTrainer.crossEntropy(inputs: [[0.8, 0.6]], prompts: prompts, targets: targets, scale: 20)
        #expect(result.correct == 0)
        #expect(result.prompts[0] == [0, 0] && result.prompts[1] == [0, 0], "prompts of another task got gradient")
        #expect(result.prompts[2] != [0, 0] && result.prompts[3] != [0, 0])
    }

    @Test func scheduleWarmsUpThenDecays() {
        // transformers' get_cosine_schedule_with_warmup, steps counted from 0.
        #expect(MaskedTrainer.learningRate(step: 0, total: 100, warmup: 10, peak: 1) == 0)
        #expect(MaskedTrainer.learningRate(step: 0, total: 1, warmup: 0, peak: 1) == 1)
        #expect(MaskedTrainer.learningRate(step: 1, total: 100, warmup: 10, peak: 1) == 0.1)
        #expect(MaskedTrainer.learningRate(step: 10, total: 100, warmup: 10, peak: 1) == 1)
        #expect(abs(MaskedTrainer.learningRate(step: 55, total: 100, warmup: 10, peak: 1) - 0.5) < 1e-6)
        #expect(MaskedTrainer.learningRate(step: 100, total: 100, warmup: 10, peak: 1) < 1e-6)
    }

    @Test(arguments: [false, true]) func crossEntropyGradientMatchesAFiniteDifference(symmetric: Bool) {
        // Three inputs (two of one class), three prompts, unit-ish vectors; symmetric: CLIP's
        // form, prompts to inputs too.
        var embeddings: [[Float]] = [
            [0.6, 0.8, 0], [0, 0.6, 0.8], [0.48, 0.6, 0.64], [1, 0, 0], [0, 1, 0], [0, 0, 1],
        ]
        let targets = [1, 2, 1].map { MaskedTrainer.Target(label: $0, classes: 0..<3) }
        func loss(_ e: [[Float]]) -> (loss: Float, gradients: [[Float]]) {
            let result = MaskedTrainer.crossEntropy(
                inputs: Array(e[..<3]), prompts: Array(e[3...]), targets: targets, scale: 20, symmetric: symmetric)
            return (result.loss, result.inputs + result.prompts)
        }
        let gradients = loss(embeddings).gradients
        for (row, column) in [(0, 1), (1, 2), (2, 0), (4, 0), (5, 2), (3, 0)] {
            let eps: Float = 1e-3
            embeddings[row][column] += eps
            let up = loss(embeddings).loss
            embeddings[row][column] -= 2 * eps
            let down = loss(embeddings).loss
            embeddings[row][column] += eps
            let difference = (up - down) / (2 * eps)
            #expect(
                abs(difference - gradients[row][column]) <= 1e-2 * max(1, abs(gradients[row][column])),
                "\(row),\(column): \(difference) vs \(gradients[row][column])")
        }
        // The symmetric loss is the mean of the two directions: with one input per class it
        // is the one-way loss averaged with its transpose's; inputs of one class that match
        // their prompt cost nothing in either direction.
        if symmetric {
            let e: [[Float]] = [[1, 0], [0, 1], [0.8, 0.6], [0.6, 0.8]]
            let pairs = [0, 1].map { MaskedTrainer.Target(label: $0, classes: 0..<2) }
            let both = MaskedTrainer.crossEntropy(
                inputs: Array(e[..<2]), prompts: Array(e[2...]), targets: pairs, scale: 10, symmetric: true
            ).loss
            let forward = MaskedTrainer.crossEntropy(
                inputs: Array(e[..<2]), prompts: Array(e[2...]), targets: pairs, scale: 10
            ).loss
            let backward = MaskedTrainer.crossEntropy(
                inputs: Array(e[2...]), prompts: Array(e[..<2]), targets: pairs, scale: 10
            ).loss
            #expect(abs(both - (forward + backward) / 2) < 1e-5)
            let twins = [0, 0, 1].map { MaskedTrainer.Target(label: $0, classes: 0..<2) }
            let perfect = MaskedTrainer.crossEntropy(
                inputs: [[1, 0], [1, 0], [0, 1]], prompts: [[1, 0], [0, 1]], targets: twins, scale: 100, symmetric: true
            )
            #expect(perfect.loss < 1e-6 && perfect.correct == 3)
        }
    }
}
