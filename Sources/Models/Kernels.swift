import CActivations
import Foundation
import Tensors

/// The transformer runtime's kernels, one function per operation over preallocated row-major
/// Float32 buffers, each operation's forward pass followed by its backward pass (llm.c's
/// layout, train_gpt2.c). Every matrix product goes through OpenBLAS sgemm; the element-wise
/// activations are C (CActivations) so that the compiler vectorises them.
///
/// Dimensions, as llm.c names them (the parameters keep the runtime's longer names):
///
/// | letter | parameter | meaning |
/// | --- | --- | --- |
/// | B | `batch` | sequences (or images) in the batch |
/// | T | `length` | tokens per sequence (image patches + 1 for CLIP's vision tower) |
/// | N | `rows` | B · T: one row per token of the batch |
/// | C | `width`, `inWidth` | channels: the hidden size (BERT's `hidden`, CLIP's `width`) |
/// | OC | `outWidth` | a Linear's output channels (C, or the MLP's hidden size F: 4C in BERT-base) |
/// | NH | `heads` | attention heads |
/// | HS | `headWidth` | C / NH, one head's channels |
///
/// Buffers are [N, C] unless said otherwise; a gradient buffer has its value's shape and a
/// `d` in front of its name. Backward kernels either overwrite their output or, where the
/// name or `accumulate` says so, add to it (a weight's gradient summed over a batch, a
/// residual's two shares).
enum Kernels {
    // MARK: LayerNorm: y = (x − mean) / √(var + eps) · γ + β over each row of C

    /// out[r, :] = LayerNorm(x[r, :]) · gamma + beta. x, out [N, C]; gamma, beta [C].
    static func layerNorm(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        eps: Float, out: UnsafeMutablePointer<Float>
    ) {
        Parallel.chunks(rows, minimum: 16) { chunk in
            layerNormRows(x, chunk, width: width, gamma: gamma, beta: beta, eps: eps, out: out)
        }
    }

    private static func layerNormRows(
        _ x: UnsafePointer<Float>, _ chunk: Range<Int>, width: Int, gamma: UnsafePointer<Float>,
        beta: UnsafePointer<Float>,
        eps: Float, out: UnsafeMutablePointer<Float>
    ) {
        for r in chunk {
            let row = x + r * width
            let target = out + r * width
            let (mean, scale) = statistics(row, width: width, eps: eps)
            for i in 0..<width { target[i] = (row[i] - mean) * scale * gamma[i] + beta[i] }
        }
    }

    /// A row's mean and 1 / √(variance + eps), the population variance as LayerNorm uses it.
    @inline(__always) static func statistics(_ row: UnsafePointer<Float>, width: Int, eps: Float) -> (
        mean: Float, rstd: Float
    ) {
        var mean: Float = 0
        for i in 0..<width { mean += row[i] }
        mean /= Float(width)
        var variance: Float = 0
        for i in 0..<width {
            let d = row[i] - mean
            variance += d * d
        }
        variance /= Float(width)
        return (mean, 1 / (variance + eps).squareRoot())
    }

    /// The gradient of LayerNorm with respect to its input, given the output gradient `dy`,
    /// recomputing the statistics from the input `x` (nothing but the input is saved). x, dy,
    /// dx [N, C]; gamma [C]. Overwrites `dx`.
    static func layerNormBackward(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, rows: Int, width: Int,
        gamma: UnsafePointer<Float>, eps: Float, dx: UnsafeMutablePointer<Float>
    ) {
        Parallel.chunks(rows, minimum: 16) { chunk in
            layerNormBackwardRows(x, dy, chunk, width: width, gamma: gamma, eps: eps, dx: dx)
        }
    }

    private static func layerNormBackwardRows(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ chunk: Range<Int>, width: Int,
        gamma: UnsafePointer<Float>, eps: Float, dx: UnsafeMutablePointer<Float>
    ) {
        for r in chunk {
            let row = x + r * width
            let grad = dy + r * width
            let target = dx + r * width
            let (mean, rstd) = statistics(row, width: width, eps: eps)
            var meanGrad: Float = 0
            var meanGradXhat: Float = 0
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

    /// dγ += Σ_rows dy ⊙ x̂ and dβ += Σ_rows dy for a LayerNorm of input `x`. x, dy [N, C];
    /// dGamma, dBeta [C].
    static func layerNormParameterGradients(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, rows: Int, width: Int, eps: Float,
        dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let row = x + r * width
            let grad = dy + r * width
            let (mean, rstd) = statistics(row, width: width, eps: eps)
            for i in 0..<width {
                dGamma[i] += grad[i] * (row[i] - mean) * rstd
                dBeta[i] += grad[i]
            }
        }
    }

    // MARK: Linear (PyTorch layout): out = inp · Wᵀ + b, W [OC, C]

    /// out = x · Wᵀ + b (PyTorch's Linear). x [N, C]; weight [OC, C]; bias [OC] or none;
    /// out [N, OC].
    static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inWidth: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        outWidth: Int, out: UnsafeMutablePointer<Float>
    ) {
        Parallel.chunks(rows, minimum: 8) { chunk in
            if let bias {
                for r in chunk { (out + r * outWidth).update(from: bias, count: outWidth) }
            }
            Blas.sgemm(
                transposeB: true, m: chunk.count, n: outWidth, k: inWidth, a: x + chunk.lowerBound * inWidth,
                lda: inWidth,
                b: weight, ldb: inWidth, beta: bias == nil ? 0 : 1, c: out + chunk.lowerBound * outWidth, ldc: outWidth)
        }
    }

