import Foundation

/// A loss of a batch's input embeddings against the class-prompt embeddings (normalised, or
/// before the normalisation where `EmbeddingStage` says so), and its gradients with respect to
/// each of them.
public typealias PairLoss = (_ inputs: [[Float]], _ prompts: [[Float]]) -> (
    loss: Float, inputs: [[Float]], prompts: [[Float]]
)

/// A zero-shot encoder whose tensors can be scored and trained by name: what SPU's scorer and
/// the masked trainer see of a model, whatever its architecture.
public protocol TrainableEncoder: ZeroShotEncoder {
    /// The checkpoint names of every tensor the runtime computes gradients for, in forward order.
    var trainableNames: [String] { get }
    /// The tensors of a named layer group (`first-mlp`, ...), nil for a name that is not a
    /// group; an error for a group this architecture cannot train.
    func layerGroup(_ group: String) throws -> [String]?
    /// exp(logit_scale) for a model that learned its temperature (CLIP), else nil.
    var learnedLogitScale: Float? { get }
    /// True when the training loss is CLIP's symmetric form (inputs to prompts and back).
    var symmetricLoss: Bool { get }
    /// What dropout training applies, for the patch's metadata ("none" when there is none).
    var dropoutDescription: String { get }
    /// True when `trainableNames` is every tensor of the encoder, so full fine-tuning is possible.
    var trainsEveryTensor: Bool { get }

    /// The current values of the tensor `name` (Float32, row-major), or nil for a name that is not trainable.
    func values(of name: String) -> [Float]?
    /// Changes the tensor `name` in place (an optimizer step; the count is fixed).
    /// - Throws: `ModelError` when `name` is not a trainable tensor, and whatever `body` throws.
    func modify(_ name: String, _ body: (inout [Float]) throws -> Void) throws
    /// The gradients of `loss` with respect to the tensors `names`, for `inputs` against the
    /// class `prompts` (either may be empty); dropout from `dropoutSeed` when given
    /// (training), none otherwise. The loss sees the embeddings at `stage`: normalised as the
    /// encoder outputs them, or just before the normalisation.
    /// - Throws: `ModelError` for a name that is not trainable, an input the encoder cannot take, or gradients of the
    ///   wrong shape from `loss`.
    func gradients(
        inputs: [EncoderInput], prompts: [String], of names: Set<String>, dropoutSeed: UInt64?, stage: EmbeddingStage,
        loss: PairLoss
    ) throws -> (loss: Float, tensors: [String: [Float]])
}

extension TrainableEncoder {
    /// The gradients of `loss` of the normalised embeddings (what the encoder outputs).
    /// - Throws: `ModelError` as `gradients(inputs:prompts:of:dropoutSeed:stage:loss:)` does.
    public func gradients(
        inputs: [EncoderInput], prompts: [String], of names: Set<String>, dropoutSeed: UInt64?,
        loss: PairLoss
    ) throws -> (loss: Float, tensors: [String: [Float]]) {
        try gradients(
            inputs: inputs, prompts: prompts, of: names, dropoutSeed: dropoutSeed, stage: .normalised, loss: loss)
    }
}

/// The named layer groups, by what each means; an architecture says which it can train.
public enum LayerGroupName: String, CaseIterable, Sendable {
    /// The first linear of each block's MLP (BERT's `intermediate.dense`, CLIP's `mlp.c_fc` / `mlp.fc1`).
    case firstMLP = "first-mlp"
    /// The second linear of each block's MLP (BERT's `output.dense`).
    case secondMLP = "second-mlp"
    /// The attention's query, key, value and output projections.
    case attention
}

extension ZeroShotEncoder {
    /// Embeddings of mixed texts and images, in the order given.
    /// - Throws: `ModelError` as `embed(texts:)` and `embed(images:)` do.
    public func embed(inputs: [EncoderInput]) throws -> [[Float]] {
        var texts: [(Int, String)] = []
        var images: [(Int, [Float])] = []
        for (index, input) in inputs.enumerated() {
            switch input {
            case .text(let text): texts.append((index, text))
            case .image(let image): images.append((index, image))
            }
        }
        var out = [[Float]](repeating: [], count: inputs.count)
        if !texts.isEmpty { for (i, e) in zip(texts.map(\.0), try embed(texts: texts.map(\.1))) { out[i] = e } }
        if !images.isEmpty { for (i, e) in zip(images.map(\.0), try embed(images: images.map(\.1))) { out[i] = e } }
        return out
    }
}

extension TextEncoder: TrainableEncoder {
    /// Every tensor the model loads: embeddings, LayerNorms, weights and biases (`BertModel.parameterNames`).
    public var trainableNames: [String] { model.parameterNames }
    /// Nil: BERT has no learned temperature.
    public var learnedLogitScale: Float? { nil }
    /// False: the loss runs from inputs to prompts only.
    public var symmetricLoss: Bool { false }
    /// True: the runtime computes gradients for every tensor of the model.
    public var trainsEveryTensor: Bool { true }
    /// The hidden and attention dropout probabilities from the model's configuration.
    public var dropoutDescription: String {
        "hidden \(model.configuration.hiddenDropout), attention \(model.configuration.attentionDropout)"
    }

    /// The weights of `group` in every layer (first-mlp, second-mlp or attention); nil for another name.
    /// - Throws: Nothing: BERT's runtime trains every group (`throws` is the protocol's).
    public func layerGroup(_ group: String) throws -> [String]? {
        guard let named = LayerGroupName(rawValue: group) else { return nil }
        let suffixes: [BertModel.LayerTensor] =
            switch named {
            case .firstMLP: [.intermediateWeight]
            case .secondMLP: [.outputWeight]
            case .attention: [.queryWeight, .keyWeight, .valueWeight, .attentionOutputWeight]
            }
        return (0..<model.configuration.layers).flatMap { layer in
            suffixes.map { model.tensorName(layer: layer, $0.rawValue) }
        }
    }

