import Foundation
import Models

/// AdamW (β 0.9, 0.999, ε 1e-8; decoupled decay, PyTorch's order: decay, then the Adam step)
/// over the masked positions of a model's tensors. State is kept for those positions only,
/// so nothing else can move.
struct AdamW {
    struct Moments {
        var m: [Float], v: [Float]
        init(_ count: Int) {
            m = [Float](repeating: 0, count: count)
            v = m
        }
    }

    let masks: [String: MaskedTrainer.TensorMask]
    let decay: Float
    var moments: [String: Moments]
    var step = 0
    let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8

    init(encoder: any TrainableEncoder, masks: [String: MaskedTrainer.TensorMask], settings: MaskedTrainer.Settings)
        throws
    {
        self.masks = masks
        decay = settings.weightDecay
        var moments: [String: Moments] = [:]
        for (name, mask) in masks {
            guard let values = encoder.values(of: name) else {
                throw ModelError(name, "is not a trainable tensor of the model", kind: .incompatible)
            }
            if case .positions(let positions) = mask,
                let outside = positions.first(where: { $0 < 0 || $0 >= values.count })
            {
                throw ModelError(
                    name, "mask position \(outside) is outside the tensor's \(values.count) elements",
                    kind: .incompatible)
            }
            moments[name] = Moments(mask.count(of: values.count))
        }
        self.moments = moments
    }

    /// Biases and LayerNorm parameters (BERT's `LayerNorm`, open_clip's `ln_`, Hugging Face
    /// CLIP's `layer_norm`) are not decayed.
    private static func decays(_ name: String) -> Bool {
        !name.hasSuffix(".bias") && !["LayerNorm", "ln_", "layer_norm", "layernorm"].contains(where: name.contains)
    }

    mutating func step(_ encoder: any TrainableEncoder, gradients: [String: [Float]], rate: Float) throws {
        step += 1
        let correction1 = 1 - pow(beta1, Float(step))
        let correction2 = 1 - pow(beta2, Float(step))
        for (name, mask) in masks {
            guard let gradient = gradients[name] else { continue }
            let decay = Self.decays(name) ? self.decay : 0
            let (beta1, beta2, epsilon) = (self.beta1, self.beta2, self.epsilon)
            // Taken out of the dictionary while it changes (a move, not a copy).
            var state = moments.removeValue(forKey: name)!
            defer { moments[name] = state }
            try encoder.modify(name) { values in
                state.m.withUnsafeMutableBufferPointer { m in
                    state.v.withUnsafeMutableBufferPointer { v in
                        values.withUnsafeMutableBufferPointer { w in
                            gradient.withUnsafeBufferPointer { g in
                                func update(_ k: Int, _ i: Int) {
                                    m[k] = beta1 * m[k] + (1 - beta1) * g[i]
                                    v[k] = beta2 * v[k] + (1 - beta2) * g[i] * g[i]
                                    w[i] *= 1 - rate * decay
                                    w[i] -= rate * (m[k] / correction1) / ((v[k] / correction2).squareRoot() + epsilon)
                                }
                                switch mask {
                                case .all: for i in 0..<w.count { update(i, i) }
                                case .positions(let positions): for (k, i) in positions.enumerated() { update(k, i) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
