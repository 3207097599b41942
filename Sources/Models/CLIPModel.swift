import Checkpoints
import Foundation
import Tensors

/// A CLIP model (image and text towers) loaded from a checkpoint in OpenAI / open_clip naming
/// (`visual.conv1.weight`, `transformer.resblocks.N…`) or Hugging Face `CLIPModel` naming
/// (`vision_model.…`, `text_model.…`), mapped onto one structure; weights in Float32.
public final class CLIPModel: @unchecked Sendable {
    public enum Naming: String, Sendable {
        case openCLIP = "open_clip"
        case huggingFace = "Hugging Face CLIPModel"
    }
    public enum Activation: String, Sendable {
        case quickGELU = "quick_gelu"
        case gelu
    }

    public struct Tower: Sendable, Equatable {
        public var layers: Int
        public var width: Int
        public var heads: Int
        public var intermediate: Int
    }

    public struct Configuration: Sendable, Equatable {
        public var naming: Naming
        public var text: Tower
        public var vision: Tower
        public var vocabulary: Int
        public var contextLength: Int
        public var patchSize: Int
        public var imageSize: Int
        public var embedding: Int
        public var activation: Activation
        public var layerNormEpsilon: Float = 1e-5
    }

    /// A pre-LayerNorm transformer block (both towers).
    struct Block {
        var norm1: Norm, query: Linear, key: Linear, value: Linear, out: Linear
        var norm2: Norm, fc: Linear, projection: Linear
    }

    public let configuration: Configuration
    /// Checkpoint names of the blocks' first MLP linear weights, text tower then image tower.
    public let firstMLPNames: (text: [String], vision: [String])
    var tokenEmbedding: [Float], textPositions: [Float], textBlocks: [Block], finalNorm: Norm
    var textProjection: [Float]  // [width × embedding]: features · projection
    var patchWeight: [Float]  // [width × 3·P·P]
    var classEmbedding: [Float], visionPositions: [Float], preNorm: Norm, visionBlocks: [Block], postNorm: Norm
    var visionProjection: [Float]  // [width × embedding]
    /// The learned temperature, as stored (log of the scale).
    public let logitScale: Float

