import Foundation

/// Every trainable tensor of a BERT encoder, addressed by its checkpoint name, so masks,
/// gradients and optimizers speak the checkpoint's language rather than the runtime's.
extension BertModel {
    /// The embedding block's tensors.
    enum EmbeddingTensor: String, CaseIterable {
        case word = "embeddings.word_embeddings.weight"
        case position = "embeddings.position_embeddings.weight"
        case type = "embeddings.token_type_embeddings.weight"
        case normWeight = "embeddings.LayerNorm.weight"
        case normBias = "embeddings.LayerNorm.bias"
    }

    /// One encoder layer's tensors (names after `encoder.layer.N.`).
    enum LayerTensor: String, CaseIterable {
        case queryWeight = "attention.self.query.weight"
        case queryBias = "attention.self.query.bias"
        case keyWeight = "attention.self.key.weight"
        case keyBias = "attention.self.key.bias"
        case valueWeight = "attention.self.value.weight"
        case valueBias = "attention.self.value.bias"
        case attentionOutputWeight = "attention.output.dense.weight"
        case attentionOutputBias = "attention.output.dense.bias"
        case attentionNormWeight = "attention.output.LayerNorm.weight"
        case attentionNormBias = "attention.output.LayerNorm.bias"
        case intermediateWeight = "intermediate.dense.weight"
        case intermediateBias = "intermediate.dense.bias"
        case outputWeight = "output.dense.weight"
        case outputBias = "output.dense.bias"
        case outputNormWeight = "output.LayerNorm.weight"
        case outputNormBias = "output.LayerNorm.bias"

        var keyPath: WritableKeyPath<Layer, [Float]> {
            switch self {
            case .queryWeight: \.query.weight
            case .queryBias: \.query.bias
            case .keyWeight: \.key.weight
            case .keyBias: \.key.bias
            case .valueWeight: \.value.weight
            case .valueBias: \.value.bias
            case .attentionOutputWeight: \.attentionOutput.weight
            case .attentionOutputBias: \.attentionOutput.bias
            case .attentionNormWeight: \.attentionNorm.gamma
            case .attentionNormBias: \.attentionNorm.beta
            case .intermediateWeight: \.intermediate.weight
            case .intermediateBias: \.intermediate.bias
            case .outputWeight: \.output.weight
            case .outputBias: \.output.bias
            case .outputNormWeight: \.outputNorm.gamma
            case .outputNormBias: \.outputNorm.beta
            }
        }

        /// The tensor's place in the layer's forward order (the backward pass stops once it
        /// is below every tensor asked for).
        var stage: LayerStage {
            switch self {
            case .queryWeight, .queryBias, .keyWeight, .keyBias, .valueWeight, .valueBias: .projections
            case .attentionOutputWeight, .attentionOutputBias: .attentionOutput
            case .attentionNormWeight, .attentionNormBias: .attentionNorm
            case .intermediateWeight, .intermediateBias: .firstMLP
            case .outputWeight, .outputBias: .secondMLP
            case .outputNormWeight, .outputNormBias: .outputNorm
            }
        }

        static let stages = LayerStage.allCases.count
    }

    /// The steps of a BERT layer in forward order: the backward pass walks them from the top
    /// and stops at the first below which no tensor is asked for.
    enum LayerStage: Int, CaseIterable {
        /// The query, key and value projections.
        case projections
        /// The attention output projection (`attention.output.dense`).
        case attentionOutput
        /// The LayerNorm after attention (`attention.output.LayerNorm`).
        case attentionNorm
        /// The first MLP linear (`intermediate.dense`), SPU's default layer.
        case firstMLP
        /// The second MLP linear (`output.dense`).
        case secondMLP
        /// The LayerNorm at the layer's output (`output.LayerNorm`).
        case outputNorm
    }

    /// A trainable tensor.
    enum Parameter: Hashable {
        case embedding(EmbeddingTensor)
        case layer(Int, LayerTensor)