    /// The current values of the tensor `name` (see `BertModel.values(of:)`).
    public func values(of name: String) -> [Float]? { model.values(of: name) }
    /// Changes the tensor `name` in place (see `BertModel.modify`).
    /// - Throws: `ModelError` when `name` is not a trainable tensor, and whatever `body` throws.
    public func modify(_ name: String, _ body: (inout [Float]) throws -> Void) throws { try model.modify(name, body) }

    /// Gradients of `loss`, the input texts and the prompts run in one batch, with BERT's training dropout drawn
    /// from `dropoutSeed` when given.
    /// - Throws: `ModelError` for an image input, and as `BertModel.gradients` does.
    public func gradients(
        inputs: [EncoderInput], prompts: [String], of names: Set<String>, dropoutSeed: UInt64?, stage: EmbeddingStage,
        loss: PairLoss
    ) throws -> (loss: Float, tensors: [String: [Float]]) {
        let texts = try inputs.map { input -> [Int32] in
            guard case .text(let text) = input else {
                throw ModelError(path, "is a BERT text encoder: it has no image tower (images need a CLIP model)")
            }
            return tokenizer.encode(text)
        }
        let count = texts.count
        let dropout = dropoutSeed.map { Dropout(model.configuration, seed: $0) }
        let result = try model.gradients(
            texts + prompts.map(tokenizer.encode), of: names, dropout: dropout, stage: stage
        ) { embeddings in
            let (value, dInputs, dPrompts) = loss(Array(embeddings[..<count]), Array(embeddings[count...]))
            return (value, dInputs + dPrompts)
        }
        return (result.loss, result.tensors)
    }
}

extension CLIPEncoder: TrainableEncoder {
    /// The first MLP linears (weight and bias) of every block, text tower then image tower:
    /// the tensors the CLIP runtime computes gradients for.
    public var trainableNames: [String] {
        (model.firstMLPNames.text + model.firstMLPNames.vision).flatMap {
            [$0, String($0.dropLast("weight".count)) + "bias"]
        }
    }
    /// exp(logit_scale): the model's learned temperature.
    public var learnedLogitScale: Float? { exp(model.logitScale) }
    /// True: CLIP's symmetric loss, inputs to prompts and prompts to inputs.
    public var symmetricLoss: Bool { true }
    /// False: only the first MLP linears can be trained.
    public var trainsEveryTensor: Bool { false }
    /// "none": CLIP trains without dropout.
    public var dropoutDescription: String { "none" }

    /// The first MLP linears' weights of both towers for first-mlp; nil for a name that is not a group.
    /// - Throws: `ModelError` for second-mlp or attention, which the CLIP runtime cannot train.
    public func layerGroup(_ group: String) throws -> [String]? {
        guard let named = LayerGroupName(rawValue: group) else { return nil }
        guard named == .firstMLP else {
            throw ModelError(
                path,
                """
                is a CLIP model, whose runtime computes gradients of the first MLP linears (mlp.c_fc / mlp.fc1) \
                only: --layers \(group) cannot train here; use first-mlp or globs over those names
                """
            )
        }
        return model.firstMLPNames.text + model.firstMLPNames.vision
    }

    /// The current values of the first-MLP tensor `name` (see `CLIPModel.values(of:)`).
    public func values(of name: String) -> [Float]? { model.values(of: name) }
    /// Changes the first-MLP tensor `name` in place (see `CLIPModel.modify`).
    /// - Throws: `ModelError` when `name` is not a first-MLP tensor, and whatever `body` throws.
    public func modify(_ name: String, _ body: (inout [Float]) throws -> Void) throws { try model.modify(name, body) }

    /// CLIP checkpoints train without dropout (open_clip's and OpenAI's configurations have
    /// none), so `dropoutSeed` changes nothing.
    /// - Throws: `ModelError` as `CLIPModel.gradients` does.
    public func gradients(
        inputs: [EncoderInput], prompts: [String], of names: Set<String>, dropoutSeed: UInt64?, stage: EmbeddingStage,
        loss: PairLoss
    ) throws -> (loss: Float, tensors: [String: [Float]]) {
        // Images through the image tower; input texts and prompts through the text tower in
        // one batch; the loss sees them in the caller's order.
        var images: [[Float]] = []
        var texts: [[Int32]] = []
        var place: [(image: Bool, index: Int)] = []
        for input in inputs {
            switch input {
            case .image(let image):
                place.append((true, images.count))
                images.append(image)
            case .text(let text):
                place.append((false, texts.count))
                texts.append(tokenizer.encode(text))
            }
        }
        let inputTexts = texts.count
        texts += prompts.map(tokenizer.encode)
        let result = try model.gradients(images: images, texts: texts, of: names, stage: stage) {
            imageEmbeddings, textEmbeddings in
            let inputEmbeddings = place.map { $0.image ? imageEmbeddings[$0.index] : textEmbeddings[$0.index] }
            let (value, dInputs, dPrompts) = loss(inputEmbeddings, Array(textEmbeddings[inputTexts...]))
            var dImages = imageEmbeddings.map { $0.map { _ in Float(0) } }
            var dTexts = Array(textEmbeddings[..<inputTexts].map { $0.map { _ in Float(0) } }) + dPrompts
            for (slot, gradient) in zip(place, dInputs) {
                if slot.image { dImages[slot.index] = gradient } else { dTexts[slot.index] = gradient }
            }
            return (value, dImages, dTexts)
        }
        return (result.loss, result.tensors)
    }
}
