import Checkpoints
import Foundation
import Tensors

/// BERT's tokenizer, as Hugging Face's `BertTokenizer` / `BertTokenizerFast` runs it: basic
/// tokenization (clean the text, put spaces around CJK characters, lowercase and strip
/// accents when the model is uncased, split on whitespace and punctuation), then WordPiece
/// (greedy longest match first, continuations prefixed `##`, `[UNK]` for a word with no
/// split or longer than 100 characters), then `[CLS] … [SEP]`, truncated to `maxLength`.
public struct WordPieceTokenizer: Sendable {
    /// Token → id, tokens compared by their UTF-8 bytes as Hugging Face's tokenizers compare
    /// them ("é" precomposed and "e" + U+0301 are two tokens).
    public let vocabulary: [ByteName: Int32]
    /// Whether text is lowercased and stripped of accents first (an uncased model).
    public let lowercase: Bool
    /// The most ids `encode` returns, `[CLS]` and `[SEP]` included (at least 2).
    public let maxLength: Int
    let unknown: Int32
    let classify: Int32
    let separator: Int32
    /// The id of `[PAD]`, for padding a batch.
    public let padding: Int32

    /// Reads `vocab.txt` (one token per line, the line number its id; LF or CRLF line
    /// endings, a byte-order mark at the start skipped). A token listed twice takes its last
    /// line's id, as Hugging Face's `load_vocab` and `tokenizers` do.
    /// - Throws: `FileError` naming the file when it cannot be read, is not UTF-8 or has a
    ///   lone CR (naming the line); `.incompatible` without [UNK], [CLS], [SEP], [PAD].
    public init(vocabularyFile path: String, lowercase: Bool = true, maxLength: Int = 512) throws {
        var vocabulary: [ByteName: Int32] = [:]
        for (id, line) in try TextFile.lines(path).enumerated() {
            guard id <= Int(Int32.max) else {
                throw ModelError(path, "more than \(Int32.max) tokens", kind: .unsupported)
            }
            vocabulary[ByteName(line)] = Int32(id)
        }
        try self.init(tokens: vocabulary, lowercase: lowercase, maxLength: maxLength, path: path)
    }

    /// Reads the WordPiece vocabulary of a Hugging Face `tokenizer.json` (`model.vocab`).
    /// - Throws: `FileError` naming the file when it cannot be read or is not JSON;
    ///   `FileError` when it is not a WordPiece tokenizer (`.unsupported`) or an id is invalid.
    public init(tokenizerJSON path: String, lowercase: Bool = true, maxLength: Int = 512) throws {
        let json = try JSONValue.parse(contentsOf: path)
        guard json["model"]?["type"]?.stringValue == "WordPiece", let entries = json["model"]?["vocab"]?.objectMembers
        else {
            throw ModelError(
                path, "not a WordPiece tokenizer (model.type is \(json["model"]?["type"]?.stringValue ?? "missing"))",
                kind: .unsupported)
        }
        var vocabulary: [ByteName: Int32] = [:]
        for (token, id) in entries {
            guard let id = id.intValue, id >= 0, id <= Int(Int32.max) else {
                throw ModelError(path, "token \"\(token)\" has no valid id")
            }
            vocabulary[ByteName(token)] = Int32(id)
        }
        try self.init(tokens: vocabulary, lowercase: lowercase, maxLength: maxLength, path: path)
    }

    /// A tokenizer over `vocabulary` (token → id); `path` names it in errors.
    /// - Throws: `FileError` (`.incompatible`) naming `path` when [UNK], [CLS], [SEP] or [PAD] is not in it.
    public init(vocabulary: [String: Int32], lowercase: Bool, maxLength: Int, path: String = "vocabulary") throws {
        try self.init(
            tokens: Dictionary(vocabulary.map { (ByteName($0.key), $0.value) }, uniquingKeysWith: { _, last in last }),
            lowercase: lowercase, maxLength: maxLength, path: path)
    }

    /// A tokenizer over `tokens` (token bytes → id); `path` names it in errors.
    init(tokens vocabulary: [ByteName: Int32], lowercase: Bool, maxLength: Int, path: String) throws {
        func id(_ token: String) throws -> Int32 {
            guard let id = vocabulary[ByteName(token)] else {
                throw ModelError(path, "the vocabulary has no \(token) token", kind: .incompatible)
            }
            return id
        }
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        self.maxLength = max(2, maxLength)
        unknown = try id("[UNK]")
        classify = try id("[CLS]")
        separator = try id("[SEP]")
        padding = try id("[PAD]")
    }

    /// Token ids of `text`, with `[CLS]` and `[SEP]`, at most `maxLength` of them.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [classify]
        let budget = maxLength - 2
        outer: for word in basicTokens(text) {
            for piece in wordPieces(word) {
                if ids.count - 1 == budget { break outer }
                ids.append(piece)
            }
        }
        ids.append(separator)
        return ids
    }

    /// Basic tokenization: the words and punctuation marks of `text`.
    private func basicTokens(_ text: String) -> [String] {
        // Clean: drop NUL, U+FFFD and control characters; whitespace becomes a space; CJK
        // ideographs get spaces around them.
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) {
                cleaned.append(" ")
            } else if Self.isCJK(scalar) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
            }
        }
        var tokens: [String] = []
        for word in String(cleaned).split(separator: " ", omittingEmptySubsequences: true) {
            var token = String(word)
            if lowercase {
                // Lowercase, then NFD and drop combining marks (accents).
                token = token.lowercased()
                token = String(
                    String.UnicodeScalarView(
                        token.decomposedStringWithCanonicalMapping.unicodeScalars.filter {
                            $0.properties.generalCategory != .nonspacingMark
                        }))
            }
            // Split on punctuation: each mark is a token of its own.
            var current = String.UnicodeScalarView()
            for scalar in token.unicodeScalars {
                if Self.isPunctuation(scalar) {
                    if !current.isEmpty {
                        tokens.append(String(current))
                        current = String.UnicodeScalarView()
                    }
                    tokens.append(String(scalar))
                } else {
                    current.append(scalar)
                }
            }
            if !current.isEmpty { tokens.append(String(current)) }
        }
        return tokens
    }

    /// WordPiece ids of one word.
    private func wordPieces(_ word: String) -> [Int32] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > 100 { return [unknown] }
        var pieces: [Int32] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int32?
            while start < end {
                var candidate = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { candidate = "##" + candidate }
                if let id = vocabulary[ByteName(candidate)] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            pieces.append(id)
            start = end
        }
        return pieces
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        if s == " " || s == "\t" || s == "\n" || s == "\r" { return true }
        return s.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned: return true
        default: return false
        }
    }

    /// ASCII symbols count as punctuation too, as in BERT's original tokenizer.
    private static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    private static func isCJK(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}
