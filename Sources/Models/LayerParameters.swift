/// A linear layer's parameters, as the runtime keeps them: y = x · Wᵀ + b.
struct Linear {
    var weight: [Float]  // [outWidth × inWidth], PyTorch's layout
    var bias: [Float]
    let inWidth: Int
    let outWidth: Int
}

/// A LayerNorm's parameters: y = (x − mean) / √(variance + ε) · gamma + beta.
struct Norm {
    var gamma: [Float]
    var beta: [Float]
}
