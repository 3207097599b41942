import Foundation
import Tensors
import Testing

@testable import Models

/// Scalpel's WordPiece tokenizer against Hugging Face's (ids committed by
/// Tests/Fixtures/make_text_fixtures.py from all-MiniLM-L6-v2's BertTokenizerFast).
struct TokenizerTests {
    static func tokenizer() throws -> WordPieceTokenizer {
        try WordPieceTokenizer(vocabularyFile: DefaultModel.folder + "/vocab.txt", lowercase: true, maxLength: 256)
    }

    @Test(arguments: ["sentences.json", "tokenizer_cases.json"])
    func idsMatchTheHuggingFaceTokenizer(_ file: String) throws {
        guard DefaultModel.isAvailable else { return }
        let tokenizer = try Self.tokenizer()
        for item in try DefaultModel.cases(file) {
            #expect(tokenizer.encode(item.text) == item.ids, "\(item.text.prefix(80))")
        }
    }

    /// The same vocabulary read from tokenizer.json (a folder without vocab.txt) gives the same ids.
    @Test func tokenizerJSONGivesTheSameIds() throws {
        guard DefaultModel.isAvailable else { return }
        let fromJSON = try WordPieceTokenizer(
            tokenizerJSON: DefaultModel.folder + "/tokenizer.json", lowercase: true, maxLength: 256)
        #expect(fromJSON.vocabulary == (try Self.tokenizer()).vocabulary)
        for item in try DefaultModel.cases("tokenizer_cases.json") { #expect(fromJSON.encode(item.text) == item.ids) }
        #expect { try WordPieceTokenizer(tokenizerJSON: DefaultModel.folder + "/config.json") } throws: {
            "\($0)".contains("not a WordPiece tokenizer")
        }
    }

    @Test func basicRulesOnASmallVocabulary() throws {
        let words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "hello", ",", "!", "cafe"]
        let vocabulary = Dictionary(uniqueKeysWithValues: words.enumerated().map { ($1, Int32($0)) })
        let tokenizer = try WordPieceTokenizer(vocabulary: vocabulary, lowercase: true, maxLength: 6)
        #expect(tokenizer.encode("Unaffable, HELLO!") == [2, 4, 5, 6, 8, 3])  // truncated to 6
        #expect(tokenizer.encode("Café") == [2, 10, 3])
        #expect(tokenizer.encode("xyz") == [2, 1, 3])
        #expect {
            try WordPieceTokenizer(vocabulary: ["a": 0], lowercase: true, maxLength: 8)
        } throws: {
            ($0 as? FileError)?.kind == .incompatible && "\($0)" == "vocabulary: the vocabulary has no [UNK] token"
        }
    }
}

/// Vocabulary tokens are bytes, as in Hugging Face's tokenizers.
struct WordPieceVocabularyBytesTests {
    @Test func unicodeEquivalentTokensAreTwoTokensAndTheLastDuplicateWins() throws {
        let folder = NSTemporaryDirectory() + "scalpel-vocab-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // ids: 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 "é" (U+00E9), 5 "é" (e + U+0301), 6 "x", 7 "x" again.
        let lines = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u{E9}", "e\u{301}", "x", "x"]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: folder + "/vocab.txt"))
        let tokenizer = try WordPieceTokenizer(vocabularyFile: folder + "/vocab.txt", lowercase: false, maxLength: 16)
        #expect(tokenizer.encode("\u{E9}") == [2, 4, 3])
        #expect(tokenizer.encode("e\u{301}") == [2, 5, 3])
        #expect(tokenizer.encode("x") == [2, 7, 3])
    }
}
