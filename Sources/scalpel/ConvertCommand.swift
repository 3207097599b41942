import ArgumentParser
import Checkpoints
import Tensors

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Rewrite a checkpoint, optionally changing the dtype of its floating tensors.",
        discussion: """
            Integer, boolean and 8-bit float tensors are copied unchanged. Narrowing rounds to \
            nearest, ties to even. Metadata is kept. With --shard-size the output is written \
            as shards plus a *.safetensors.index.json, as Hugging Face lays them out.
            """)

    @Argument(help: "The checkpoint to read (file, index, or folder).")
    var input: String

    @Argument(help: "The file to write (its extension names the format; with --shard-size, the name the shards and index derive from), or a folder (ending in /, or an empty one) for a model folder in the input's layout with its other files.")
    var output: String

    @Option(name: .long, help: "Floating dtype of the output: f32, f16, bf16 or f64.")
    var dtype: String?

    @Option(name: .long, help: "Largest shard, e.g. 2GB, 500MB, 64MiB.")
    var shardSize: String?

    @OptionGroup var overwriteOption: OverwriteOption

    func validate() throws {
        if let dtype, DType(name: dtype)?.isFloatingPoint != true {
            throw ValidationError("--dtype must be one of f32, f16, bf16, f64 (got \"\(dtype)\")")
        }
        if let shardSize, ByteSize.parse(shardSize) == nil {
            throw ValidationError("--shard-size must be a positive size such as 2GB, 500MB or 64MiB (got \"\(shardSize)\")")
        }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        try overwriteOption.prepare(outputs: [output], inputs: [input], folders: true)
        let checkpoint = try Checkpoint.open(input)
        let options = CheckpointConverter.Options(
            dtype: dtype.flatMap { DType(name: $0) }, shardSize: shardSize.flatMap(ByteSize.parse))
        let summary = try CheckpointConverter.convert(checkpoint, to: output, options: options)
        Format.notes(summary.skipped.map { "\($0) of the input's folder was not copied: other weights, which the output does not convert" })
        let dtypeNote = options.dtype.map { ", \(summary.convertedCount) converted to \($0.rawValue)" } ?? ""
        // Shard names come from the input's index: shown escaped.
        print(DisplayText.escaped("wrote \(summary.outputs.count == 1 ? summary.outputs[0] : "\(summary.outputs.count) files") (\(Format.plural(summary.tensorCount, "tensor"))\(dtypeNote))"))
        if summary.outputs.count > 1 {
            for path in summary.outputs { print("  \(DisplayText.escaped(path))") }
        }
    }
}
