import Checkpoints
import Foundation
import Tensors

/// A model that embeds class prompts and inputs into one space (normalised vectors), so a
/// task can be scored zero-shot: BERT-family sentence encoders (texts only) and CLIP (texts
/// and images).
public protocol ZeroShotEncoder: Sendable {
    /// "BERT" or "CLIP", for messages and reports.
    var architecture: String { get }
    /// The width of the embeddings, in floats.
    var dimension: Int { get }
    /// L2-normalised embeddings of `texts`, one vector of `dimension` floats each, in order.
    /// - Throws: `ModelError` when the model cannot run on them (too long for its positions, among others).
    func embed(texts: [String]) throws -> [[Float]]
    /// L2-normalised embeddings of preprocessed images (3 · H · H floats each, channel-major), in order.
    /// - Throws: `ModelError` when the model has no image tower or an image is not of its size.
    func embed(images: [[Float]]) throws -> [[Float]]
}

extension TextEncoder: ZeroShotEncoder {
    /// "BERT".
    public var architecture: String { "BERT" }
    /// The hidden width: a sentence embedding's length.
    public var dimension: Int { model.configuration.hidden }
    /// Mean-pooled, L2-normalised sentence embeddings of `texts`, 32 at a time (see `embed(_:batchSize:)`).
    /// - Throws: `ModelError` as `BertModel.forward` does.
    public func embed(texts: [String]) throws -> [[Float]] { try embed(texts, batchSize: 32).map(\.embedding) }
    /// A BERT encoder has no image tower: always throws.
    /// - Throws: `ModelError`, always.
    public func embed(images: [[Float]]) throws -> [[Float]] {
        throw ModelError(path, "is a BERT text encoder: it has no image tower (images need a CLIP model)")
    }
}

/// The architectures Scalpel runs, recognised from tensor names.
public enum Architecture: String, CaseIterable, Sendable {
    /// BERT-family sentence encoders (`TextEncoder`) and CLIP models (`CLIPEncoder`).
    case bert, clip

    /// The architecture `checkpoint`'s tensor names show, or an error listing what was found.
    /// - Throws: `ModelError` when the tensor names show neither architecture.
    public static func detect(_ checkpoint: Checkpoint) throws -> Architecture {
        if checkpoint.tensors.contains(where: { $0.name.hasSuffix("embeddings.word_embeddings.weight") }) {
            return .bert
        }
        if checkpoint.entry(named: "visual.conv1.weight") != nil
            || checkpoint.entry(named: "vision_model.embeddings.patch_embedding.weight") != nil
        {
            return .clip
        }
        let names = checkpoint.tensors.map(\.name)
        throw ModelError(
            checkpoint.path,
            """
            is of no architecture Scalpel runs: no BERT embeddings.word_embeddings.weight, no CLIP \
            visual.conv1.weight or vision_model.embeddings.patch_embedding.weight among its \(names.count) \
            tensors (\(names.prefix(6).joined(separator: ", "))\(names.count > 6 ? ", ..." : ""))
            """
        )
    }

    /// The zero-shot encoder of `checkpoint` (with `replacements` standing in for tensors),
    /// its tokenizer and configuration read from `folder` (default: beside the weights).
    /// `architecture`, when given, is used instead of detecting it.
    /// - Throws: `ModelError` as `detect`, `TextEncoder.init(checkpoint:)` and `CLIPEncoder.init` do.
    public static func encoder(
        _ checkpoint: Checkpoint, replacements: [String: TensorView] = [:], folder: String? = nil,
        architecture: Architecture? = nil
    ) throws -> any TrainableEncoder {
        switch try architecture ?? detect(checkpoint) {
        case .bert: return try TextEncoder(checkpoint: checkpoint, replacements: replacements, tokenizerFolder: folder)
        case .clip: return try CLIPEncoder(checkpoint: checkpoint, replacements: replacements, folder: folder)
        }
    }
}

/// A CLIP model with its tokenizer: normalised text and image embeddings.
public struct CLIPEncoder: ZeroShotEncoder {
    /// The CLIP model.
    public let model: CLIPModel
    /// The BPE tokenizer, framing texts to the model's context length.
    public let tokenizer: CLIPTokenizer
    /// The checkpoint's path, as the user named it.
    public let path: String
    /// "CLIP".
    public var architecture: String { "CLIP" }
    /// The width of the shared embedding space.
    public var dimension: Int { model.configuration.embedding }

    /// The tokenizer's vocabulary is open_clip's `bpe_simple_vocab_16e6.txt.gz` or Hugging
    /// Face's `merges.txt` beside the weights, else the file `SCALPEL_CLIP_VOCABULARY` names,
    /// else the copy ./setup.sh fetched into the source tree's `.cache/models/clip-bpe`.
    /// The model's config.json or open_clip_config.json is read from `folder` (default: beside the weights).
    /// - Throws: `ModelError` when no vocabulary is found, and as `CLIPModel.init` and `CLIPTokenizer.init` do.
    public init(checkpoint: Checkpoint, replacements: [String: TensorView] = [:], folder: String? = nil) throws {
        let folder =
            folder
            ?? URL(fileURLWithPath: checkpoint.files.first?.path ?? checkpoint.path).deletingLastPathComponent().path
        let fileManager = FileManager.default
        let config = ["config.json", "open_clip_config.json"].map { folder + "/" + $0 }.first(
            where: fileManager.fileExists)
        model = try CLIPModel(checkpoint: checkpoint, configFile: config, replacements: replacements)
        // The source tree's copy: the executable lives in .build/release/ (a link) or
        // .build/<triple>/release/, so look two and three folders up.
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        let sourceTree = ["../..", "../../.."].map {
            executable.appendingPathComponent($0 + "/.cache/models/clip-bpe/bpe_simple_vocab_16e6.txt.gz")
                .standardizedFileURL.path
        }
        let candidates =
            [folder + "/bpe_simple_vocab_16e6.txt.gz", folder + "/merges.txt"]
            + [ProcessInfo.processInfo.environment["SCALPEL_CLIP_VOCABULARY"]].compactMap { $0 } + sourceTree
        guard let vocabulary = candidates.first(where: fileManager.fileExists) else {
            throw ModelError(
                checkpoint.path,
                """
                CLIP's tokenizer vocabulary was not found: looked for \(candidates.joined(separator: ", ")) (set \
                SCALPEL_CLIP_VOCABULARY to open_clip's bpe_simple_vocab_16e6.txt.gz)
                """
            )
        }
        tokenizer = try CLIPTokenizer(vocabularyFile: vocabulary, contextLength: model.configuration.contextLength)
        path = checkpoint.path
    }

    /// Normalised text embeddings of `texts`, tokenized and run 32 at a time.
    /// - Throws: `ModelError` as `CLIPModel.embedTexts` does.
    public func embed(texts: [String]) throws -> [[Float]] {
        try stride(from: 0, to: texts.count, by: 32).flatMap { start in
            defer { WorkProgress.add(min(texts.count, start + 32) - start) }
            return try model.embedTexts(texts[start..<min(texts.count, start + 32)].map(tokenizer.encode))
        }
    }

    /// Normalised image embeddings of `images` (3 · `imageSize` · `imageSize` floats each), 32 at a time.
    /// - Throws: `ModelError` as `CLIPModel.embedImages` does.
    public func embed(images: [[Float]]) throws -> [[Float]] {
        try stride(from: 0, to: images.count, by: 32).flatMap { start in
            defer { WorkProgress.add(min(images.count, start + 32) - start) }
            return try model.embedImages(Array(images[start..<min(images.count, start + 32)]))
        }
    }
}
