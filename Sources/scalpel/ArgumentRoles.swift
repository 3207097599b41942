import ArgumentParser
import Foundation
import Patches

/// The slip that is easiest to make at a terminal: a patch where a model is expected, or a
/// model where a patch is. Caught from the files' first bytes before anything is read whole,
/// and named as a usage error with the command's order of arguments.
enum ArgumentRoles {
    /// Whether `path` is a file starting with the `.spatch` magic bytes.
    static func isPatch(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: PatchFormat.magic.count)) ?? Data()
        return Array(head) == PatchFormat.magic
    }

    /// Whether `path` exists and is not a patch: a checkpoint file or a model folder.
    static func isModel(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path) && !isPatch(path)
    }

    /// Refuses a patch given as the model, or a model given as a patch, naming both and the
    /// order `usage` shows (for example "scalpel apply BASE PATCH... -o OUT").
    /// - Throws: `ValidationError` (exit status 64) when the roles are swapped.
    static func check(model: String?, patches: [String], usage: String) throws {
        if let model, isPatch(model) {
            let models = patches.filter(isModel)
            let hint = models.isEmpty ? "" : " and \(models.joined(separator: ", ")) looks like the model"
            throw ValidationError(
                """
                \(model) is a patch (.spatch) where a model is expected\(hint): the arguments are in the wrong \
                order; the command is: \(usage)
                """
            )
        }
        if let misplaced = patches.first(where: isModel) {
            throw ValidationError(
                """
                \(misplaced) is a model, not a patch (.spatch)\(model.map { " (the model is \($0))" } ?? ""): the \
                command is: \(usage)
                """
            )
        }
    }
}
