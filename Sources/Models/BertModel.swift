import Checkpoints
import Foundation
import Tensors

/// A BERT encoder (Hugging Face naming, with or without the `bert.` prefix) loaded from a
/// checkpoint, its weights in Float32 (16-bit weights are widened exactly).
public final class BertModel: @unchecked Sendable {
    /// The architecture's sizes, read from the tensor shapes and `config.json`.
    public struct Configuration: Sendable, Equatable {
        /// The prefix before every tensor name: "bert." or "" (whatever precedes `embeddings.word_embeddings.weight`).
        public var prefix: String
        /// Transformer layers (`encoder.layer.N`).
        public var layers: Int
        /// The hidden width C: the embeddings' and every layer's output width.
        public var hidden: Int
        /// Attention heads (config.json's num_attention_heads; hidden / 64 without one).
        public var heads: Int
        /// The MLP's inner width F.
        public var intermediate: Int
        /// Token ids accepted: the word embedding's rows.
        public var vocabulary: Int
        /// The longest sequence in tokens: the position embedding's rows.
        public var maxPositions: Int
        /// Token types (segments): the token type embedding's rows; only type 0 is used.
        public var typeVocabulary: Int
        /// The LayerNorm epsilon (config.json's layer_norm_eps; 1e-12 without one).
        public var layerNormEpsilon: Float
        /// Dropout probabilities while training (config.json's hidden_dropout_prob and
        /// attention_probs_dropout_prob; BERT's 0.1 without one). Scoring and evaluation run
        /// without dropout.
        public var hiddenDropout: Float
        /// The dropout probability on the attention probabilities (attention_probs_dropout_prob).
        public var attentionDropout: Float
    }

    struct Layer {
        var query: Linear, key: Linear, value: Linear, attentionOutput: Linear
        var attentionNorm: Norm
        var intermediate: Linear
        var output: Linear
        var outputNorm: Norm
    }

    struct Embeddings {
        var word: [Float], position: [Float], type: [Float]
        var norm: Norm
    }

    /// The sizes this model was loaded with.
    public let configuration: Configuration
    var embeddings: Embeddings
    var layers: [Layer]

