import ArgumentParser
import Checkpoints
import Foundation
import Models
import Tensors

extension Architecture: ExpressibleByArgument {}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print the embeddings a model gives texts or images (BERT-family encoders, CLIP).",
        discussion: """
            The architecture is recognised from the tensor names (--arch overrides). BERT: \
            vocab.txt and config.json beside the weights, as in a Hugging Face or \
            sentence-transformers folder; texts are tokenized with WordPiece, encoded, \
            mean-pooled and L2-normalised, as sentence-transformers does for all-MiniLM-L6-v2. \
            CLIP (OpenAI / open_clip or Hugging Face naming): texts through CLIP's BPE and the \
            text tower, --images (an .npz with float32 images (N, 3, H, H), preprocessed) \
            through the image tower; both projected and L2-normalised.
            """)

    @Argument(help: "The encoder: a model folder or its weights file.")
    var model: String
    @Option(name: .long, help: "A text to embed (repeat for several).")
    var text: [String] = []
    @Option(
        name: .long,
        help: "A UTF-8 file of texts, one per line (LF or CRLF; empty lines skipped); - reads standard input.")
    var textFile: String?
    @Option(name: .long, help: "Images to embed: an .npz holding float32 images (N, 3, H, H), preprocessed (CLIP).")
    var images: String?
    @Option(name: .long, help: "bert or clip (default: recognised from the tensor names).")
    var arch: Architecture?
    @Option(name: .long, help: "Texts per forward pass.")
    var batch: Int = 32
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if text.isEmpty, textFile == nil, images == nil {
            throw ValidationError("give --text TEXT, --text-file FILE or --images FILE.npz")
        }
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        var texts = text
        if let textFile {
            texts += try TextFile.lines(textFile).filter { !$0.isEmpty }
        }
        let checkpoint = try Checkpoint.open(model)
        let encoder = try Architecture.encoder(checkpoint, architecture: arch)
        var rows: [(label: String, tokens: Int?, embedding: [Float])] = []
        if !texts.isEmpty {
            if let bert = encoder as? TextEncoder {
                rows += zip(texts, try bert.embed(texts, batchSize: batch)).map { ($0, $1.tokens, $1.embedding) }
            } else if let clip = encoder as? CLIPEncoder {
                rows += zip(texts, try clip.embed(texts: texts)).map { ($0, clip.tokenizer.encode($0).count, $1) }
            }
        }
        if let images {
            let pictures = try ImageFile.read(images).images
            rows += try encoder.embed(images: pictures).enumerated().map {
                ("image \($0.offset) of \(images)", nil, $0.element)
            }
        }
        if outputOptions.json {
            let document = ResultJSON.object(
                "embed",
                [
                    ("model", .string(checkpoint.path)), ("architecture", .string(encoder.architecture)),
                    ("dimension", .integer(encoder.dimension)),
                    (
                        "embeddings",
                        .array(
                            rows.map { row in
                                .object(
                                    [("input", .string(row.label))]
                                        + (row.tokens.map { [("tokens", JSONValue.integer($0))] } ?? [])
                                        + [("embedding", .array(row.embedding.map { .number(Double($0)) }))])
                            })
                    ),
                ])
            print(document.pretty())
        } else {
            for (i, row) in rows.enumerated() {
                let head = row.embedding.prefix(6).map { String(format: "%+.4f", $0) }.joined(separator: " ")
                print(
                    """
                    \(i + 1)  \(row.tokens.map { "\($0) tokens  " } ?? "")[\(head) …] (\(row.embedding.count) \
                    values)  \(DisplayText.escaped(row.label))
                    """
                )
            }
        }
    }
}