    /// Loads the model from `checkpoint`; `configFile`, when given, is Hugging Face's
    /// config.json (for `hidden_act` and `layer_norm_eps`) or open_clip's
    /// open_clip_config.json (`quick_gelu`). Without one, OpenAI's QuickGELU is assumed.
    public init(
        checkpoint: Checkpoint, configFile: String? = nil, activation: Activation? = nil,
        replacements: [String: TensorView] = [:]
    ) throws {
        _ = Parallel.configureBlas
        var configuration = try Self.configuration(of: checkpoint)
        if let configFile {
            let json = try JSONValue.parse(contentsOf: configFile)
            if let act = json["text_config"]?["hidden_act"]?.stringValue ?? json["hidden_act"]?.stringValue {
                guard let parsed = Activation(rawValue: act) else {
                    throw ModelError(
                        configFile, "hidden_act \"\(act)\" is not supported (quick_gelu and gelu are)",
                        kind: .unsupported)
                }
                configuration.activation = parsed
            }
            if case .bool(let quick)? = json["model_cfg"]?["quick_gelu"] {
                configuration.activation = quick ? .quickGELU : .gelu
            }
            // Head counts: Hugging Face's num_attention_heads; open_clip's text heads and image head_width.
            if let heads = json["text_config"]?["num_attention_heads"]?.intValue
                ?? json["model_cfg"]?["text_cfg"]?["heads"]?.intValue
            {
                configuration.text.heads = heads
            }
            if let heads = json["vision_config"]?["num_attention_heads"]?.intValue {
                configuration.vision.heads = heads
            } else if let headWidth = json["model_cfg"]?["vision_cfg"]?["head_width"]?.intValue, headWidth > 0 {
                configuration.vision.heads = configuration.vision.width / headWidth
            }
            if case .number(let eps)? = json["text_config"]?["layer_norm_eps"] {
                configuration.layerNormEpsilon = Float(eps)
            }
        }
        if let activation { configuration.activation = activation }
        // Heads come from the config file or are inferred from the widths; either way each
        // must be a whole slice of the width, or attention would leave columns unwritten.
        for (name, tower) in [("text", configuration.text), ("image", configuration.vision)]
        where tower.heads < 1 || tower.width % tower.heads != 0 {
            throw ModelError(
                configFile ?? checkpoint.path,
                "the \(name) tower's width of \(tower.width) does not split into \(tower.heads) attention heads"
                    + (configFile == nil ? " (inferred from the width; give the model's config file to set them)" : ""))
        }
        self.configuration = configuration
        let names = Names(configuration.naming)
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let entry = checkpoint.entry(named: name) else {
                throw ModelError(checkpoint.path, "CLIP tensor \"\(name)\" is missing")
            }
            let view = replacements[name] ?? checkpoint.view(entry)
            // A scalar may be stored as [] (Hugging Face's logit_scale) or [1].
            guard view.shape == shape || (shape == [1] && view.shape.isEmpty) else {
                throw ModelError(
                    checkpoint.path,
                    "CLIP tensor \"\(name)\" is \(Shape.describe(view.shape)), expected \(Shape.describe(shape)) from the other tensors"
                )
            }
            guard view.dtype.isFloatingPoint else {
                throw ModelError(
                    checkpoint.path, "CLIP tensor \"\(name)\" is \(view.dtype.rawValue), not floating point")
            }
            return view.floatValues()
        }
        func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
            var out = [Float](repeating: 0, count: values.count)
            for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = values[r * columns + c] } }
            return out
        }
        func blocks(_ tower: Tower, vision: Bool) throws -> [Block] {
            try (0..<tower.layers).map { i in
                let w = tower.width
                let f = tower.intermediate
                func linear(_ name: String, _ out: Int, _ inWidth: Int) throws -> Linear {
                    Linear(
                        weight: try load(name + ".weight", [out, inWidth]), bias: try load(name + ".bias", [out]),
                        inWidth: inWidth, outWidth: out)
                }
                func norm(_ name: String) throws -> Norm {
                    Norm(gamma: try load(name + ".weight", [w]), beta: try load(name + ".bias", [w]))
                }
                let p = names.block(vision: vision, i)
                let (query, key, value): (Linear, Linear, Linear)
                if configuration.naming == .openCLIP {
                    let weight = try load(p + "attn.in_proj_weight", [3 * w, w])
                    let bias = try load(p + "attn.in_proj_bias", [3 * w])
                    func part(_ k: Int) -> Linear {
                        Linear(
                            weight: Array(weight[(k * w * w)..<((k + 1) * w * w)]),
                            bias: Array(bias[(k * w)..<((k + 1) * w)]), inWidth: w, outWidth: w)
                    }
                    (query, key, value) = (part(0), part(1), part(2))
                } else {
                    (query, key, value) = (
                        try linear(p + "self_attn.q_proj", w, w), try linear(p + "self_attn.k_proj", w, w),
                        try linear(p + "self_attn.v_proj", w, w)
                    )
                }
                return Block(
                    norm1: try norm(p + names.norm1), query: query, key: key, value: value,
                    out: try linear(p + names.attentionOut, w, w),
                    norm2: try norm(p + names.norm2), fc: try linear(p + names.fc, f, w),
                    projection: try linear(p + names.projection, w, f))
            }
        }
        let t = configuration.text
        let v = configuration.vision
        let e = configuration.embedding
        tokenEmbedding = try load(names.tokenEmbedding, [configuration.vocabulary, t.width])
        textPositions = try load(names.textPositions, [configuration.contextLength, t.width])
        textBlocks = try blocks(t, vision: false)
        finalNorm = Norm(
            gamma: try load(names.finalNorm + ".weight", [t.width]),
            beta: try load(names.finalNorm + ".bias", [t.width]))
        let patch = configuration.patchSize
        let grid = configuration.imageSize / patch
        patchWeight = try load(names.patchWeight, [v.width, 3, patch, patch])
        classEmbedding = try load(names.classEmbedding, [v.width])
        visionPositions = try load(names.visionPositions, [grid * grid + 1, v.width])
        preNorm = Norm(
            gamma: try load(names.preNorm + ".weight", [v.width]), beta: try load(names.preNorm + ".bias", [v.width]))
        visionBlocks = try blocks(v, vision: true)
        postNorm = Norm(
            gamma: try load(names.postNorm + ".weight", [v.width]), beta: try load(names.postNorm + ".bias", [v.width]))
        if configuration.naming == .openCLIP {
            textProjection = try load(names.textProjection, [t.width, e])
            visionProjection = try load(names.visionProjection, [v.width, e])
        } else {  // Linear layers without bias, [embedding × width]
            textProjection = transposed(try load(names.textProjection, [e, t.width]), rows: e, columns: t.width)
            visionProjection = transposed(try load(names.visionProjection, [e, v.width]), rows: e, columns: v.width)
        }
        logitScale = try load(names.logitScale, [1]).first ?? 0
        firstMLPNames = (
            (0..<t.layers).map { names.block(vision: false, $0) + names.fc + ".weight" },
            (0..<v.layers).map { names.block(vision: true, $0) + names.fc + ".weight" }
        )
    }

    /// The tensor names of one naming scheme.
    struct Names {
        let tokenEmbedding, textPositions, finalNorm, textProjection, patchWeight, classEmbedding,
            visionPositions: String
        let preNorm, postNorm, visionProjection, logitScale, norm1, norm2, attentionOut, fc, projection: String
        let textBlockPrefix, visionBlockPrefix: String

        init(_ naming: Naming) {
            switch naming {
            case .openCLIP:
                (tokenEmbedding, textPositions, finalNorm, textProjection) = (
                    "token_embedding.weight", "positional_embedding", "ln_final", "text_projection"
                )
                (patchWeight, classEmbedding, visionPositions) = (
                    "visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding"
                )
                (preNorm, postNorm, visionProjection, logitScale) = (
                    "visual.ln_pre", "visual.ln_post", "visual.proj", "logit_scale"
                )
                (norm1, norm2, attentionOut, fc, projection) = (
                    "ln_1", "ln_2", "attn.out_proj", "mlp.c_fc", "mlp.c_proj"
                )
                (textBlockPrefix, visionBlockPrefix) = ("transformer.resblocks.", "visual.transformer.resblocks.")
            case .huggingFace:
                (tokenEmbedding, textPositions) = (
                    "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight"
                )
                (finalNorm, textProjection) = ("text_model.final_layer_norm", "text_projection.weight")
                patchWeight = "vision_model.embeddings.patch_embedding.weight"
                (classEmbedding, visionPositions) = (
                    "vision_model.embeddings.class_embedding", "vision_model.embeddings.position_embedding.weight"
                )
                (preNorm, postNorm) = ("vision_model.pre_layrnorm", "vision_model.post_layernorm")
                (visionProjection, logitScale) = ("visual_projection.weight", "logit_scale")
                (norm1, norm2, attentionOut, fc, projection) = (
                    "layer_norm1", "layer_norm2", "self_attn.out_proj", "mlp.fc1", "mlp.fc2"
                )
                (textBlockPrefix, visionBlockPrefix) = ("text_model.encoder.layers.", "vision_model.encoder.layers.")
            }
        }

        func block(vision: Bool, _ index: Int) -> String {
            (vision ? visionBlockPrefix : textBlockPrefix) + "\(index)."
        }
    }

    /// The configuration the tensor names and shapes describe.
    static func configuration(of checkpoint: Checkpoint) throws -> Configuration {
        let naming: Naming
        if checkpoint.entry(named: "visual.conv1.weight") != nil {
            naming = .openCLIP
        } else if checkpoint.entry(named: "vision_model.embeddings.patch_embedding.weight") != nil {
            naming = .huggingFace
        } else {
            let names = checkpoint.tensors.map(\.name)
            throw ModelError(
                checkpoint.path,
                "not a CLIP checkpoint: neither visual.conv1.weight (OpenAI / open_clip) nor vision_model.embeddings.patch_embedding.weight (Hugging Face) among its \(names.count) tensors (\(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? ", ..." : ""))"
            )
        }
        let names = Names(naming)
        func shape(_ name: String) throws -> [Int] {
            guard let entry = checkpoint.entry(named: name) else {
                throw ModelError(checkpoint.path, "CLIP tensor \"\(name)\" is missing")
            }
            return entry.shape
        }
        func layers(vision: Bool) -> Int {
            var count = 0
            while checkpoint.entry(named: names.block(vision: vision, count) + names.fc + ".weight") != nil {
                count += 1
            }
            return count
        }
        let token = try shape(names.tokenEmbedding)
        let positions = try shape(names.textPositions)
        let patch = try shape(names.patchWeight)
        let visionPositions = try shape(names.visionPositions)
        guard token.count == 2, positions.count == 2, patch.count == 4, patch[1] == 3, patch[2] == patch[3],
            visionPositions.count == 2
        else {
            throw ModelError(
                checkpoint.path,
                "CLIP embeddings have unexpected shapes (token \(Shape.describe(token)), patch \(Shape.describe(patch)))"
            )
        }
        let textLayers = layers(vision: false)
        let visionLayers = layers(vision: true)
        guard textLayers > 0, visionLayers > 0 else {
            throw ModelError(checkpoint.path, "CLIP blocks are missing (\(textLayers) text, \(visionLayers) image)")
        }
        let textFC = try shape(names.block(vision: false, 0) + names.fc + ".weight")
        let visionFC = try shape(names.block(vision: true, 0) + names.fc + ".weight")
        let projection = try shape(names.textProjection)
        let grid = Int(Double(visionPositions[0] - 1).squareRoot().rounded())
        guard grid * grid + 1 == visionPositions[0] else {
            throw ModelError(
                checkpoint.path,
                "CLIP image positions (\(visionPositions[0])) are not a square grid plus the class token")
        }
        let textWidth = token[1]
        let visionWidth = patch[0]
        // Heads are 64 wide in every released CLIP; narrower towers (tests) use one head per 16.
        func heads(_ width: Int) -> Int { width % 64 == 0 && width >= 128 ? width / 64 : max(1, width / 16) }
        return Configuration(
            naming: naming,
            text: Tower(layers: textLayers, width: textWidth, heads: heads(textWidth), intermediate: textFC[0]),
            vision: Tower(
                layers: visionLayers, width: visionWidth, heads: heads(visionWidth), intermediate: visionFC[0]),
            vocabulary: token[0], contextLength: positions[0], patchSize: patch[2], imageSize: grid * patch[2],
            embedding: naming == .openCLIP ? projection[1] : projection[0], activation: .quickGELU)
    }
}
