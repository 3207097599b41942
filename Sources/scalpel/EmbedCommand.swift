import ArgumentParser
import Foundation
import Checkpoints
import Models

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print the sentence embeddings a BERT-family encoder gives texts.",
        discussion: """
            MODEL is a checkpoint (any format) with vocab.txt and config.json beside it, as in a \\
            Hugging Face or sentence-transformers model folder. Texts are tokenized with BERT's \\
            WordPiece, encoded, mean-pooled over their tokens and L2-normalised, as \\
            sentence-transformers does for all-MiniLM-L6-v2. CLIP image inputs come with the \\
            CLIP runtime.
            """)

    @Argument(help: "The encoder: a model folder or its weights file.") var model: String
    @Option(name: .long, help: "A text to embed (repeat for several).") var text: [String] = []
    @Option(name: .long, help: "A file of texts, one per line.") var textFile: String?
    @Option(name: .long, help: "Texts per forward pass.") var batch: Int = 32
    @Flag(name: .long, help: "Machine-readable JSON on stdout, every value.") var json = false

    func validate() throws {
        if text.isEmpty, textFile == nil { throw ValidationError("give --text TEXT or --text-file FILE") }
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        var texts = text
        if let textFile {
            guard let content = try? String(contentsOfFile: textFile, encoding: .utf8) else {
                throw ModelError(textFile, "cannot read the text file (missing, or not UTF-8)")
            }
            texts += content.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        }
        let encoder = try TextEncoder(path: model)
        let results = try encoder.embed(texts, batchSize: batch)
        if json {
            let document = JSONValue.object([
                ("model", .string(encoder.path)),
                ("dimension", .integer(encoder.model.configuration.hidden)),
                ("embeddings", .array(zip(texts, results).map { text, result in
                    .object([("text", .string(text)), ("tokens", .integer(result.tokens)),
                             ("embedding", .array(result.embedding.map { .number(Double($0)) }))])
                })),
            ])
            print(document.pretty())
        } else {
            for (i, (text, result)) in zip(texts, results).enumerated() {
                let head = result.embedding.prefix(6).map { String(format: "%+.4f", $0) }.joined(separator: " ")
                print("\(i + 1)  \(result.tokens) tokens  [\(head) …] (\(result.embedding.count) values)  \(text)")
            }
        }
    }
}