    /// dx (+)= dy · W. dy [N, OC]; weight [OC, C]; dx [N, C], added to with `accumulate`.
    static func linearInputGradient(
        _ dy: UnsafePointer<Float>, rows: Int, outWidth: Int, weight: UnsafePointer<Float>, inWidth: Int,
        accumulate: Bool, dx: UnsafeMutablePointer<Float>
    ) {
        Parallel.chunks(rows, minimum: 8) { chunk in
            Blas.sgemm(
                m: chunk.count, n: inWidth, k: outWidth, a: dy + chunk.lowerBound * outWidth, lda: outWidth, b: weight,
                ldb: inWidth,
                beta: accumulate ? 1 : 0, c: dx + chunk.lowerBound * inWidth, ldc: inWidth)
        }
    }

    /// dW += dyᵀ · x. dy [N, OC]; x [N, C]; dw [OC, C].
    static func linearWeightGradient(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, outWidth: Int, inWidth: Int,
        dw: UnsafeMutablePointer<Float>
    ) {
        // Split over the weight's rows: each part reads its columns of dy.
        Parallel.chunks(outWidth, minimum: 8) { chunk in
            Blas.sgemm(
                transposeA: true, m: chunk.count, n: inWidth, k: rows, a: dy + chunk.lowerBound, lda: outWidth, b: x,
                ldb: inWidth,
                beta: 1, c: dw + chunk.lowerBound * inWidth, ldc: inWidth)
        }
    }

    /// db += Σ_rows dy: a Linear's bias gradient. dy [N, OC] (`width` = OC); db [OC].
    static func columnSums(_ dy: UnsafePointer<Float>, rows: Int, width: Int, into db: UnsafeMutablePointer<Float>) {
        Parallel.chunks(width, minimum: 64) { columns in
            for r in 0..<rows {
                let row = dy + r * width
                for j in columns { db[j] += row[j] }
            }
        }
    }

    // MARK: GELU (BERT, erf form) and QuickGELU (CLIP)

    /// GELU with the erf form, x · Φ(x), into `out` (which is `x` or does not overlap it).
    static func gelu(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        Parallel.chunks(count, minimum: 4096) { chunk in
            scalpel_gelu(x + chunk.lowerBound, out + chunk.lowerBound, chunk.count)
        }
    }

