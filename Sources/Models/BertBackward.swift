import Foundation
import Tensors

extension BertModel {
    /// The loss of a batch's embeddings and the gradient of a scalar loss with respect to
    /// each of them, as the caller defines the loss.
    public typealias EmbeddingLoss = (_ embeddings: [[Float]]) -> (loss: Float, gradients: [[Float]])

    /// A loss and its gradients with respect to the first MLP linear of some layers.
    public struct MLPGradients: Sendable {
        public let loss: Float
        /// d loss / d intermediate.dense.weight, per layer index, [intermediate × hidden].
        public let weights: [Int: [Float]]
        /// d loss / d intermediate.dense.bias, per layer index.
        public let biases: [Int: [Float]]
    }

    /// Gradients of `loss` (a function of the batch's sentence embeddings) with respect to the
    /// first MLP linear (`intermediate.dense`, weight and bias) of each layer in `layers`. The
    /// backward pass computes activation gradients only down to the earliest of those layers
    /// and parameter gradients for those tensors only.
    public func firstMLPGradients(_ batch: [[Int32]], layers wanted: Set<Int>, loss: EmbeddingLoss) throws -> MLPGradients {
        let c = configuration
        guard let earliest = wanted.min() else { return MLPGradients(loss: loss([]).loss, weights: [:], biases: [:]) }
        guard wanted.allSatisfy({ $0 >= 0 && $0 < c.layers }) else {
            throw ModelError("layers", "layer indices must be in 0..<\(c.layers)")
        }
        let pass = try run(batch, recordFrom: earliest)
        let rows = batch.count * pass.length, h = c.hidden, f = c.intermediate
        let (embeddings, norms, counts) = pool(pass.hidden, length: pass.length, mask: pass.mask, count: batch.count)
        let (value, embeddingGradients) = loss(embeddings)
        guard embeddingGradients.count == batch.count, embeddingGradients.allSatisfy({ $0.count == h }) else {
            throw ModelError("loss", "the loss returned gradients of the wrong shape")
        }
        // Normalisation and mean pooling, backwards: dp = (de − e (e·de)) / |p|, spread over
        // the sequence's tokens.
        var dHidden = [Float](repeating: 0, count: rows * h)
        for b in 0..<batch.count {
            let e = embeddings[b], de = embeddingGradients[b]
            let dot = zip(e, de).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let scale = 1 / (norms[b] * counts[b])
            for t in 0..<pass.length where pass.mask[b * pass.length + t] != 0 {
                let row = (b * pass.length + t) * h
                for i in 0..<h { dHidden[row + i] = (de[i] - e[i] * dot) * scale }
            }
        }
        var gradients: [Int: [Float]] = [:], biasGradients: [Int: [Float]] = [:]
        var dx = dHidden
        var dSum = [Float](repeating: 0, count: rows * h), dAttention = dSum, dContext = dSum, dq = dSum, dk = dSum, dv = dSum
        var dInner = [Float](repeating: 0, count: rows * f)
        for index in stride(from: c.layers - 1, through: earliest, by: -1) {
            let layer = layers[index], saved = pass.activations[index - earliest]
            // Output LayerNorm, then the residual: dx1 gets the sum's gradient directly.
            layerNormBackward(saved.outputSum, dx, layer.outputNorm, rows: rows, into: &dSum)
            // Second MLP linear and GELU, back to the first MLP linear's output.
            withPointers(dSum, layer.output.weight) { dy, w in
                dInner.withUnsafeMutableBufferPointer { Kernels.linearInputGradient(dy, rows: rows, outWidth: h, weight: w, inWidth: f, accumulate: false, dx: $0.baseAddress!) }
            }
            saved.preActivation.withUnsafeBufferPointer { a in
                dInner.withUnsafeMutableBufferPointer { Kernels.geluBackward(a.baseAddress!, $0.baseAddress!, count: rows * f) }
            }
            if wanted.contains(index) {
                var dw = [Float](repeating: 0, count: f * h)
                withPointers(dInner, saved.attentionOutput) { dy, x in
                    dw.withUnsafeMutableBufferPointer { Kernels.linearWeightGradient(dy, x, rows: rows, outWidth: f, inWidth: h, dw: $0.baseAddress!) }
                }
                gradients[index] = dw
                var db = [Float](repeating: 0, count: f)
                for r in 0..<rows {
                    for j in 0..<f { db[j] += dInner[r * f + j] }
                }
                biasGradients[index] = db
            }
            if index == earliest { break }
            // d(attention output) = residual + first MLP linear's input gradient.
            dAttention = dSum
            withPointers(dInner, layer.intermediate.weight) { dy, w in
                dAttention.withUnsafeMutableBufferPointer { Kernels.linearInputGradient(dy, rows: rows, outWidth: f, weight: w, inWidth: h, accumulate: true, dx: $0.baseAddress!) }
            }
            layerNormBackward(saved.attentionSum, dAttention, layer.attentionNorm, rows: rows, into: &dSum)
            withPointers(dSum, layer.attentionOutput.weight) { dy, w in
                dContext.withUnsafeMutableBufferPointer { Kernels.linearInputGradient(dy, rows: rows, outWidth: h, weight: w, inWidth: h, accumulate: false, dx: $0.baseAddress!) }
            }
            saved.q.withUnsafeBufferPointer { q in saved.k.withUnsafeBufferPointer { k in saved.v.withUnsafeBufferPointer { v in
                saved.probabilities.withUnsafeBufferPointer { p in dContext.withUnsafeBufferPointer { dOut in
                    dq.withUnsafeMutableBufferPointer { dqp in
                        dk.withUnsafeMutableBufferPointer { dkp in dv.withUnsafeMutableBufferPointer { dvp in
                            Kernels.attentionBackward(dOut: dOut.baseAddress!, q: q.baseAddress!, k: k.baseAddress!, v: v.baseAddress!,
                                                      probabilities: p.baseAddress!, batch: batch.count, length: pass.length, width: h,
                                                      heads: c.heads, dq: dqp.baseAddress!, dk: dkp.baseAddress!, dv: dvp.baseAddress!)
                        } }
                    }
                } }
            } } }
            // The layer's input: the residual plus the three projections' input gradients.
            dx = dSum
            for (gradient, linear) in [(dq, layer.query), (dk, layer.key), (dv, layer.value)] {
                withPointers(gradient, linear.weight) { dy, w in
                    dx.withUnsafeMutableBufferPointer { Kernels.linearInputGradient(dy, rows: rows, outWidth: h, weight: w, inWidth: h, accumulate: true, dx: $0.baseAddress!) }
                }
            }
        }
        return MLPGradients(loss: value, weights: gradients, biases: biasGradients)
    }

    func layerNormBackward(_ x: [Float], _ dy: [Float], _ norm: Norm, rows: Int, into dx: inout [Float]) {
        withPointers(x, dy) { xp, dyp in
            norm.gamma.withUnsafeBufferPointer { g in
                dx.withUnsafeMutableBufferPointer {
                    Kernels.layerNormBackward(xp, dyp, rows: rows, width: configuration.hidden, gamma: g.baseAddress!, eps: configuration.layerNormEpsilon, dx: $0.baseAddress!)
                }
            }
        }
    }

    func withPointers<R>(_ a: [Float], _ b: [Float], _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> R) -> R {
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in body(ap.baseAddress!, bp.baseAddress!) } }
    }
}
