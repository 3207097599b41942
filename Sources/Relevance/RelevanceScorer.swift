import Foundation
import Models
import Tensors

/// How the weights of the eligible layers are scored for a task.
public enum ScoreMethod: String, CaseIterable, Sendable {
    /// SPU: |Σ over the scoring batches of the gradient| of the output-norm loss.
    case spu
    /// Fisher information: the mean over the scoring batches of the squared gradient.
    case fisher
    /// |w|, no data.
    case magnitude
    /// Seeded uniform noise, the ablation.
    case random
}

/// Task-relevance scores of BERT's first-MLP weights (`intermediate.dense.weight`, every layer).
///
/// The loss is SPU's output-norm loss: for a batch of task texts and the task's class
/// prompts, logits = s · e_i · p_c (normalised embeddings; s = 20, sentence-transformers'
/// temperature 0.05) and loss = mean over the texts of ‖logits_i‖². Gradients flow through the
/// texts and the prompts alike, as both are encoded by the model being scored.
public enum RelevanceScorer {
    public struct Settings: Sendable {
        public var method: ScoreMethod = .spu
        /// The fraction of the task's training batches the gradient is summed over.
        public var scoreFraction: Double = 0.25
        public var batchSize = 32
        public var seed: UInt64 = 0
        public var logitScale: Float = 20
        public init() {}
    }

    /// Scores per layer index (same shape as that layer's intermediate.dense.weight).
    public static func scores(_ encoder: TextEncoder, task: TextTask, settings: Settings) throws -> [Int: [Float]] {
        let model = encoder.model
        let layers = Array(0..<model.configuration.layers)
        switch settings.method {
        case .magnitude:
            return Dictionary(uniqueKeysWithValues: layers.map { ($0, model.firstMLPWeight(layer: $0).map { abs($0) }) })
        case .random:
            return Dictionary(uniqueKeysWithValues: layers.map { layer in
                var generator = SeededGenerator(seed: settings.seed &+ UInt64(layer) &* 0x9E37_79B9_7F4A_7C15)
                return (layer, model.firstMLPWeight(layer: layer).map { _ in Float(generator.next() >> 40) })
            })
        case .spu, .fisher:
            break
        }
        let examples = try task.examples("train")
        let prompts = task.prompts.map(encoder.tokenizer.encode)
        let order = SeededGenerator.shuffled(Array(examples.indices), seed: settings.seed)
        let batchSize = max(1, settings.batchSize)
        let batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min(order.count, $0 + batchSize)]) }
        let used = max(1, Int((Double(batches.count) * settings.scoreFraction).rounded(.up)))
        var totals: [Int: [Float]] = [:]
        let scale = settings.logitScale
        for batch in batches.prefix(used) {
            let texts = batch.map { encoder.tokenizer.encode(examples[$0].text) }
            let count = texts.count
            let gradients = try model.firstMLPGradients(texts + prompts, layers: Set(layers)) { embeddings in
                outputNormLoss(embeddings, samples: count, scale: scale)
            }.weights
            for (layer, gradient) in gradients {
                var total = totals[layer] ?? [Float](repeating: 0, count: gradient.count)
                if settings.method == .fisher {
                    for i in gradient.indices { total[i] += gradient[i] * gradient[i] / Float(used) }
                } else {
                    for i in gradient.indices { total[i] += gradient[i] }
                }
                totals[layer] = total
            }
        }
        if settings.method == .spu {
            for (layer, total) in totals { totals[layer] = total.map { abs($0) } }
        }
        return totals
    }

    /// mean_i Σ_c (s · e_i · p_c)² over the first `samples` embeddings (texts) against the rest
    /// (class prompts), and its gradient with respect to every embedding.
    static func outputNormLoss(_ embeddings: [[Float]], samples: Int, scale: Float) -> (loss: Float, gradients: [[Float]]) {
        let texts = embeddings[..<samples], prompts = embeddings[samples...]
        var gradients = embeddings.map { [Float](repeating: 0, count: $0.count) }
        var loss: Float = 0
        let factor = 2 * scale * scale / Float(max(samples, 1))
        for (i, e) in texts.enumerated() {
            for (c, p) in prompts.enumerated() {
                let dot = zip(e, p).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                loss += scale * scale * dot * dot / Float(samples)
                for k in e.indices {
                    gradients[i][k] += factor * dot * p[k]
                    gradients[samples + c][k] += factor * dot * e[k]
                }
            }
        }
        return (loss, gradients)
    }
}

/// A small seeded generator (SplitMix64), so scores, shuffles and training repeat exactly.
public struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fisher–Yates with this generator.
    public static func shuffled<T>(_ items: [T], seed: UInt64) -> [T] {
        var generator = SeededGenerator(seed: seed)
        var out = items
        if out.count > 1 {
            for i in stride(from: out.count - 1, to: 0, by: -1) {
                let j = Int(generator.next() % UInt64(i + 1))
                out.swapAt(i, j)
            }
        }
        return out
    }
}

/// Keeps each tensor's highest scores.
public enum MaskSelection {
    /// The flat positions of the k = max(1, round(rate · count)) highest scores, sorted; among
    /// equal scores at the cut, the lower positions.
    public static func top(_ scores: [Float], rate: Double) -> [Int] {
        guard !scores.isEmpty else { return [] }
        let k = min(scores.count, max(1, Int((rate * Double(scores.count)).rounded())))
        let order = scores.indices.sorted { a, b in scores[a] != scores[b] ? scores[a] > scores[b] : a < b }
        return Array(order.prefix(k)).sorted()
    }
}