        /// Forward order over the whole model: embeddings −1, then layer by layer.
        var depth: Int {
            switch self {
            case .embedding: -1
            case .layer(let index, let tensor): index * LayerTensor.stages + tensor.stage.rawValue
            }
        }
    }

    /// The checkpoint names of every trainable tensor, in forward order.
    public var parameterNames: [String] {
        EmbeddingTensor.allCases.map { configuration.prefix + $0.rawValue }
            + (0..<configuration.layers).flatMap { layer in
                LayerTensor.allCases.map { tensorName(layer: layer, $0.rawValue) }
            }
    }

    /// The checkpoint name of a layer's tensor (with the model's prefix).
    public func tensorName(layer: Int, _ suffix: String) -> String {
        "\(configuration.prefix)encoder.layer.\(layer).\(suffix)"
    }

    func parameter(named name: String) -> Parameter? {
        guard name.hasPrefix(configuration.prefix) else { return nil }
        let local = String(name.dropFirst(configuration.prefix.count))
        if let tensor = EmbeddingTensor(rawValue: local) { return .embedding(tensor) }
        let parts = local.split(separator: ".", maxSplits: 3)
        guard parts.count == 4, parts[0] == "encoder", parts[1] == "layer", let index = Int(parts[2]),
            (0..<configuration.layers).contains(index), let tensor = LayerTensor(rawValue: String(parts[3]))
        else { return nil }
        return .layer(index, tensor)
    }

    func name(of parameter: Parameter) -> String {
        switch parameter {
        case .embedding(let tensor): configuration.prefix + tensor.rawValue
        case .layer(let index, let tensor): tensorName(layer: index, tensor.rawValue)
        }
    }

    /// The current values of the tensor `name` (Float32, row-major), or nil for a name that is
    /// not one of the model's trainable tensors.
    public func values(of name: String) -> [Float]? {
        switch parameter(named: name) {
        case .embedding(let tensor)?: embeddings[keyPath: Self.keyPath(tensor)]
        case .layer(let index, let tensor)?: layers[index][keyPath: tensor.keyPath]
        case nil: nil
        }
    }

    /// Replaces the values of the tensor `name` (the count must stay).
    /// - Throws: `ModelError` when `name` is not a trainable tensor of the model or `values` has another count.
    public func setValues(_ values: [Float], of name: String) throws {
        try modify(name) { current in
            guard current.count == values.count else {
                throw ModelError(name, "has \(current.count) elements, not \(values.count)")
            }
            current = values
        }
    }

    /// Changes the values of the tensor `name` in place (an optimizer step; the count is fixed).
    /// - Throws: `ModelError` when `name` is not a trainable tensor of the model, and whatever `body` throws.
    public func modify(_ name: String, _ body: (inout [Float]) throws -> Void) throws {
        guard let parameter = parameter(named: name) else {
            throw ModelError(name, "is not a trainable tensor of this BERT model")
        }
        switch parameter {
        case .embedding(let tensor):
            let count = embeddings[keyPath: Self.keyPath(tensor)].count
            try body(&embeddings[keyPath: Self.keyPath(tensor)])
            precondition(embeddings[keyPath: Self.keyPath(tensor)].count == count, "a tensor's element count changed")
        case .layer(let index, let tensor):
            let count = layers[index][keyPath: tensor.keyPath].count
            try body(&layers[index][keyPath: tensor.keyPath])
            precondition(layers[index][keyPath: tensor.keyPath].count == count, "a tensor's element count changed")
        }
    }

    static func keyPath(_ tensor: EmbeddingTensor) -> WritableKeyPath<Embeddings, [Float]> {
        switch tensor {
        case .word: \.word
        case .position: \.position
        case .type: \.type
        case .normWeight: \.norm.gamma
        case .normBias: \.norm.beta
        }
    }
}
