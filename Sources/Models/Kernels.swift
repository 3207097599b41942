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
    /// does. `scores` holds length × length floats of scratch.
    static func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, batch: Int, length: Int,
                          width: Int, heads: Int, keyMask: [Float], scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let headWidth = width / heads
        let scale = 1 / Float(headWidth).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                let offset = b * length * width + h * headWidth
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
}
