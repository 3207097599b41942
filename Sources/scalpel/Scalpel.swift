import ArgumentParser
import Checkpoints
import Foundation
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
                // `scalpel help COMMAND` asks for help by throwing from its run.
                CommandExamples.showHelpIfRequested(error)
                ExitStatus.exit(with: error)
            }
        } catch {
            CommandExamples.showHelpIfRequested(error)
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

            THE WORKFLOW, for each task (each patch made on top of the earlier ones):
              1. Score the weights by their relevance to the task (SPU), keep the top 10 %:
                   scalpel mask base/ --task tasks/t1 -o t1-mask.spatch
              2. Train only those; the update is a small patch against the base:
                   scalpel train base/ --task tasks/t1 --mask t1-mask.spatch -o t1.spatch
              3. Check every byte of it, and see where the change lives:
                   scalpel audit t1.spatch --base base/ --report t1.html
              4. Write the updated model, bit-exact:
                   scalpel apply base/ t1.spatch -o updated/
              Patches made against one base, combined into one:
                   scalpel merge t1.spatch t2.spatch --base base/ -o both.spatch
              Undo a patch exactly:
                   scalpel revert updated/ t1.spatch -o base-again/

            Every command takes --json (one JSON object on stdout; Manual/json.md) and shows \
            a progress line on stderr when stderr is a terminal (--quiet: none).

            EXIT STATUS: 0 success; 1 a check failed (another base, a fingerprint, overlapping \
            patches, an audit problem); 2 an input file is missing, unreadable, corrupt or \
            unsupported; 64 the command line is wrong; 73 an output cannot be written.
            """,
        version: "scalpel \(version) (\(LibraryVersions.summary))",
        subcommands: [
            InspectCommand.self, ConvertCommand.self, DiffCommand.self, CreateCommand.self, ApplyCommand.self,
            RevertCommand.self, AuditCommand.self, MergeCommand.self, LogCommand.self, EmbedCommand.self,
            EvalCommand.self, MaskCommand.self, TrainCommand.self, ContinualCommand.self,
        ])
}
