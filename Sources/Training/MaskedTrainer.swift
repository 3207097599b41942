import Foundation
import Models
import Relevance

/// Trains BERT's first-MLP parameters under a mask with AdamW, on a text task's
/// cross-entropy over the similarities between each text and the class prompts.
///
/// Only masked positions ever change: the optimizer keeps state for them alone and weight
/// decay touches them alone, so every other weight ends bit-identical to the base.
public enum MaskedTrainer {
    public struct Settings: Sendable {
        public var epochs = 3
        public var learningRate: Float = 1e-4
        public var batchSize = 32
        /// Decoupled weight decay (AdamW) on masked weights; biases are not decayed.
        public var weightDecay: Float = 0.01
        /// The fraction of the steps the learning rate rises linearly, before the cosine decay.
        public var warmup: Double = 0.1
        public var seed: UInt64 = 0
        /// Logits are similarities divided by this (0.05: a scale of 20).
        public var temperature: Float = 0.05
        public init() {}
    }

    public struct Result: Sendable {
        public let steps: Int
        /// Mean loss and accuracy over the last epoch's batches.
        public let finalLoss: Double
        public let finalAccuracy: Double
        public let seconds: Double
    }

    /// Positions of one layer's first MLP linear that may train.
    public struct LayerMask: Sendable {
        public let weight: [Int]
        public let bias: [Int]
        public init(weight: [Int], bias: [Int]) {
            self.weight = weight
            self.bias = bias
        }
    }

    struct Moments {
        var m: [Float], v: [Float]
        init(_ count: Int) { m = [Float](repeating: 0, count: count); v = m }
    }

    /// Trains `encoder.model` in place; `masks` per layer index.
    public static func train(_ encoder: TextEncoder, task: TextTask, masks: [Int: LayerMask], settings: Settings) throws -> Result {
        let start = Date()
        let model = encoder.model
        let examples = try task.examples("train")
        let prompts = task.prompts.map(encoder.tokenizer.encode)
        let layers = Set(masks.keys)
        guard !layers.isEmpty else { throw ModelError(task.folder, "the mask selects nothing to train") }
        let batchSize = max(1, settings.batchSize)
        let batchesPerEpoch = (examples.count + batchSize - 1) / batchSize
        let totalSteps = max(1, settings.epochs * batchesPerEpoch)
        let warmupSteps = Int((settings.warmup * Double(totalSteps)).rounded())
        var weightMoments = masks.mapValues { Moments($0.weight.count) }
        var biasMoments = masks.mapValues { Moments($0.bias.count) }
        let (beta1, beta2, epsilon): (Float, Float, Float) = (0.9, 0.999, 1e-8)
        var step = 0
        var lastLoss = 0.0, lastCorrect = 0
        let scale = 1 / settings.temperature
        for epoch in 0..<max(0, settings.epochs) {
            let order = SeededGenerator.shuffled(Array(examples.indices), seed: settings.seed &+ UInt64(epoch))
            lastLoss = 0
            lastCorrect = 0
            for first in stride(from: 0, to: order.count, by: batchSize) {
                let items = order[first..<min(order.count, first + batchSize)].map { examples[$0] }
                let texts = items.map { encoder.tokenizer.encode($0.text) }
                var correct = 0
                let gradients = try model.firstMLPGradients(texts + prompts, layers: layers) { embeddings in
                    let (loss, grads, hits) = crossEntropy(embeddings, labels: items.map(\.label), scale: scale)
                    correct = hits
                    return (loss, grads)
                }
                step += 1
                let rate = learningRate(step: step, total: totalSteps, warmup: warmupSteps, peak: settings.learningRate)
                let correction1 = 1 - pow(beta1, Float(step)), correction2 = 1 - pow(beta2, Float(step))
                for (layer, mask) in masks {
                    var weight = model.firstMLPWeight(layer: layer), bias = model.firstMLPBias(layer: layer)
                    if let g = gradients.weights[layer] {
                        update(&weight, positions: mask.weight, gradient: g, moments: &weightMoments[layer]!, rate: rate, decay: settings.weightDecay,
                               beta1: beta1, beta2: beta2, epsilon: epsilon, correction1: correction1, correction2: correction2)
                    }
                    if let g = gradients.biases[layer] {
                        update(&bias, positions: mask.bias, gradient: g, moments: &biasMoments[layer]!, rate: rate, decay: 0,
                               beta1: beta1, beta2: beta2, epsilon: epsilon, correction1: correction1, correction2: correction2)
                    }
                    model.setFirstMLP(layer: layer, weight: weight, bias: bias)
                }
                lastLoss += Double(gradients.loss) * Double(items.count)
                lastCorrect += correct
            }
        }
        return Result(steps: step, finalLoss: lastLoss / Double(max(examples.count, 1)),
                      finalAccuracy: Double(lastCorrect) / Double(max(examples.count, 1)), seconds: Date().timeIntervalSince(start))
    }

    /// AdamW at `positions` only (PyTorch's order: decay, then the Adam step).
    static func update(_ values: inout [Float], positions: [Int], gradient: [Float], moments: inout Moments, rate: Float, decay: Float,
                       beta1: Float, beta2: Float, epsilon: Float, correction1: Float, correction2: Float) {
        for (k, position) in positions.enumerated() {
            let g = gradient[position]
            moments.m[k] = beta1 * moments.m[k] + (1 - beta1) * g
            moments.v[k] = beta2 * moments.v[k] + (1 - beta2) * g * g
            values[position] *= 1 - rate * decay
            values[position] -= rate * (moments.m[k] / correction1) / ((moments.v[k] / correction2).squareRoot() + epsilon)
        }
    }

    /// Linear warmup to `peak`, then cosine decay to zero.
    static func learningRate(step: Int, total: Int, warmup: Int, peak: Float) -> Float {
        if step <= warmup, warmup > 0 { return peak * Float(step) / Float(warmup) }
        let progress = Double(step - warmup) / Double(max(1, total - warmup))
        return peak * Float(0.5 * (1 + cos(Double.pi * min(1, progress))))
    }

    /// Mean cross-entropy of logits = scale · e_i · p_c over the first `labels.count`
    /// embeddings (texts) against the rest (class prompts); its gradients; the correct count.
    static func crossEntropy(_ embeddings: [[Float]], labels: [Int], scale: Float) -> (Float, [[Float]], Int) {
        let n = labels.count
        let prompts = Array(embeddings[n...])
        var gradients = embeddings.map { [Float](repeating: 0, count: $0.count) }
        var loss: Float = 0
        var correct = 0
        for i in 0..<n {
            let e = embeddings[i]
            let logits = prompts.map { p in scale * zip(e, p).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            let highest = logits.max() ?? 0
            let exps = logits.map { exp($0 - highest) }
            let sum = exps.reduce(0, +)
            loss += (log(sum) + highest - logits[labels[i]]) / Float(n)
            if logits.indices.max(by: { logits[$0] < logits[$1] }) == labels[i] { correct += 1 }
            for (c, p) in prompts.enumerated() {
                let d = (exps[c] / sum - (c == labels[i] ? 1 : 0)) / Float(n) * scale
                for k in e.indices {
                    gradients[i][k] += d * p[k]
                    gradients[n + c][k] += d * e[k]
                }
            }
        }
        return (loss, gradients, correct)
    }
}
