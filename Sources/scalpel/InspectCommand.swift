import ArgumentParser
import Checkpoints
import Tensors

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's tensors, dtypes, parameter count and metadata.",
        discussion: "Reads headers only: inspecting a multi-gigabyte file does not read its data.")

    @Argument(help: "A checkpoint file, a *.safetensors.index.json, or a folder holding one.")
    var model: String

    @Flag(name: .long, help: "Machine-readable JSON on stdout.")
    var json = false

    @Flag(name: .long, help: "Summary only, without the per-tensor table.")
    var summary = false

    func run() throws {
        let checkpoint = try Checkpoint.open(model, allowingOpaqueTensors: true)
        if json {
            print(CheckpointReport.json(checkpoint).pretty())
        } else {
            print(CheckpointReport.text(checkpoint, listTensors: !summary), terminator: "")
        }
    }
}
