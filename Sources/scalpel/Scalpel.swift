import ArgumentParser
import Foundation
import Checkpoints
import Tensors

@main
struct Scalpel: ParsableCommand {
    static func main() {
        // OpenBLAS fell back to generic kernels on a CPU it does not know: start again with
        // the family the CPU runs (OPENBLAS_CORETYPE is read only when the library loads).
        // Nothing has been read or written yet; if exec fails, the generic kernels still work.
        if let core = OpenBLASKernels.recommendedRestart() {
            setenv("OPENBLAS_CORETYPE", core, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
        }
        InPlaceJournal.onRecovery = { message in
            FileHandle.standardError.write(Data(("note: " + DisplayText.escaped(message) + "\n").utf8))
        }
        do {
            var command = try parseAsRoot()
            do {
                try command.run()
            } catch {
                exit(withError: TerminalSafeError.wrapping(error))
            }
        } catch {
            exit(withError: error)
        }
    }

    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "scalpel",
        abstract: "Task-local updates of foundation models, shipped as lossless sparse patches.",
        discussion: """
            Every command reads checkpoints in place (memory-mapped) and writes its output \
            atomically: a temporary file renamed into place, never a partial file.
            """,
        version: "scalpel \(version) (\(LibraryVersions.summary))",
        subcommands: [InspectCommand.self, ConvertCommand.self, DiffCommand.self, CreateCommand.self, ApplyCommand.self, RevertCommand.self, AuditCommand.self, MergeCommand.self, LogCommand.self, EmbedCommand.self, EvalCommand.self, MaskCommand.self, TrainCommand.self, ContinualCommand.self])
}
