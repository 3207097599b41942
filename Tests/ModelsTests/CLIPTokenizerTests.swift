import Foundation
import TestSupport
import Testing

@testable import Models

/// CLIP's BPE tokenizer against open_clip's SimpleTokenizer, on the cases
/// Tests/Fixtures/make_clip_fixtures.py committed.
struct CLIPTokenizerTests {
    static let vocabulary = ReferencePython.packageRoot + "/.cache/models/clip-bpe/bpe_simple_vocab_16e6.txt.gz"
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/clip"

    static var isAvailable: Bool {
        let present = FileManager.default.fileExists(atPath: vocabulary)
        if !present {
            print(
                "skipped: \(vocabulary) is missing (./test.sh fetches it from the open_clip_torch wheel; it could not be fetched here)"
            )
        }
        return present
    }

    @Test func idsMatchOpenCLIP() throws {
        guard Self.isAvailable else { return }
        let tokenizer = try CLIPTokenizer(vocabularyFile: Self.vocabulary)
        #expect(tokenizer.startToken == 49406 && tokenizer.endToken == 49407)
        let cases = try JSONDecoder().decode(
            [DefaultModel.Case].self,
            from: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/tokenizer_cases.json")))
        #expect(cases.count > 70)
        for item in cases {
            #expect(tokenizer.encode(item.text) == item.ids, "\(item.text.debugDescription)")
        }
    }

    @Test func longTextsAreCutToTheContextWithTheEndTokenLast() throws {
        guard Self.isAvailable else { return }
        let tokenizer = try CLIPTokenizer(vocabularyFile: Self.vocabulary)
        let ids = tokenizer.encode(String(repeating: "a photo of a cat. ", count: 40))
        #expect(ids.count == 77 && ids.first == 49406 && ids.last == 49407)
    }

    @Test func aDamagedVocabularyIsRefused() throws {
        let folder = NSTemporaryDirectory() + "scalpel-bpe-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "#version: 0.2\ni n\nt h\n".write(toFile: folder + "/short.txt", atomically: true, encoding: .utf8)
        #expect { try CLIPTokenizer(vocabularyFile: folder + "/short.txt") } throws: {
            "\($0)".contains("48894 merges")
        }
        try Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).write(
            to: URL(fileURLWithPath: folder + "/broken.txt.gz"))
        #expect { try CLIPTokenizer(vocabularyFile: folder + "/broken.txt.gz") } throws: {
            "\($0)".contains("broken.txt.gz")
        }
    }
}
