import ArgumentParser
import Checkpoints
import Tensors

@main
struct Scalpel: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "scalpel",
        abstract: "Task-local updates of foundation models, shipped as lossless sparse patches.",
        discussion: """
            Every command reads checkpoints in place (memory-mapped) and writes its output \
            atomically: a temporary file renamed into place, never a partial file.
            """,
        version: "scalpel \(version) (\(LibraryVersions.summary))",
        subcommands: [InspectCommand.self, ConvertCommand.self, DiffCommand.self, CreateCommand.self, ApplyCommand.self, RevertCommand.self, AuditCommand.self])
}
