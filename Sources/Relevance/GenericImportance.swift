import Foundation
import Models
import Tensors

/// How much a model relies on each weight for generic inputs, whatever the task: the MAS
/// importance of Memory Aware Synapses (Aljundi, Babiloni, Elhoseiny, Rohrbach, Tuytelaars,
/// "Memory Aware Synapses: Learning what (not) to forget", ECCV 2018),
///
///     Ω(w) = 1/N · Σ_x |∂ ‖p(x)‖² / ∂w|
///
/// over N unlabeled generic texts x, where p(x) is the encoder's embedding *before* its L2
/// normalisation (BERT: the mean-pooled last hidden state; CLIP: the projected text features).
///
/// Why MAS and not the empirical Fisher: the generic data is unlabeled text, and the empirical
/// Fisher needs each example's label to take the log-likelihood's gradient; MAS needs none,
/// only the output. Why before the normalisation: sentence-transformers' encoders (and CLIP)
/// output unit vectors, so ‖f(x)‖² of the output is 1 for every x and its gradient zero; the
/// pooled vector's squared norm is the last quantity that moves with the weights, and a weight
/// that changes it changes the direction of the output too (the normalised output is p / ‖p‖).
/// Why the absolute value per text, not of the sum: importance should add up over inputs, as
/// in the paper; SPU's task relevance sums first on purpose, letting opposite pulls cancel.
///
/// Each text is its own forward and backward pass, without dropout, on the model being
/// updated (base + earlier patches), so the cost is N passes of batch 1.
public enum GenericImportance {
    /// Where the generic texts come from and how many are used.
    public struct Settings: Sendable {
        /// The generic text file: UTF-8, one text per line (blank lines skipped). nil: none given.
        public var textFile: String?
        /// How many of its texts, from the first, importance is measured on. 256 by default:
        /// on the WordNet demo's first task the spu-mas-ratio mask from 256 texts shares 95 % of
        /// its weights with the mask from 1,024 (89.5 % from 64, 97.1 % from 512), while each
        /// text costs a forward and a backward pass, about 60 ms on 2 cores
        /// (Manual/knowledge-aware.md).
        public var examples = 256
        /// The defaults: no generic text, 256 examples.
        public init() {}
    }

    /// The generic text file's texts, read as Scalpel reads every text file (`TextFile`):
    /// its first `count` non-blank lines, in order, or all of them.
    /// - Throws: `FileError` naming `path` when it is missing, not a regular file, not UTF-8,
    ///   holds no text, or holds fewer than `count` texts.
    public static func texts(_ path: String, count: Int) throws -> [String] {
        let lines = try TextFile.lines(path).filter { !$0.allSatisfy(\.isWhitespace) }
        guard !lines.isEmpty else {
            throw FileError(
                path,
                """
                holds no text: give a generic text file with one text per line (Samples/make_generic_text.py \
                writes one)
                """,
                kind: .incompatible)
        }
        guard lines.count >= count else {
            throw FileError(
                path,
                """
                holds \(lines.count) texts, fewer than the \(count) importance is to be measured on: give a \
                smaller --generic-examples or more text
                """,
                kind: .incompatible
            )
        }
        return Array(lines.prefix(count))
    }

    /// The SHA-256 (64 hex digits) of the generic text file's bytes, which decide the importance.
    /// - Throws: `FileError` naming `path` when it cannot be read.
    public static func fingerprint(_ path: String) throws -> String {
        try TextFile.contents(path).withUnsafeBytes { Fingerprint.sha256($0) }
    }

    /// MAS importance Ω of each tensor in `tensors` (checkpoint names; each the tensor's shape,
    /// row-major; units: squared embedding norm per unit of weight) over `texts`.
    /// - Throws: `ModelError` naming a tensor that the model cannot train, or one that no text
    ///   reaches (all its importance zero: a CLIP image-tower tensor never sees text), as the
    ///   knowledge-aware scores could not rank it; and what the encoder's passes throw.
    public static func mas(_ encoder: any TrainableEncoder, texts: [String], tensors: [String]) throws -> [String:
        [Float]]
    {
        var totals: [String: [Float]] = [:]
        for name in tensors {
            guard let count = encoder.values(of: name)?.count else {
                throw ModelError(name, "is not a trainable tensor of the model", kind: .incompatible)
            }
            totals[name] = [Float](repeating: 0, count: count)
        }
        let share = 1 / Float(max(texts.count, 1))
        for text in texts {
            let gradients = try encoder.gradients(
                inputs: [.text(text)], prompts: [], of: Set(tensors), dropoutSeed: nil, stage: .unnormalised
            ) {
                squaredNormLoss(inputs: $0, prompts: $1)
            }.tensors
            for (name, gradient) in gradients {
                totals[name]!.withUnsafeMutableBufferPointer { total in
                    for i in gradient.indices { total[i] += abs(gradient[i]) * share }
                }
            }
        }
        for name in tensors where totals[name]!.allSatisfy({ $0 == 0 }) {
            throw ModelError(
                name,
                """
                has no importance on generic text (no text reaches it: a CLIP image tower sees none), so it \
                cannot be ranked by it; leave it out with --layers (for CLIP, 'transformer.*' selects the text \
                tower)
                """,
                kind: .incompatible
            )
        }
        return totals
    }

    /// Σ_i ‖p_i‖² of the inputs' (unnormalised) embeddings, and its gradient 2 p_i; the
    /// prompts, if any, take no part.
    static func squaredNormLoss(inputs: [[Float]], prompts: [[Float]]) -> (
        loss: Float, inputs: [[Float]], prompts: [[Float]]
    ) {
        let loss = inputs.reduce(Float(0)) { total, p in p.reduce(total) { $0 + $1 * $1 } }
        return (loss, inputs.map { $0.map { 2 * $0 } }, prompts.map { $0.map { _ in 0 } })
    }
}
