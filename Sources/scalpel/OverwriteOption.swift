import ArgumentParser
import Checkpoints
import Foundation
import Tensors

/// `--overwrite`, the one way to let a command replace an existing file, and the checks on
/// the files a command will write, made before it reads or computes anything.
struct OverwriteOption: ParsableArguments {
    @Flag(name: .long, help: "Replace the output if it exists (never one of the command's inputs).")
    var overwrite = false

    /// Refuses `outputs` that are one of `inputs` (the same path, or the same file through a
    /// link), whatever the flags, and existing ones unless `--overwrite`; then applies the
    /// same rule to every file the command writes (shards, an index) as it creates them.
    /// `folders`: the command writes a model folder for an output ending in `/` or naming
    /// a folder (which must be new or empty). An index file's name is refused: it lists
    /// shards and never holds weights. Throws `FileError` naming the output.
    func prepare(outputs: [String], inputs: [String], folders: Bool = false) throws {
        for output in outputs {
            for input in inputs where input == output || OpenInputs.sameFile(input, output) {
                throw FileError(
                    output,
                    """
                    is also an input of this command (\(input)); Scalpel never writes over its own input: name \
                    another output
                    """,
                    kind: .outputIsInput)
            }
            if ModelFolderWriter.isFolder(output) {
                guard folders else {
                    throw FileError(output, "is a folder; name the file to write", kind: .cannotWrite)
                }
                try ModelFolderWriter.checkDestination(output)
                continue
            }
            if output.hasSuffix(".index.json") {
                throw FileError(
                    output,
                    folders
                        ? """
                        names an index, which lists shards and holds no weights: name a folder (OUT/) to write \
                        the model with its shards and index, or a .safetensors file
                        """
                        : "names an index, which holds no weights: name the file to write", kind: .cannotWrite)
            }
            let folder = (output as NSString).deletingLastPathComponent
            if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
                throw FileError(output, "cannot write: folder \(folder) does not exist", kind: .cannotWrite)
            }
            if FileManager.default.fileExists(atPath: output), !overwrite {
                throw FileError(
                    output, "exists; pass --overwrite to replace it (Scalpel never replaces a file unasked)",
                    kind: .outputExists)
            }
        }
        AtomicFile.replacesExistingFiles = overwrite
    }
}
