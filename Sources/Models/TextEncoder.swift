import Checkpoints
import Foundation
import Tensors

/// A sentence encoder ready to run: a BERT checkpoint and the tokenizer and settings beside it,
/// found as Hugging Face / sentence-transformers folders keep them (`vocab.txt` or `tokenizer.json`,
/// `config.json`, `tokenizer_config.json`'s `do_lower_case`, `sentence_bert_config.json`'s
/// `max_seq_length`).
public struct TextEncoder: Sendable {
    /// The BERT model.
    public let model: BertModel
    /// The WordPiece tokenizer of the model's vocabulary.
    public let tokenizer: WordPieceTokenizer
    /// The checkpoint's path, as the user named it.
    public let path: String

    /// An encoder from parts already built.
    public init(model: BertModel, tokenizer: WordPieceTokenizer, path: String) {
        self.model = model
        self.tokenizer = tokenizer
        self.path = path
    }

    /// `replacements`: tensors that stand in for the checkpoint's (see `BertModel`).
    /// Opens the checkpoint at `path` and the tokenizer files beside it, as `init(checkpoint:)` does.
    /// - Throws: `CheckpointError` when the checkpoint cannot be opened, and as `init(checkpoint:)` does.
    public init(path: String, replacements: [String: TensorView] = [:]) throws {
        try self.init(checkpoint: Checkpoint.open(path), replacements: replacements)
    }

    /// `tokenizerFolder`: where vocab.txt and the configuration files are, when not beside the
    /// weights (a patched copy of a model written elsewhere).
    /// - Throws: `ModelError` when the folder has neither vocab.txt nor tokenizer.json, and as `BertModel.init`,
    ///   `WordPieceTokenizer`'s initialisers and the JSON reader do for the files.
    public init(checkpoint: Checkpoint, replacements: [String: TensorView] = [:], tokenizerFolder: String? = nil) throws
    {
        let path = checkpoint.path
        let folder =
            tokenizerFolder
            ?? URL(fileURLWithPath: checkpoint.files.first?.path ?? checkpoint.path).deletingLastPathComponent().path
        func file(_ name: String) -> String? {
            let candidate = folder + "/" + name
            return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
        }
        func json(_ name: String) throws -> JSONValue? {
            try file(name).map(JSONValue.parse(contentsOf:))
        }
        guard file("vocab.txt") != nil || file("tokenizer.json") != nil else {
            throw ModelError(
                path, "no vocab.txt or tokenizer.json beside the weights (in \(folder)): the tokenizer needs one")
        }
        model = try BertModel(checkpoint: checkpoint, configFile: file("config.json"), replacements: replacements)
        var lowercase = true
        if case .bool(let value)? = try json("tokenizer.json")?["normalizer"]?["lowercase"] { lowercase = value }
        if case .bool(let value)? = try json("tokenizer_config.json")?["do_lower_case"] { lowercase = value }
        let maxLength = min(
            try json("sentence_bert_config.json")?["max_seq_length"]?.intValue ?? model.configuration.maxPositions,
            model.configuration.maxPositions)
        if let vocabulary = file("vocab.txt") {
            tokenizer = try WordPieceTokenizer(vocabularyFile: vocabulary, lowercase: lowercase, maxLength: maxLength)
        } else {
            tokenizer = try WordPieceTokenizer(
                tokenizerJSON: folder + "/tokenizer.json", lowercase: lowercase, maxLength: maxLength)
        }
        self.path = checkpoint.path
    }

    /// Embeddings of `texts`, `batchSize` at a time, and each text's token count, in the
    /// order given. The texts are batched longest first, as sentence-transformers' `encode`
    /// does: a batch is padded to its longest text, so texts of like length together cost the
    /// least (on WordNet glosses, about half the work of batches in the given order).
    /// - Throws: `ModelError` as `BertModel.forward` does.
    public func embed(_ texts: [String], batchSize: Int = 32) throws -> [(embedding: [Float], tokens: Int)] {
        let tokens = texts.map(tokenizer.encode)
        let order = tokens.indices.sorted {
            tokens[$0].count > tokens[$1].count || (tokens[$0].count == tokens[$1].count && $0 < $1)
        }
        var out = [(embedding: [Float], tokens: Int)](repeating: ([], 0), count: texts.count)
        var start = 0
        while start < order.count {
            let batch = Array(order[start..<min(order.count, start + max(1, batchSize))])
            for (i, embedding) in zip(batch, try model.embed(batch.map { tokens[$0] })) {
                out[i] = (embedding, tokens[i].count)
            }
            start += batch.count
            WorkProgress.add(batch.count)
        }
        return out
    }
}
