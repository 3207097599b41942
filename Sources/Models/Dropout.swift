import Foundation
import Tensors

/// Training-time dropout for one forward pass: probabilities and the seed of the masks, so a
/// training run repeats exactly. Inverted dropout, as PyTorch: kept elements are scaled by
/// 1 / (1 − p), so nothing changes at evaluation time.
public struct Dropout: Sendable {
    /// After the embeddings and on each sublayer's output, before its residual sum.
    public var hidden: Float
    /// On the attention probabilities.
    public var attention: Float
    /// The seed of the masks' random stream (`SeededGenerator`).
    public var seed: UInt64

    /// Dropout with probability `hidden` on the hidden states and `attention` on the attention probabilities
    /// (each in [0, 1); not checked here), masks drawn from `seed`.
    public init(hidden: Float, attention: Float, seed: UInt64) {
        self.hidden = hidden
        self.attention = attention
        self.seed = seed
    }

    /// The model's own probabilities (its config.json's), with `seed`.
    public init(_ configuration: BertModel.Configuration, seed: UInt64) {
        self.init(hidden: configuration.hiddenDropout, attention: configuration.attentionDropout, seed: seed)
    }

    /// The masks of one pass, drawn in the order the forward pass asks for them.
    struct Draws {
        let dropout: Dropout
        var generator: SeededGenerator

        init(_ dropout: Dropout) {
            self.dropout = dropout
            generator = SeededGenerator(seed: dropout.seed)
        }

        /// Applies hidden dropout to `x` in place and returns its mask (empty when p = 0).
        mutating func hidden(_ x: inout [Float]) -> [Float] {
            let mask = draw(count: x.count, probability: dropout.hidden)
            for i in mask.indices { x[i] *= mask[i] }
            return mask
        }

        /// A mask for `count` attention probabilities (empty when p = 0).
        mutating func attention(count: Int) -> [Float] { draw(count: count, probability: dropout.attention) }

        /// Each element kept with probability 1 − p (then 1 / (1 − p)), else 0; 24 bits of
        /// the generator per element.
        mutating func draw(count: Int, probability p: Float) -> [Float] {
            guard p > 0 else { return [] }
            let keep = 1 / (1 - p)
            let threshold = UInt64((Double(p) * 16_777_216).rounded())
            return (0..<count).map { _ in generator.next() >> 40 < threshold ? 0 : keep }
        }
    }
}
