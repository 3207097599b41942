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
    /// SPU's relevance divided by the weight's MAS importance on generic text, plus a floor
    /// (`KnowledgeAwareScores.ratio`).
    case spuMASRatio = "spu-mas-ratio"
    /// SPU's relevance, but the weights of the highest MAS importance on generic text (the
    /// `protectedFraction` of each tensor) may not be selected (`KnowledgeAwareScores.excluding`).
    case spuMASExclude = "spu-mas-exclude"

    /// Whether the score needs generic text (`GenericImportance`).
    public var usesGenericImportance: Bool { self == .spuMASRatio || self == .spuMASExclude }
}

/// Task-relevance scores of an encoder's eligible tensors (BERT or CLIP, by checkpoint name),
/// as SPU defines them (Zhang, Janson, Aljundi and Elhoseiny, "Overcoming Generic Knowledge
/// Loss with Selective Parameter Update", CVPR 2024): each weight's |Σ gradient| over a
/// fraction of the task's batches, of which each tensor's top fraction is then kept.
///
/// The loss is SPU's output-norm loss: for a batch of task inputs (texts or images) and the
/// task's class prompts, logits = s · e_i · p_c (normalised embeddings; s the checkpoint's
/// learned logit scale, exp(logit_scale), where it has one, else 20, sentence-transformers'
/// temperature 0.05) and loss = mean over the inputs of ‖logits_i‖². Gradients flow through
/// the inputs and the prompts alike, as both are encoded by the model being scored. Scoring
/// runs without dropout.
public enum RelevanceScorer {
    /// How the scores are computed (the defaults are the SPU paper's).
    public struct Settings: Sendable {
        /// Which score; SPU by default.
        public var method: ScoreMethod = .spu
        /// The fraction of the task's training batches the gradient is summed over.
        public var scoreFraction: Double = 0.25
        /// Inputs per scoring batch.
        public var batchSize = 32
        /// Seeds the choice and order of the scoring batches (and the random score).
        public var seed: UInt64 = 0
        /// nil: the checkpoint's learned scale, else 20.
        public var logitScale: Float?
        /// The generic text and how much of it the knowledge-aware scores measure
        /// importance on; unused by the other scores.
        public var generic = GenericImportance.Settings()
        /// spu-mas-ratio: ε as a fraction of each tensor's mean importance (`KnowledgeAwareScores.ratio`).
        public var importanceFloor = 0.1
        /// spu-mas-exclude: the fraction q of each tensor, highest generic importance first,
        /// that the mask may not select. 0.1 by default, the size of SPU's mask: the update may
        /// not touch as many of the weights generic text leans on most as it changes in all.
        public var protectedFraction = 0.1
        /// The defaults.
        public init() {}
    }

