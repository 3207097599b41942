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

    @Option(
        name: .shortAndLong,
        help:
            """
            The file to write (its extension names the format; with --shard-size, the name the shards and index \
            derive from), or a folder (ending in /, or an empty one) for a model folder in the input's layout \
            with its other files.
            """
    )
    var output: String?

    // The output as a second argument, as the first versions took it; -o is the one spelling
    // every command shares, so this one is no longer shown.
    @Argument(help: .hidden)
    var positionalOutput: String?

    @OptionGroup var outputOptions: OutputOptions

    @Option(name: .long, help: "Floating dtype of the output: f32, f16, bf16 or f64.")
    var dtype: String?

    @Option(name: .long, help: "Largest shard, e.g. 2GB, 500MB, 64MiB.")
    var shardSize: String?

    @OptionGroup var overwriteOption: OverwriteOption

    /// The output, whichever way it was given.
    var destination: String { output ?? positionalOutput ?? "" }

    func validate() throws {
        if output != nil, positionalOutput != nil { throw ValidationError("give the output once, with -o OUT") }
        if output == nil, positionalOutput == nil {
            throw ValidationError("give the output with -o OUT: scalpel convert IN -o OUT")
        }
        try ArgumentRoles.check(model: input, patches: [], usage: "scalpel convert IN -o OUT")
        if let dtype, DType(name: dtype)?.isFloatingPoint != true {
            throw ValidationError("--dtype must be one of f32, f16, bf16, f64 (got \"\(dtype)\")")
        }
        if let shardSize, ByteSize.parse(shardSize) == nil {
            throw ValidationError(
                "--shard-size must be a positive size such as 2GB, 500MB or 64MiB (got \"\(shardSize)\")")
        }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        let output = destination
        try overwriteOption.prepare(outputs: [output], inputs: [input], folders: true)
        let checkpoint = try Checkpoint.open(input)
        let options = CheckpointConverter.Options(
            dtype: dtype.flatMap { DType(name: $0) }, shardSize: shardSize.flatMap(ByteSize.parse))
        let progress = ProgressDisplay.counting("convert", total: checkpoint.tensorByteCount, outputOptions)
        let summary: CheckpointConverter.Summary
        do {
            defer { progress.finish() }
            summary = try CheckpointConverter.convert(checkpoint, to: output, options: options)
        }
        Format.notes(
            summary.skipped.map {
                "\($0) of the input's folder was not copied: other weights, which the output does not convert"
            })
        let dtypeNote = options.dtype.map { ", \(summary.convertedCount) converted to \($0.rawValue)" } ?? ""
        let shards = summary.outputs.filter { !$0.hasSuffix(".index.json") }
        let index = summary.outputs.first { $0.hasSuffix(".index.json") }
        let files =
            shards.count == 1 && index == nil
            ? shards[0]
            : "\(Format.plural(shards.count, "shard"))\(index.map { " and the index \($0)" } ?? "")"
        // Shard names come from the input's index: shown escaped.
        var text = DisplayText.escaped("wrote \(files) (\(Format.plural(summary.tensorCount, "tensor"))\(dtypeNote))")
        if summary.outputs.count > 1 {
            for path in summary.outputs { text += "\n  \(DisplayText.escaped(path))" }
        }
        if let limit = options.shardSize {
            // Tensors are never split (as in Hugging Face's layout): one larger than the limit
            // gets a shard of its own, which is then over it.
            for shard in shards {
                guard let size = ResultJSON.fileBytes(shard).intValue, size > limit else { continue }
                text +=
                    """
                    \nnote: \(DisplayText.escaped(shard)) is \(Format.bytes(size)), over --shard-size \
                    \(Format.bytes(limit)): it holds a tensor larger than the limit, and tensors are never split \
                    across shards
                    """
            }
        }
        outputOptions.emit(
            "convert",
            [
                ("output", .string(output)), ("model", .string(input)),
                ("files", .array(summary.outputs.map { .string($0) })),
                ("tensor_count", .integer(summary.tensorCount)),
                ("dtype", options.dtype.map { .string($0.rawValue) } ?? .null),
                ("tensors_converted", .integer(summary.convertedCount)),
            ], text: text)
    }
}
