import Checkpoints
import Foundation
import Tensors

/// CLIP's byte-level BPE tokenizer, as open_clip's `SimpleTokenizer` runs it: clean the text
/// (`TextCleaning`), lowercase, split it into words (`<start_of_text>` / `<end_of_text>`,
/// contractions, runs of letters, single digits, runs of other symbols), map each word's UTF-8
/// bytes to printable characters, merge by the ranks in `bpe_simple_vocab_16e6.txt.gz`, and
/// frame the ids with the start and end tokens, truncated to the context length (77).
public struct CLIPTokenizer: Sendable {
    /// The most ids `encode` returns, start and end tokens included (at least 2; CLIP's is 77).
    public let contextLength: Int
    /// The id of `<start_of_text>` (49406 with CLIP's vocabulary).
    public let startToken: Int32
    /// The id of `<end_of_text>` (49407 with CLIP's vocabulary).
    public let endToken: Int32
    let encoder: [String: Int32]
    let ranks: [String: Int]
    /// The printable character standing for each byte (GPT-2's table).
    let byteCharacters: [String]

    /// The number of merges CLIP's vocabulary keeps (49152 − 256 − 2 of the file's lines).
    static let mergeCount = 49_152 - 256 - 2

    /// Reads open_clip's `bpe_simple_vocab_16e6.txt.gz` (or the same file uncompressed, or
    /// Hugging Face's `merges.txt`): a header line, then one merge per line, two symbols
    /// separated by a space (LF or CRLF line endings, a byte-order mark skipped).
    /// - Throws: `FileError` naming the file when it cannot be read or inflated, is not UTF-8
    ///   or has a lone CR (naming the line), has too few lines, or a merge is not two symbols.
    public init(vocabularyFile path: String, contextLength: Int = 77) throws {
        let lines = try TextFile.lines(
            of: path.hasSuffix(".gz") ? try Deflate.gunzip(path: path) : try TextFile.contents(path), path: path)
        guard lines.count > Self.mergeCount else {
            throw ModelError(
                path,
                "has \(lines.count) lines; CLIP's BPE vocabulary has a header and at least \(Self.mergeCount) merges")
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(Self.mergeCount)
        for (number, line) in lines[1...Self.mergeCount].enumerated() {
            // Split on the space byte: a space followed by a combining mark is one Character.
            let parts = line.utf8.split(separator: UInt8(ascii: " "))
            guard parts.count == 2, let first = String(parts[0]), let second = String(parts[1]) else {
                throw ModelError(path, "line \(number + 2): a merge is two symbols, got \"\(line.prefix(40))\"")
            }
            merges.append((first, second))
        }
        try self.init(merges: merges, contextLength: contextLength)
    }

    init(merges: [(String, String)], contextLength: Int) throws {
        let characters = Self.byteTable()
        // The byte symbols in the table's insertion order (printable bytes first), as CLIP's vocabulary lists them.
        let printable = Self.printableBytes
        let ordered = (printable + (0..<256).filter { !printable.contains($0) }).map { characters[$0] }
        var vocabulary = ordered + ordered.map { $0 + "</w>" }
        vocabulary += merges.map { $0.0 + $0.1 }
        vocabulary += ["<start_of_text>", "<end_of_text>"]
        var encoder: [String: Int32] = [:]
        // later duplicates win, as dict(zip(...))
        for (id, token) in vocabulary.enumerated() { encoder[token] = Int32(id) }
        self.encoder = encoder
        var ranks: [String: Int] = [:]
        for (rank, merge) in merges.enumerated() where ranks[merge.0 + " " + merge.1] == nil {
            ranks[merge.0 + " " + merge.1] = rank
        }
        self.ranks = ranks
        byteCharacters = characters
        startToken = encoder["<start_of_text>"]!
        endToken = encoder["<end_of_text>"]!
        self.contextLength = max(2, contextLength)
    }

    /// GPT-2's reversible byte → character table: printable Latin-1 bytes stand for
    /// themselves, the rest for U+0100 onwards in byte order.
    static let printableBytes = Array(33...126) + Array(161...172) + Array(174...255)

    private static func byteTable() -> [String] {
        let printable = Set(printableBytes)
        var table = [String](repeating: "", count: 256)
        var next = 256
        for byte in 0..<256 {
            if printable.contains(byte) {
                table[byte] = String(UnicodeScalar(UInt8(byte)))
            } else {
                table[byte] = String(UnicodeScalar(UInt32(next))!)
                next += 1
            }
        }
        return table
    }

    /// The token ids of `text`: start, the words' BPE ids, end; at most `contextLength`, the
    /// last one the end token when truncated (open_clip's rule).
    public func encode(_ text: String) -> [Int32] {
        var ids = [startToken] + tokens(text) + [endToken]
        if ids.count > contextLength {
            ids = Array(ids.prefix(contextLength))
            ids[contextLength - 1] = endToken
        }
        return ids
    }

    /// The BPE ids of `text`, without start and end tokens or truncation.
    public func tokens(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for word in Self.words(TextCleaning.clean(text).lowercased()) {
            if word == "<start_of_text>" || word == "<end_of_text>" {
                ids.append(encoder[word]!)
                continue
            }
            let symbols = word.utf8.map { byteCharacters[Int($0)] }
            for piece in merge(symbols) { ids.append(encoder[piece] ?? 0) }
        }
        return ids
    }

    /// Byte-pair merging of one word's symbols, the last marked as the word's end: the
    /// lowest-ranked adjacent pair is merged everywhere, until no pair has a rank.
    func merge(_ symbols: [String]) -> [String] {
        guard var word = Optional(symbols), !word.isEmpty else { return [] }
        word[word.count - 1] += "</w>"
        while word.count > 1 {
            var best: (rank: Int, first: String, second: String)?
            for i in 0..<(word.count - 1) {
                if let rank = ranks[word[i] + " " + word[i + 1]], rank < (best?.rank ?? .max) {
                    best = (rank, word[i], word[i + 1])
                }
            }
            guard let (_, first, second) = best else { break }
            var merged: [String] = []
            merged.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i < word.count - 1, word[i] == first, word[i + 1] == second {
                    merged.append(first + second)
                    i += 2
                } else {
                    merged.append(word[i])
                    i += 1
                }
            }
            word = merged
        }
        return word
    }

