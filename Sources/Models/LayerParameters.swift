/// A linear layer's parameters, as the runtime keeps them: y = x · Wᵀ + b (PyTorch's Linear).
/// Its methods call the kernels on arrays (Swift passes each as a pointer to its elements for
/// the length of the call).
struct Linear {
    /// [outWidth, inWidth] ([OC, C] in the kernels' legend), PyTorch's layout.
    var weight: [Float]
    /// [outWidth].
    var bias: [Float]
    let inWidth: Int
    let outWidth: Int

    /// out = x · Wᵀ + b. x [rows, inWidth]; out [rows, outWidth], overwritten.
    func forward(_ x: [Float], rows: Int, into out: inout [Float]) {
        Kernels.linear(x, rows: rows, inWidth: inWidth, weight: weight, bias: bias, outWidth: outWidth, out: &out)
    }

    /// dx = dy · W, or dx += dy · W with `accumulate` (a residual's second share). dy
    /// [rows, outWidth]; dx [rows, inWidth].
    func inputGradient(_ dy: [Float], rows: Int, accumulate: Bool, into dx: inout [Float]) {
        Kernels.linearInputGradient(
            dy, rows: rows, outWidth: outWidth, weight: weight, inWidth: inWidth, accumulate: accumulate, dx: &dx)
    }
}

/// A LayerNorm's parameters: y = (x − mean) / √(variance + ε) · gamma + beta, over rows of
/// `gamma.count` (C).
struct Norm {
    /// [C].
    var gamma: [Float]
    /// [C].
    var beta: [Float]

    /// out = LayerNorm(x). x, out [rows, C]; out overwritten.
    func forward(_ x: [Float], rows: Int, eps: Float, into out: inout [Float]) {
        Kernels.layerNorm(x, rows: rows, width: gamma.count, gamma: gamma, beta: beta, eps: eps, out: &out)
    }

    /// dx of LayerNorm given dy, the statistics recomputed from the saved input `x`. x, dy,
    /// dx [rows, C]; dx overwritten.
    func inputGradient(_ x: [Float], _ dy: [Float], rows: Int, eps: Float, into dx: inout [Float]) {
        Kernels.layerNormBackward(x, dy, rows: rows, width: gamma.count, gamma: gamma, eps: eps, dx: &dx)
    }
}
