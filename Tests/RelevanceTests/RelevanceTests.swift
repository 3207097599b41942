import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Models
@testable import Relevance

struct RelevanceTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/text"

    @Test func topKSelectsExactlyKWithTiesAtTheLowerPositions() throws {
        #expect(try MaskSelection.top([0.5, 0.9, 0.1, 0.9, 0.3], rate: 0.4) == [1, 3])
        #expect(try MaskSelection.top([1, 1, 1, 1], rate: 0.5) == [0, 1])
        #expect(try MaskSelection.top([0.2, 0.1], rate: 0.01) == [0])  // at least one
        var generator = SeededGenerator(seed: 3)
        let scores = (0..<10_000).map { _ in Float(generator.next() % 100) }  // many ties
        let top = try MaskSelection.top(scores, rate: 0.1)
        #expect(top.count == 1000 && top == top.sorted())
        let cut = top.map { scores[$0] }.min()!
        #expect(scores.indices.filter { scores[$0] > cut }.allSatisfy { top.contains($0) })
    }

    @Test func theOutputNormGradientMatchesAFiniteDifference() throws {
        let checkpoint = try Checkpoint.open(Self.fixtures + "/tiny_bert.safetensors")
        let config = Self.fixtures + "/tiny_bert_config.json"
        let model = try BertModel(checkpoint: checkpoint, configFile: config)
        let batch: [[Int32]] = [[2, 17, 45, 9, 3], [2, 5, 6, 7, 8, 9, 3], [2, 11, 12, 3], [2, 13, 3]]
        let loss: BertModel.EmbeddingLoss = { embeddings in
            let result = RelevanceScorer.outputNormLoss(
                inputs: Array(embeddings[..<2]), prompts: Array(embeddings[2...]), scale: 20)
            return (result.loss, result.inputs + result.prompts)
        }
        let names = Set(
            (0..<2).flatMap {
                ["encoder.layer.\($0).intermediate.dense.weight", "encoder.layer.\($0).intermediate.dense.bias"]
            })
        let result = try model.gradients(batch, of: names, loss: loss)
        #expect(result.loss > 0)
        for layer in [0, 1] {
            let gradient = try #require(result.tensors["encoder.layer.\(layer).intermediate.dense.weight"])
            let j = gradient.indices.max { abs(gradient[$0]) < abs(gradient[$1]) }!
            let name = "encoder.layer.\(layer).intermediate.dense.weight"
            let weight = try checkpoint.view(named: name).floatValues()
            func lossWith(_ delta: Float) throws -> Float {
                var changed = weight
                changed[j] += delta
                let view = TensorView.make(dtype: .f32, shape: [64, 32]) { buffer in
                    changed.withUnsafeBytes { buffer.copyMemory(from: $0) }
                }
                let perturbed = try BertModel(checkpoint: checkpoint, configFile: config, replacements: [name: view])
                return loss(try perturbed.embed(batch)).loss
            }
            let eps: Float = 1e-2
            let difference = (try lossWith(eps) - lossWith(-eps)) / (2 * eps)
            #expect(
                abs(difference - gradient[j]) <= 0.02 * abs(gradient[j]),
                "layer \(layer): \(difference) vs \(gradient[j])")
            // The bias gradient too.
            let biasGradient = try #require(result.tensors["encoder.layer.\(layer).intermediate.dense.bias"])
            let b = biasGradient.indices.max { abs(biasGradient[$0]) < abs(biasGradient[$1]) }!
            let biasName = "encoder.layer.\(layer).intermediate.dense.bias"
            let bias = try checkpoint.view(named: biasName).floatValues()
            func lossWithBias(_ delta: Float) throws -> Float {
                var changed = bias
                changed[b] += delta
                let view = TensorView.make(dtype: .f32, shape: [64]) { buffer in
                    changed.withUnsafeBytes { buffer.copyMemory(from: $0) }
                }
                return loss(
                    try BertModel(checkpoint: checkpoint, configFile: config, replacements: [biasName: view]).embed(
                        batch)
                ).loss
            }
            let biasDifference = (try lossWithBias(eps) - lossWithBias(-eps)) / (2 * eps)
            #expect(
                abs(biasDifference - biasGradient[b]) <= 0.02 * abs(biasGradient[b]),
                "layer \(layer) bias: \(biasDifference) vs \(biasGradient[b])")
        }
    }
}

/// SPU's loss on CLIP: images against text prompts at the learned logit scale, through both
/// towers of the tiny open_clip model.
struct CLIPRelevanceTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/clip"

    @Test func theOutputNormGradientOfBothTowersMatchesAFiniteDifference() throws {
        let checkpoint = try Checkpoint.open(Self.fixtures + "/tiny_open_clip.safetensors")
        let config = Self.fixtures + "/open_clip_config.json"
        let model = try CLIPModel(checkpoint: checkpoint, configFile: config)
        let pixels = try checkpoint.view(named: "expected.images").floatValues()
        let images = (0..<2).map { Array(pixels[($0 * 3072)..<(($0 + 1) * 3072)]) }
        let prompts: [[Int32]] = [[998, 17, 45, 9, 999], [998, 5, 6, 7, 8, 9, 999], [998, 11, 999]]
        let scale = exp(model.logitScale)
        let loss: CLIPModel.EmbeddingLoss = { images, texts in
            let result = RelevanceScorer.outputNormLoss(inputs: images, prompts: texts, scale: scale)
            return (result.loss, result.inputs, result.prompts)
        }
        let names = [model.firstMLPNames.vision[0], model.firstMLPNames.text[1]]
        let result = try model.gradients(images: images, texts: prompts, of: Set(names), loss: loss)
        #expect(result.loss > 0)
        for name in names {
            let gradient = try #require(result.tensors[name])
            let j = gradient.indices.max { abs(gradient[$0]) < abs(gradient[$1]) }!
            let entry = try #require(checkpoint.entry(named: name))
            let weight = try checkpoint.view(entry).floatValues()
            func lossWith(_ delta: Float) throws -> Float {
                var changed = weight
                changed[j] += delta
                let view = TensorView.make(dtype: .f32, shape: entry.shape) { buffer in
                    changed.withUnsafeBytes { buffer.copyMemory(from: $0) }
                }
                let perturbed = try CLIPModel(checkpoint: checkpoint, configFile: config, replacements: [name: view])
                return loss(try perturbed.embedImages(images), try perturbed.embedTexts(prompts)).loss
            }
            let eps: Float = 1e-2
            let difference = (try lossWith(eps) - lossWith(-eps)) / (2 * eps)
            #expect(
                abs(difference - gradient[j]) <= 0.02 * abs(gradient[j]), "\(name): \(difference) vs \(gradient[j])")
        }
    }
}