    /// Scores of each tensor in `tensors` (checkpoint names; same shapes as the tensors).
    /// A position scoring −∞ may not be selected (spu-mas-exclude's protected weights).
    /// - Throws: `ModelError` naming a tensor the model cannot train; for the knowledge-aware
    ///   scores, `FileError` naming a missing, unreadable or too short generic text file, and
    ///   what `GenericImportance.mas` throws; what reading the task and the passes throw.
    public static func scores(_ encoder: any TrainableEncoder, task: TaskFolder, tensors: [String], settings: Settings)
        throws -> [String: [Float]]
    {
        // The generic text first, so a bad file is refused before any pass runs (and only
        // where the score reads it).
        let genericTexts =
            settings.method.usesGenericImportance
            ? try settings.generic.textFile.map { try GenericImportance.texts($0, count: settings.generic.examples) }
            : nil
        var values: [String: [Float]] = [:]
        for name in tensors {
            guard let tensor = encoder.values(of: name) else {
                throw ModelError(name, "is not a trainable tensor of the model", kind: .incompatible)
            }
            values[name] = tensor
        }
        switch settings.method {
        case .magnitude:
            return values.mapValues { $0.map { abs($0) } }
        case .random:
            // Each tensor its own stream, keyed by its name, so adding a tensor changes no
            // other's, and by the task's folder name, so each task of a sequence draws its own
            // mask (as SPU's differ from task to task).
            let taskName = URL(fileURLWithPath: task.folder).lastPathComponent
            return Dictionary(
                uniqueKeysWithValues: values.map { name, tensor in
                    var generator = SeededGenerator(
                        seed: settings.seed ^ Fingerprint.fnv1a(name) ^ Fingerprint.fnv1a("task " + taskName))
                    return (name, tensor.map { _ in Float(generator.next() >> 40) })
                })
        case .spu, .fisher, .spuMASRatio, .spuMASExclude:
            break
        }
        let (inputs, _) = try task.inputs("train")
        let order = SeededGenerator.shuffled(Array(inputs.indices), seed: settings.seed)
        let batchSize = max(1, settings.batchSize)
        let batches = stride(from: 0, to: order.count, by: batchSize).map {
            Array(order[$0..<min(order.count, $0 + batchSize)])
        }
        let used = max(1, Int((Double(batches.count) * settings.scoreFraction).rounded(.up)))
        var totals = values.mapValues { [Float](repeating: 0, count: $0.count) }
        let scale = settings.logitScale ?? encoder.learnedLogitScale ?? 20
        WorkProgress.expect(used)
        for batch in batches.prefix(used) {
            defer { WorkProgress.add(1) }
            let gradients = try encoder.gradients(
                inputs: batch.map { inputs[$0] }, prompts: task.prompts, of: Set(tensors), dropoutSeed: nil
            ) {
                outputNormLoss(inputs: $0, prompts: $1, scale: scale)
            }.tensors
            for (name, gradient) in gradients {
                totals[name]!.withUnsafeMutableBufferPointer { total in
                    if settings.method == .fisher {
                        for i in gradient.indices { total[i] += gradient[i] * gradient[i] / Float(used) }
                    } else {
                        for i in gradient.indices { total[i] += gradient[i] }
                    }
                }
            }
        }
        if settings.method == .fisher { return totals }
        let relevance = totals.mapValues { $0.map { abs($0) } }
        guard settings.method.usesGenericImportance else { return relevance }
        guard let genericTexts else { throw KnowledgeAwareScores.noGenericText(settings.method) }
        let importance = try GenericImportance.mas(encoder, texts: genericTexts, tensors: tensors)
        return Dictionary(
            uniqueKeysWithValues: relevance.map { name, r in
                (
                    name,
                    settings.method == .spuMASRatio
                        ? KnowledgeAwareScores.ratio(
                            relevance: r, importance: importance[name]!, floor: settings.importanceFloor)
                        : KnowledgeAwareScores.excluding(
                            relevance: r, importance: importance[name]!, fraction: settings.protectedFraction)
                )
            })
    }

    /// mean_i Σ_c (s · e_i · p_c)² of the inputs' embeddings against the class prompts', and
    /// its gradient with respect to every embedding.
    static func outputNormLoss(inputs: [[Float]], prompts: [[Float]], scale: Float) -> (
        loss: Float, inputs: [[Float]], prompts: [[Float]]
    ) {
        let samples = inputs.count
        var dInputs = inputs.map { [Float](repeating: 0, count: $0.count) }
        var dPrompts = prompts.map { [Float](repeating: 0, count: $0.count) }
        var loss: Float = 0
        let factor = 2 * scale * scale / Float(max(samples, 1))
        for (i, e) in inputs.enumerated() {
            for (c, p) in prompts.enumerated() {
                let dot = zip(e, p).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                loss += scale * scale * dot * dot / Float(samples)
                for k in e.indices {
                    dInputs[i][k] += factor * dot * p[k]
                    dPrompts[c][k] += factor * dot * e[k]
                }
            }
        }
        return (loss, dInputs, dPrompts)
    }
}

/// Keeps each tensor's highest scores.
public enum MaskSelection {
    /// The flat positions of the k = `count(scores.count, rate:)` highest scores, sorted; among
    /// equal scores at the cut, the lower positions. A position scoring −∞ is never selected.
    /// - Throws: `Shortage` when fewer than k positions score above −∞.
    public static func top(_ scores: [Float], rate: Double) throws -> [Int] {
        guard !scores.isEmpty else { return [] }
        let k = count(scores.count, rate: rate)
        let selectable = scores.indices.filter { scores[$0] != -.infinity }
        guard selectable.count >= k else { throw Shortage(selectable: selectable.count, needed: k) }
        let order = selectable.sorted { a, b in scores[a] != scores[b] ? scores[a] > scores[b] : a < b }
        return Array(order.prefix(k)).sorted()
    }

    /// k = max(1, round(rate · n)), at most n: how many of a tensor's n positions a mask keeps.
    public static func count(_ n: Int, rate: Double) -> Int {
        min(n, max(1, Int((rate * Double(n)).rounded())))
    }

    /// Fewer positions may be selected than the rate asks for.
    public struct Shortage: Error, CustomStringConvertible, Sendable {
        /// Positions scoring above −∞.
        public let selectable: Int
        /// k, the count the rate asks for.
        public let needed: Int
        /// The refusal's sentence.
        public var description: String {
            "only \(selectable) positions may be selected, fewer than the \(needed) the rate keeps"
        }
    }
}
