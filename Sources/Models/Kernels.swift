import Foundation
import Tensors

/// The forward kernels of the transformer runtime, one function per operation over
/// preallocated row-major Float32 buffers (llm.c's style). Every matrix product goes through
/// OpenBLAS sgemm.
enum Kernels {
    /// out[r, :] = LayerNorm(x[r, :]) · gamma + beta, over `rows` rows of `width`.
    static func layerNorm(_ x: UnsafePointer<Float>, rows: Int, width: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                          eps: Float, out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * width, target = out + r * width
            var mean: Float = 0
            for i in 0..<width { mean += row[i] }
            mean /= Float(width)
            var variance: Float = 0
            for i in 0..<width { let d = row[i] - mean; variance += d * d }
            variance /= Float(width)
            let scale = 1 / (variance + eps).squareRoot()
            for i in 0..<width { target[i] = (row[i] - mean) * scale * gamma[i] + beta[i] }
        }
    }

    /// out[rows × outWidth] = x[rows × inWidth] · Wᵀ + b, with W stored [outWidth × inWidth]
    /// (PyTorch's Linear layout).
    static func linear(_ x: UnsafePointer<Float>, rows: Int, inWidth: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                       outWidth: Int, out: UnsafeMutablePointer<Float>) {
        if let bias {
            for r in 0..<rows { (out + r * outWidth).update(from: bias, count: outWidth) }
        }
        Blas.sgemm(transposeB: true, m: rows, n: outWidth, k: inWidth, a: x, lda: inWidth, b: weight, ldb: inWidth,
                   beta: bias == nil ? 0 : 1, c: out, ldc: outWidth)
    }

    /// GELU with the exact erf form, in place.
    static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = 0.5 * x[i] * (1 + erf(x[i] * 0.707_106_77)) }
    }

    /// Multi-head self-attention for `batch` sequences of `length` tokens: q, k, v and out are
    /// [batch · length × width], heads side by side in each row. Keys where `keyMask` is 0
    /// (padding) get the most negative float added to their scores, as Hugging Face's BERT
    /// does. `probabilities` receives the attention weights, length × length per sequence
    /// and head (batch · heads of them, kept for the backward pass).
    static func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, batch: Int, length: Int,
                          width: Int, heads: Int, keyMask: [Float], probabilities: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let headWidth = width / heads
        let scale = 1 / Float(headWidth).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                let offset = b * length * width + h * headWidth
                let scores = probabilities + (b * heads + h) * length * length
                Blas.sgemm(transposeB: true, m: length, n: length, k: headWidth, alpha: scale,
                           a: q + offset, lda: width, b: k + offset, ldb: width, c: scores, ldc: length)
                for i in 0..<length {
                    let row = scores + i * length
                    var highest = -Float.infinity
                    for j in 0..<length {
                        if keyMask[b * length + j] == 0 { row[j] += -Float.greatestFiniteMagnitude }
                        highest = max(highest, row[j])
                    }
                    var sum: Float = 0
                    for j in 0..<length { row[j] = exp(row[j] - highest); sum += row[j] }
                    let inverse = 1 / sum
                    for j in 0..<length { row[j] *= inverse }
                }
                Blas.sgemm(m: length, n: headWidth, k: length, a: scores, lda: length, b: v + offset, ldb: width,
                           c: out + offset, ldc: width)
            }
        }
    }

    // MARK: Backward

    /// The gradient of LayerNorm with respect to its input, given the output gradient `dy`,
    /// recomputing the statistics from the input `x`. Writes (or, with `accumulate`, adds) `dx`.
    static func layerNormBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, rows: Int, width: Int,
                                  gamma: UnsafePointer<Float>, eps: Float, dx: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * width, grad = dy + r * width, target = dx + r * width
            var mean: Float = 0
            for i in 0..<width { mean += row[i] }
            mean /= Float(width)
            var variance: Float = 0
            for i in 0..<width { let d = row[i] - mean; variance += d * d }
            variance /= Float(width)
            let rstd = 1 / (variance + eps).squareRoot()
            var meanGrad: Float = 0, meanGradXhat: Float = 0
            for i in 0..<width {
                let g = grad[i] * gamma[i]
                meanGrad += g
                meanGradXhat += g * (row[i] - mean) * rstd
            }
            meanGrad /= Float(width)
            meanGradXhat /= Float(width)
            for i in 0..<width {
                let xhat = (row[i] - mean) * rstd
                target[i] = rstd * (grad[i] * gamma[i] - meanGrad - xhat * meanGradXhat)
            }
        }
    }

    /// d(input) of the erf GELU: dy · (Φ(x) + x · φ(x)), in place over `dy`.
    static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            let cdf = 0.5 * (1 + erf(v * 0.707_106_77))
            let pdf = exp(-0.5 * v * v) * 0.398_942_28
            dy[i] *= cdf + v * pdf
        }
    }

    /// dx (+)= dy · W for a Linear of weight [outWidth × inWidth].
    static func linearInputGradient(_ dy: UnsafePointer<Float>, rows: Int, outWidth: Int, weight: UnsafePointer<Float>, inWidth: Int,
                                    accumulate: Bool, dx: UnsafeMutablePointer<Float>) {
        Blas.sgemm(m: rows, n: inWidth, k: outWidth, a: dy, lda: outWidth, b: weight, ldb: inWidth,
                   beta: accumulate ? 1 : 0, c: dx, ldc: inWidth)
    }

    /// dW (+)= dyᵀ · x, [outWidth × inWidth].
    static func linearWeightGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, outWidth: Int, inWidth: Int,
                                     dw: UnsafeMutablePointer<Float>) {
        Blas.sgemm(transposeA: true, m: outWidth, n: inWidth, k: rows, a: dy, lda: outWidth, b: x, ldb: inWidth,
                   beta: 1, c: dw, ldc: inWidth)
    }

    /// The gradients of q, k and v from that of the attention output, through the saved
    /// `probabilities`. `scratch` holds length × length floats.
    static func attentionBackward(dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                  probabilities: UnsafePointer<Float>, batch: Int, length: Int, width: Int, heads: Int,
                                  scratch: UnsafeMutablePointer<Float>,
                                  dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>) {
        let headWidth = width / heads
        let scale = 1 / Float(headWidth).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                let offset = b * length * width + h * headWidth
                let p = probabilities + (b * heads + h) * length * length
                // dP = dOut · Vᵀ; dV = Pᵀ · dOut.
                Blas.sgemm(transposeB: true, m: length, n: length, k: headWidth, a: dOut + offset, lda: width, b: v + offset, ldb: width,
                           c: scratch, ldc: length)
                Blas.sgemm(transposeA: true, m: length, n: headWidth, k: length, a: p, lda: length, b: dOut + offset, ldb: width,
                           c: dv + offset, ldc: width)
                // Softmax: dS = P ⊙ (dP − Σⱼ dP ⊙ P), in place in the scratch.
                for i in 0..<length {
                    let row = scratch + i * length, probability = p + i * length
                    var dot: Float = 0
                    for j in 0..<length { dot += row[j] * probability[j] }
                    for j in 0..<length { row[j] = probability[j] * (row[j] - dot) }
                }
                // S = scale · Q Kᵀ: dQ = scale · dS · K; dK = scale · dSᵀ · Q.
                Blas.sgemm(m: length, n: headWidth, k: length, alpha: scale, a: scratch, lda: length, b: k + offset, ldb: width,
                           c: dq + offset, ldc: width)
                Blas.sgemm(transposeA: true, m: length, n: headWidth, k: length, alpha: scale, a: scratch, lda: length, b: q + offset, ldb: width,
                           c: dk + offset, ldc: width)
            }
        }
    }
}
