import ArgumentParser
import Checkpoints
import Tensors

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's tensors, dtypes, parameter count and metadata.",
        discussion: """
            Reads headers only: inspecting a multi-gigabyte file does not read its data. \
            --stats reads every tensor and adds, per tensor, the minimum, maximum, mean and \
            standard deviation of its finite values and its count of NaN and infinite values.
            """)

    @Argument(help: "A checkpoint file, a *.safetensors.index.json, or a folder holding one.")
    var model: String

    @Flag(name: .long, help: "Summary only, without the per-tensor table.")
    var summary = false

    @Flag(name: .long, help: "Read every tensor: value statistics and NaN / infinity counts.")
    var stats = false

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if stats, summary {
            throw ValidationError("--stats adds to the per-tensor table; it does not combine with --summary")
        }
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(model, allowingOpaqueTensors: true)
        let progress = ProgressDisplay.counting(
            "inspect --stats", total: stats ? checkpoint.tensorByteCount : 0, outputOptions)
        let statistics = stats ? CheckpointReport.statistics(checkpoint) : nil
        progress.finish()
        outputOptions.emit(
            "inspect", CheckpointReport.json(checkpoint, statistics: statistics),
            text: CheckpointReport.text(checkpoint, listTensors: !summary, statistics: statistics))
    }
}
