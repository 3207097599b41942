import Checkpoints
import Foundation
import Tensors

/// A CLIP model (image and text towers) loaded from a checkpoint in OpenAI / open_clip naming
/// (`visual.conv1.weight`, `transformer.resblocks.N…`) or Hugging Face `CLIPModel` naming
/// (`vision_model.…`, `text_model.…`), mapped onto one structure; weights in Float32.
public final class CLIPModel: @unchecked Sendable {
    /// The tensor naming scheme a checkpoint uses; the raw value names it for people.
    public enum Naming: String, Sendable {
        /// OpenAI's and open_clip's names (`visual.conv1.weight`, `transformer.resblocks.N…`).
        case openCLIP = "open_clip"
        /// Hugging Face `CLIPModel`'s names (`vision_model.…`, `text_model.…`).
        case huggingFace = "Hugging Face CLIPModel"
    }
    /// The MLP activation of both towers; the raw value is the config files' spelling.
    public enum Activation: String, Sendable {
        /// x · σ(1.702 x), the activation OpenAI's CLIP was trained with.
        case quickGELU = "quick_gelu"
        /// The exact (erf) GELU.
        case gelu
    }

    /// The sizes of one tower's transformer.
    public struct Tower: Sendable, Equatable {
        /// Transformer blocks.
        public var layers: Int
        /// The residual stream's width.
        public var width: Int
        /// Attention heads (from the config file, else 64 wide; width / 16 for narrow test towers).
        public var heads: Int
        /// The MLP's inner width.
        public var intermediate: Int
    }

    /// The architecture's sizes, read from the tensor names and shapes and the config file.
    public struct Configuration: Sendable, Equatable {
        /// The naming scheme of the checkpoint's tensors.
        public var naming: Naming
        /// The text tower.
        public var text: Tower
        /// The image tower (a ViT).
        public var vision: Tower
        /// Token ids accepted: the token embedding's rows.
        public var vocabulary: Int
        /// The text context in tokens, start and end tokens included: the text position embedding's rows.
        public var contextLength: Int
        /// The side of a square image patch, in pixels.
        public var patchSize: Int
        /// The side of the square input image, in pixels (patches per side × `patchSize`).
        public var imageSize: Int
        /// The width of the shared embedding space both projections map into.
        public var embedding: Int
        /// The MLP activation of both towers.
        public var activation: Activation
        /// The LayerNorm epsilon of both towers (config.json's text_config.layer_norm_eps; 1e-5 without one).
        public var layerNormEpsilon: Float = 1e-5
    }

    /// A pre-LayerNorm transformer block (both towers).
    struct Block {
        var norm1: Norm, query: Linear, key: Linear, value: Linear, out: Linear
        var norm2: Norm, fc: Linear, projection: Linear
    }

