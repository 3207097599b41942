import Foundation
import Testing
@testable import Checkpoints

struct EmbedCommandTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/.cache/models/all-MiniLM-L6-v2"

    @Test func embedPrintsNormalisedEmbeddingsAndRefusesBadInput() throws {
        guard FileManager.default.fileExists(atPath: Self.model + "/model.safetensors") else {
            print("skipped: \(Self.model) is missing (./test.sh fetches it)")
            return
        }
        let result = try CLI.run(["embed", Self.model, "--text", "A man is eating food.", "--text", "A monkey is playing drums.", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONValue.parse(result.stdout)
        #expect(json["dimension"]?.intValue == 384)
        let embeddings = try #require(json["embeddings"]?.arrayValue)
        #expect(embeddings.count == 2 && embeddings[0]["tokens"]?.intValue == 8)
        let values = try #require(embeddings[0]["embedding"]?.arrayValue).compactMap { value -> Double? in
            if case .number(let x) = value { return x }
            return nil
        }
        #expect(values.count == 384 && abs(values.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        let text = try CLI.run(["embed", Self.model, "--text", "hello"])
        #expect(text.stdout.contains("3 tokens") && text.stdout.contains("(384 values)  hello"), "\(text.stdout)")
        let noText = try CLI.run(["embed", Self.model])
        #expect(noText.status != 0 && noText.stderr.contains("--text"))
        let folder = try CLI.scratchFolder()
        let bare = try InspectConvertTests.makeModel(in: folder)
        let notBert = try CLI.run(["embed", bare, "--text", "x"])
        #expect(notBert.status != 0 && notBert.stderr.contains("no vocab.txt beside the weights"), "\(notBert.stderr)")
    }
}