    /// Loads the encoder from `checkpoint`; the configuration comes from the tensor shapes and,
    /// when given, the `config.json` beside the weights (which alone knows the head count and
    /// the LayerNorm epsilon; without it BERT's conventions apply: 64-wide heads, 1e-12).
    /// `replacements` stand in for the checkpoint's tensors of the same names (a patched
    /// model computed in memory); they must have the same shapes.
    /// - Throws: `ModelError`: a checkpoint that is not BERT, a tensor missing, of another shape (before or after
    ///   `replacements`) or not floating point, heads that do not divide the hidden width, dropout outside [0, 1);
    ///   `.unsupported` for a `hidden_act` other than "gelu"; and `config.json`'s read or parse errors.
    public init(checkpoint: Checkpoint, configFile: String? = nil, replacements: [String: TensorView] = [:]) throws {
        _ = Parallel.configureBlas
        let configuration = try Self.configuration(of: checkpoint, configFile: configFile)
        self.configuration = configuration
        let p = configuration.prefix
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let entry = checkpoint.entry(named: p + name) else {
                throw ModelError(checkpoint.path, "BERT tensor \"\(p + name)\" is missing")
            }
            guard entry.shape == shape else {
                throw ModelError(
                    checkpoint.path,
                    """
                    BERT tensor \"\(p + name)\" is \(Shape.describe(entry.shape)), expected \
                    \(Shape.describe(shape)) from the other tensors and the configuration
                    """
                )
            }
            guard entry.dtype.isFloatingPoint else {
                throw ModelError(
                    checkpoint.path, "BERT tensor \"\(p + name)\" is \(entry.dtype.rawValue), not floating point")
            }
            let view = replacements[p + name] ?? checkpoint.view(entry)
            guard view.shape == shape else {
                throw ModelError(
                    checkpoint.path,
                    """
                    BERT tensor \"\(p + name)\" is \(Shape.describe(view.shape)) after the patches, expected \
                    \(Shape.describe(shape))
                    """
                )
            }
            return view.floatValues()
        }
        let h = configuration.hidden
        let f = configuration.intermediate
        func linear(_ name: String, _ out: Int, _ inWidth: Int) throws -> Linear {
            Linear(
                weight: try load(name + ".weight", [out, inWidth]), bias: try load(name + ".bias", [out]),
                inWidth: inWidth, outWidth: out)
        }
        func norm(_ name: String) throws -> Norm {
            Norm(gamma: try load(name + ".weight", [h]), beta: try load(name + ".bias", [h]))
        }
        embeddings = Embeddings(
            word: try load("embeddings.word_embeddings.weight", [configuration.vocabulary, h]),
            position: try load("embeddings.position_embeddings.weight", [configuration.maxPositions, h]),
            type: try load("embeddings.token_type_embeddings.weight", [configuration.typeVocabulary, h]),
            norm: try norm("embeddings.LayerNorm"))
        layers = try (0..<configuration.layers).map { i in
            let l = "encoder.layer.\(i)."
            return Layer(
                query: try linear(l + "attention.self.query", h, h), key: try linear(l + "attention.self.key", h, h),
                value: try linear(l + "attention.self.value", h, h),
                attentionOutput: try linear(l + "attention.output.dense", h, h),
                attentionNorm: try norm(l + "attention.output.LayerNorm"),
                intermediate: try linear(l + "intermediate.dense", f, h), output: try linear(l + "output.dense", h, f),
                outputNorm: try norm(l + "output.LayerNorm"))
        }
    }

    /// The configuration the tensors and `config.json` describe.
    static func configuration(of checkpoint: Checkpoint, configFile: String?) throws -> Configuration {
        let names = checkpoint.tensors.map(\.name)
        guard let embedding = names.first(where: { $0.hasSuffix("embeddings.word_embeddings.weight") }) else {
            let sample = names.prefix(5).joined(separator: ", ")
            throw ModelError(
                checkpoint.path,
                """
                not a BERT checkpoint: no embeddings.word_embeddings.weight among its \(names.count) tensors \
                (\(sample)\(names.count > 5 ? ", ..." : ""))
                """
            )
        }
        let prefix = String(embedding.dropLast("embeddings.word_embeddings.weight".count))
        guard let word = checkpoint.entry(named: embedding), word.shape.count == 2,
            let position = checkpoint.entry(named: prefix + "embeddings.position_embeddings.weight"),
            position.shape.count == 2,
            let type = checkpoint.entry(named: prefix + "embeddings.token_type_embeddings.weight"),
            type.shape.count == 2,
            let intermediate = checkpoint.entry(named: prefix + "encoder.layer.0.intermediate.dense.weight"),
            intermediate.shape.count == 2
        else {
            throw ModelError(
                checkpoint.path, "BERT embeddings or the first layer's tensors are missing or not matrices")
        }
        var layers = 0
        while checkpoint.entry(named: prefix + "encoder.layer.\(layers).attention.self.query.weight") != nil {
            layers += 1
        }
        let hidden = word.shape[1]
        var configuration = Configuration(
            prefix: prefix, layers: layers, hidden: hidden, heads: max(1, hidden / 64),
            intermediate: intermediate.shape[0], vocabulary: word.shape[0], maxPositions: position.shape[0],
            typeVocabulary: type.shape[0], layerNormEpsilon: 1e-12,
            hiddenDropout: 0.1, attentionDropout: 0.1)
        if let configFile {
            let json = try JSONValue.parse(contentsOf: configFile)
            if let heads = json["num_attention_heads"]?.intValue { configuration.heads = heads }
            func number(_ key: String) -> Float? {
                switch json[key] {
                case .number(let x)?: Float(x)
                case .integer(let i)?: Float(i)
                default: nil
                }
            }
            if let eps = number("layer_norm_eps") { configuration.layerNormEpsilon = eps }
            if let p = number("hidden_dropout_prob") { configuration.hiddenDropout = p }
            if let p = number("attention_probs_dropout_prob") { configuration.attentionDropout = p }
            if let act = json["hidden_act"]?.stringValue, act != "gelu" {
                throw ModelError(
                    configFile, "hidden_act \"\(act)\" is not supported (BERT's erf GELU, \"gelu\", is)",
                    kind: .unsupported)
            }
        }
        guard configuration.heads > 0, hidden % configuration.heads == 0 else {
            throw ModelError(
                checkpoint.path, "hidden size \(hidden) does not split into \(configuration.heads) attention heads")
        }
        guard (0..<1).contains(configuration.hiddenDropout), (0..<1).contains(configuration.attentionDropout) else {
            throw ModelError(configFile ?? checkpoint.path, "dropout probabilities must be in [0, 1)")
        }
        return configuration
    }

    /// What one layer's forward pass leaves for the backward pass, in forward order. Shapes in
    /// the kernels' legend (Kernels.swift): N = B · T rows, C = `hidden`, F = `intermediate`,
    /// NH = `heads`. The dropout masks (each element 0 or 1 / (1 − p)) are empty when the pass
    /// ran without dropout.
    struct LayerActivations {
        /// [N, C]: the layer's input (the residual stream).
        var input: [Float]
        /// [N, C] each: the query, key and value projections of `input`.
        var q: [Float], k: [Float], v: [Float]
        /// [B, NH, T, T]: the attention weights after the softmax.
        var probabilities: [Float]
        /// [B, NH, T, T]: the dropout mask on `probabilities`.
        var probabilityDropout: [Float]
        /// [N, C]: the heads' weighted values, the attention output projection's input.
        var context: [Float]
        /// [N, C]: the dropout mask on the attention output projection.
        var attentionOutputDropout: [Float]
        /// [N, C]: that projection (dropped out) plus `input`: the attention LayerNorm's input.
        var attentionSum: [Float]
        /// [N, C]: the attention LayerNorm's output, the first MLP linear's input.
        var attentionOutput: [Float]
        /// [N, F]: the first MLP linear's output, GELU's input.
        var preActivation: [Float]
        /// [N, F]: GELU's output, the second MLP linear's input.
        var activation: [Float]
        /// [N, C]: the dropout mask on the second MLP linear's output.
        var outputDropout: [Float]
        /// [N, C]: that output (dropped out) plus `attentionOutput`: the output LayerNorm's input.
        var outputSum: [Float]
    }

    /// A forward pass: the last hidden state [batch · length × hidden], the padding mask (1 for
    /// tokens) and, when recorded, the activations the backward pass needs.
    struct Pass {
        let hidden: [Float]
        let length: Int
        let mask: [Float]
        let tokens: [Int]
        /// Layers `recordFrom`… and, when the embeddings were recorded, their sum before the
        /// LayerNorm and their dropout mask.
        let activations: [LayerActivations]
        let embeddingSum: [Float]
        let embeddingDropout: [Float]
    }

    /// The last hidden state of a batch of token-id sequences, padded to the longest:
    /// [batch · length × hidden], and the padding mask (1 for tokens).
    /// - Throws: `ModelError` when a sequence is longer than `maxPositions` or a token id is outside the vocabulary.
    public func forward(_ batch: [[Int32]]) throws -> (hidden: [Float], length: Int, mask: [Float]) {
        let pass = try run(batch, recordFrom: nil)
        return (pass.hidden, pass.length, pass.mask)
    }

    /// The forward pass, recording the activations of layers `recordFrom` and above (and the
    /// embeddings' when `recordFrom` is 0 and `recordEmbeddings`); with `dropout`, BERT's
    /// training-time dropout after the embeddings, on the attention probabilities and on both
    /// sublayers' outputs before their residual sums.
    func run(_ batch: [[Int32]], recordFrom: Int?, recordEmbeddings: Bool = false, dropout: Dropout? = nil) throws
        -> Pass
    {
        let c = configuration
        let length = batch.map(\.count).max() ?? 0
        guard length <= c.maxPositions else {
            throw ModelError(
                "input", "a sequence of \(length) tokens is longer than the model's \(c.maxPositions) positions")
        }
        let rows = batch.count * length
        let h = c.hidden
        guard rows > 0 else {
            return Pass(
                hidden: [], length: length, mask: [], tokens: [], activations: [], embeddingSum: [],
                embeddingDropout: [])
        }
        var mask = [Float](repeating: 0, count: rows)
        var tokens = [Int](repeating: 0, count: rows)
        var x = [Float](repeating: 0, count: rows * h)
        for (b, ids) in batch.enumerated() {
            for t in 0..<length {
                let id = t < ids.count ? Int(ids[t]) : 0
                guard id >= 0, id < c.vocabulary else {
                    throw ModelError("input", "token id \(id) is outside the vocabulary of \(c.vocabulary)")
                }
                if t < ids.count { mask[b * length + t] = 1 }
                tokens[b * length + t] = id
                let row = (b * length + t) * h
                for i in 0..<h {
                    x[row + i] = embeddings.word[id * h + i] + embeddings.position[t * h + i] + embeddings.type[i]
                }
            }
        }
        var draws = dropout.map { Dropout.Draws($0) }
        let embeddingSum = recordEmbeddings ? x : []
        var normed = [Float].scratch(rows * h)
        embeddings.norm.forward(x, rows: rows, eps: c.layerNormEpsilon, into: &normed)
        x = normed
        let embeddingDropout = draws?.hidden(&x) ?? []
        var recorded: [LayerActivations] = []
        for (index, layer) in layers.enumerated() {
            // Every buffer written below is allocated afresh (see `scratch`): the record of
            // the layer before may still hold the last ones.
            let record = recordFrom.map { index >= $0 } ?? false
            let input = x
            var q = [Float].scratch(rows * h)
            var k = [Float].scratch(rows * h)
            var v = [Float].scratch(rows * h)
            layer.query.forward(x, rows: rows, into: &q)
            layer.key.forward(x, rows: rows, into: &k)
            layer.value.forward(x, rows: rows, into: &v)
            var probabilities = [Float].scratch(batch.count * c.heads * length * length)
            var context = [Float].scratch(rows * h)
            let probabilityDropout = draws?.attention(count: probabilities.count) ?? []
            Attention.forward(
                q: q, k: k, v: v, batch: batch.count, length: length, width: h, heads: c.heads, keyMask: mask,
                dropout: probabilityDropout, probabilities: &probabilities, out: &context)
            var attentionSum = [Float].scratch(rows * h)
            layer.attentionOutput.forward(context, rows: rows, into: &attentionSum)
            let attentionOutputDropout = draws?.hidden(&attentionSum) ?? []
            for i in 0..<(rows * h) { attentionSum[i] += x[i] }
            var attentionOutput = [Float].scratch(rows * h)
            layer.attentionNorm.forward(attentionSum, rows: rows, eps: c.layerNormEpsilon, into: &attentionOutput)
            var inner = [Float].scratch(rows * c.intermediate)
            layer.intermediate.forward(attentionOutput, rows: rows, into: &inner)
            // The backward pass needs GELU's input and output both; otherwise it runs in place.
            let activated = elementwise(&inner, keepingInput: record) { Kernels.gelu($0, count: $1, into: $2) }
            var outputSum = [Float].scratch(rows * h)
            layer.output.forward(activated, rows: rows, into: &outputSum)
            let outputDropout = draws?.hidden(&outputSum) ?? []
            for i in 0..<(rows * h) { outputSum[i] += attentionOutput[i] }
            var output = [Float].scratch(rows * h)
            layer.outputNorm.forward(outputSum, rows: rows, eps: c.layerNormEpsilon, into: &output)
            x = output
            if record {
                recorded.append(
                    LayerActivations(
                        input: input, q: q, k: k, v: v, probabilities: probabilities,
                        probabilityDropout: probabilityDropout, context: context,
                        attentionOutputDropout: attentionOutputDropout, attentionSum: attentionSum,
                        attentionOutput: attentionOutput, preActivation: inner, activation: activated,
                        outputDropout: outputDropout, outputSum: outputSum))
            }
        }
        return Pass(
            hidden: x, length: length, mask: mask, tokens: tokens, activations: recorded,
            embeddingSum: embeddingSum, embeddingDropout: recordEmbeddings ? embeddingDropout : [])
    }

    /// Sentence embeddings as sentence-transformers computes them for this family: the mean of
    /// the last hidden state over the tokens (padding excluded), L2-normalised.
    /// - Throws: `ModelError` as `forward` does.
    public func embed(_ batch: [[Int32]]) throws -> [[Float]] {
        let (hidden, length, mask) = try forward(batch)
        return pool(hidden, length: length, mask: mask, count: batch.count).embeddings
    }

    /// Mean pooling and L2 normalisation; also the pooled vectors before the normalisation and
    /// their norms (for the backward pass).
    func pool(_ hidden: [Float], length: Int, mask: [Float], count batchCount: Int)
        -> (embeddings: [[Float]], pooled: [[Float]], norms: [Float], counts: [Float])
    {
        let h = configuration.hidden
        var norms: [Float] = []
        var counts: [Float] = []
        var pooledRows: [[Float]] = []
        let embeddings = (0..<batchCount).map { b -> [Float] in
            var pooled = [Float](repeating: 0, count: h)
            var count: Float = 0
            for t in 0..<length where mask[b * length + t] != 0 {
                count += 1
                for i in 0..<h { pooled[i] += hidden[(b * length + t) * h + i] }
            }
            let scale = 1 / max(count, 1e-9)
            for i in 0..<h { pooled[i] *= scale }
            let norm = max(pooled.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            norms.append(norm)
            counts.append(max(count, 1e-9))
            pooledRows.append(pooled)
            return pooled.map { $0 / norm }
        }
        return (embeddings, pooledRows, norms, counts)
    }
}

/// A model that cannot be built or run from the given files.
public typealias ModelError = FileError