    /// The sizes this model was loaded with.
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
    /// `activation`, when given, overrides the file. `replacements` stand in for the checkpoint's tensors of the
    /// same names (a patched model computed in memory); they must have the same shapes.
    /// - Throws: `ModelError`: a checkpoint that is not CLIP, a tensor missing, of another shape or not floating
    ///   point, heads that do not split a tower's width; `.unsupported` for a `hidden_act` other than quick_gelu
    ///   or gelu; and the config file's read or parse errors.
    public init(
        checkpoint: Checkpoint, configFile: String? = nil, activation: Activation? = nil,
        replacements: [String: TensorView] = [:]
    ) throws {
        _ = Parallel.configureBlas
        let configuration = try Self.configuration(of: checkpoint, configFile: configFile, activation: activation)
        self.configuration = configuration
        let names = Names(configuration.naming)
        let weights = WeightLoader(
            checkpoint: checkpoint, replacements: replacements, names: names, naming: configuration.naming)
        let t = configuration.text
        let v = configuration.vision
        let e = configuration.embedding

        // The text tower: token and position embeddings, the blocks, the final LayerNorm.
        tokenEmbedding = try weights.load(names.tokenEmbedding, [configuration.vocabulary, t.width])
        textPositions = try weights.load(names.textPositions, [configuration.contextLength, t.width])
        textBlocks = try weights.blocks(t, vision: false)
        finalNorm = try weights.norm(names.finalNorm, width: t.width)

        // The image tower: patch embedding (conv1), class and position embeddings, ln_pre,
        // the blocks, ln_post.
        let patch = configuration.patchSize
        let grid = configuration.imageSize / patch
        patchWeight = try weights.load(names.patchWeight, [v.width, 3, patch, patch])
        classEmbedding = try weights.load(names.classEmbedding, [v.width])
        visionPositions = try weights.load(names.visionPositions, [grid * grid + 1, v.width])
        preNorm = try weights.norm(names.preNorm, width: v.width)
        visionBlocks = try weights.blocks(v, vision: true)
        postNorm = try weights.norm(names.postNorm, width: v.width)

        // The projections into the shared embedding space, and the temperature.
        textProjection = try weights.projection(names.textProjection, width: t.width, embedding: e)
        visionProjection = try weights.projection(names.visionProjection, width: v.width, embedding: e)
        logitScale = try weights.load(names.logitScale, [1]).first ?? 0
        firstMLPNames = (
            (0..<t.layers).map { names.block(vision: false, $0) + names.fc + ".weight" },
            (0..<v.layers).map { names.block(vision: true, $0) + names.fc + ".weight" }
        )
    }

    /// The configuration the tensor names and shapes describe, with what `configFile` (Hugging
    /// Face's config.json or open_clip's open_clip_config.json) says of the activation, the
    /// head counts and LayerNorm's epsilon, and `activation` over both.
    /// - Throws: `ModelError` for an unsupported `hidden_act`, or heads that do not split a
    ///   tower's width.
    static func configuration(of checkpoint: Checkpoint, configFile: String?, activation: Activation?) throws
        -> Configuration
    {
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
        return configuration
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
                """
                not a CLIP checkpoint: neither visual.conv1.weight (OpenAI / open_clip) nor \
                vision_model.embeddings.patch_embedding.weight (Hugging Face) among its \(names.count) tensors \
                (\(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? ", ..." : ""))
                """
            )
        }
        let names = Names(naming)
        // Every shape is checked for its rank and for positive sizes before it is indexed.
        func shape(_ name: String, rank: Int) throws -> [Int] {
            guard let entry = checkpoint.entry(named: name) else {
                throw ModelError(checkpoint.path, "CLIP tensor \"\(name)\" is missing")
            }
            guard entry.shape.count == rank, entry.shape.allSatisfy({ $0 > 0 }) else {
                throw ModelError(
                    checkpoint.path,
                    """
                    CLIP tensor \"\(name)\" is \(Shape.describe(entry.shape)); a CLIP model has \(rank) \
                    positive sizes there
                    """)
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
        let token = try shape(names.tokenEmbedding, rank: 2)
        let positions = try shape(names.textPositions, rank: 2)
        let patch = try shape(names.patchWeight, rank: 4)
        let visionPositions = try shape(names.visionPositions, rank: 2)
        guard patch[1] == 3, patch[2] == patch[3], visionPositions[0] >= 2 else {
            throw ModelError(
                checkpoint.path,
                """
                CLIP embeddings have unexpected shapes: \(names.tokenEmbedding) \(Shape.describe(token)), \
                \(names.patchWeight) \(Shape.describe(patch)) (3 channels, square patches), \
                \(names.visionPositions) \(Shape.describe(visionPositions)) (the class token and at least one patch)
                """
            )
        }
        let textLayers = layers(vision: false)
        let visionLayers = layers(vision: true)
        guard textLayers > 0, visionLayers > 0 else {
            throw ModelError(checkpoint.path, "CLIP blocks are missing (\(textLayers) text, \(visionLayers) image)")
        }
        let textFC = try shape(names.block(vision: false, 0) + names.fc + ".weight", rank: 2)
        let visionFC = try shape(names.block(vision: true, 0) + names.fc + ".weight", rank: 2)
        let projection = try shape(names.textProjection, rank: 2)
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