    /// d(input) of the erf GELU: dy · (Φ(x) + x · φ(x)), in place over `dy`.
    static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.chunks(count, minimum: 4096) { chunk in
            scalpel_gelu_backward(x + chunk.lowerBound, dy + chunk.lowerBound, chunk.count)
        }
    }

    /// x · σ(1.702 x), CLIP's QuickGELU, into `out` (which is `x` or does not overlap it).
    static func quickGELU(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        Parallel.chunks(count, minimum: 4096) { chunk in
            scalpel_quick_gelu(x + chunk.lowerBound, out + chunk.lowerBound, chunk.count)
        }
    }

    /// d(input) of QuickGELU: dy · (σ + 1.702 x σ (1 − σ)), σ = σ(1.702 x), in place over `dy`.
    static func quickGELUBackward(_ x: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.chunks(count, minimum: 4096) { chunk in
            scalpel_quick_gelu_backward(x + chunk.lowerBound, dy + chunk.lowerBound, chunk.count)
        }
    }

    // MARK: Multi-head self-attention

    /// Multi-head self-attention for B sequences of T tokens: q, k, v and out are [N, C],
    /// the NH heads side by side in each row (HS channels each); keyMask [B · T];
    /// probabilities and dropout [B, NH, T, T]. Keys where `keyMask` is 0
    /// (padding) get the most negative float added to their scores, as Hugging Face's BERT
    /// does. `probabilities` receives the attention weights, length × length per sequence
    /// and head (batch · heads of them, kept for the backward pass); with a `dropout` mask of
    /// the same layout, the values are multiplied by the dropped-out weights (the mask times
    /// the probabilities), as in training. `causal`: each query sees the keys up to its own
    /// position only (CLIP's text tower).
    static func attention(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, batch: Int, length: Int,
        width: Int, heads: Int, keyMask: [Float], probabilities: UnsafeMutablePointer<Float>,
        dropout: UnsafePointer<Float>? = nil, causal: Bool = false, out: UnsafeMutablePointer<Float>
    ) {
        let headWidth = width / heads
        let scale = 1 / Float(headWidth).squareRoot()
        Parallel.chunks(batch) { items in
            let dropped = dropout == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: max(1, length * length))
            defer { dropped?.deallocate() }
            for b in items {
                for h in 0..<heads {
                    let offset = b * length * width + h * headWidth
                    let scores = probabilities + (b * heads + h) * length * length
                    Blas.sgemm(
                        transposeB: true, m: length, n: length, k: headWidth, alpha: scale,
                        a: q + offset, lda: width, b: k + offset, ldb: width, c: scores, ldc: length)
                    for i in 0..<length {
                        let row = scores + i * length
                        var highest = -Float.infinity
                        for j in 0..<length {
                            if keyMask[b * length + j] == 0 || (causal && j > i) {
                                row[j] += -Float.greatestFiniteMagnitude
                            }
                            highest = max(highest, row[j])
                        }
                        var sum: Float = 0
                        for j in 0..<length {
                            row[j] = exp(row[j] - highest)
                            sum += row[j]
                        }
                        let inverse = 1 / sum
                        for j in 0..<length { row[j] *= inverse }
                    }
                    var weights = UnsafePointer(scores)
                    if let dropout, let dropped {
                        let mask = dropout + (b * heads + h) * length * length
                        for i in 0..<(length * length) { dropped[i] = scores[i] * mask[i] }
                        weights = UnsafePointer(dropped)
                    }
                    Blas.sgemm(
                        m: length, n: headWidth, k: length, a: weights, lda: length, b: v + offset, ldb: width,
                        c: out + offset, ldc: width)
                }
            }
        }
    }

    /// The gradients of q, k and v from that of the attention output, through the saved
    /// `probabilities` (and the `dropout` mask the forward pass applied to them, if any).
    /// dOut, q, k, v, dq, dk, dv [N, C]; probabilities and dropout [B, NH, T, T].
    /// Overwrites dq, dk and dv.
    static func attentionBackward(
        dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        probabilities: UnsafePointer<Float>, dropout: UnsafePointer<Float>? = nil, batch: Int, length: Int, width: Int,
        heads: Int, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>
    ) {
        let headWidth = width / heads
        let scale = 1 / Float(headWidth).squareRoot()
        Parallel.chunks(batch) { items in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, length * length))
            let dropped = dropout == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: max(1, length * length))
            defer {
                scratch.deallocate()
                dropped?.deallocate()
            }
            for b in items {
                for h in 0..<heads {
                    let offset = b * length * width + h * headWidth
                    let p = probabilities + (b * heads + h) * length * length
                    let mask = dropout.map { $0 + (b * heads + h) * length * length }
                    // dP' = dOut · Vᵀ; dV = P'ᵀ · dOut, P' the weights the values were multiplied by
                    // (P, or P times the dropout mask); dP = dP' times the mask.
                    Blas.sgemm(
                        transposeB: true, m: length, n: length, k: headWidth, a: dOut + offset, lda: width,
                        b: v + offset, ldb: width,
                        c: scratch, ldc: length)
                    var weights = p
                    if let mask, let dropped {
                        for i in 0..<(length * length) {
                            dropped[i] = p[i] * mask[i]
                            scratch[i] *= mask[i]
                        }
                        weights = UnsafePointer(dropped)
                    }
                    Blas.sgemm(
                        transposeA: true, m: length, n: headWidth, k: length, a: weights, lda: length, b: dOut + offset,
                        ldb: width,
                        c: dv + offset, ldc: width)
                    // Softmax: dS = P ⊙ (dP − Σⱼ dP ⊙ P), in place in the scratch.
                    for i in 0..<length {
                        let row = scratch + i * length
                        let probability = p + i * length
                        var dot: Float = 0
                        for j in 0..<length { dot += row[j] * probability[j] }
                        for j in 0..<length { row[j] = probability[j] * (row[j] - dot) }
                    }
                    // S = scale · Q Kᵀ: dQ = scale · dS · K; dK = scale · dSᵀ · Q.
                    Blas.sgemm(
                        m: length, n: headWidth, k: length, alpha: scale, a: scratch, lda: length, b: k + offset,
                        ldb: width,
                        c: dq + offset, ldc: width)
                    Blas.sgemm(
                        transposeA: true, m: length, n: headWidth, k: length, alpha: scale, a: scratch, lda: length,
                        b: q + offset, ldb: width,
                        c: dk + offset, ldc: width)
                }
            }
        }
    }
}