    /// open_clip's pre-tokenizer, `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|
    /// [\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+` (case-insensitive), as a scanner: the alternatives
    /// in that order at each position, whitespace between matches skipped.
    static func words(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var words: [String] = []
        var i = 0
        func isLetter(_ s: Unicode.Scalar) -> Bool {
            switch s.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
            default: false
            }
        }
        func isNumber(_ s: Unicode.Scalar) -> Bool {
            switch s.properties.generalCategory {
            case .decimalNumber, .letterNumber, .otherNumber: true
            default: false
            }
        }
        func hasPrefix(_ literal: String, at index: Int) -> Bool {
            let pattern = Array(literal.unicodeScalars)
            guard index + pattern.count <= scalars.count else { return false }
            for (k, scalar) in pattern.enumerated() where String(scalars[index + k]).lowercased() != String(scalar) {
                return false
            }
            return true
        }
        func take(_ count: Int) {
            var word = String.UnicodeScalarView()
            word.append(contentsOf: scalars[i..<(i + count)])
            words.append(String(word))
            i += count
        }
        while i < scalars.count {
            let s = scalars[i]
            if let special = ["<start_of_text>", "<end_of_text>"].first(where: { hasPrefix($0, at: i) }) {
                take(special.unicodeScalars.count)
            } else if s == "'",
                let contraction = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].first(where: { hasPrefix($0, at: i) })
            {
                take(contraction.unicodeScalars.count)
            } else if isLetter(s) {
                var end = i + 1
                while end < scalars.count, isLetter(scalars[end]) { end += 1 }
                take(end - i)
            } else if isNumber(s) {
                take(1)
            } else if s.properties.isWhitespace {
                i += 1
            } else {
                var end = i + 1
                while end < scalars.count, !isLetter(scalars[end]), !isNumber(scalars[end]),
                    !scalars[end].properties.isWhitespace
                { end += 1 }
                take(end - i)
            }
        }
        return words
    }
}
