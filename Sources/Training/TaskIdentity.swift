import Foundation
import Models
import Patches
import Tensors

/// Whether two task folders are the same task, and whether a mask was made for the task it is
/// used with: the checks behind the warnings of `train` and `continual` (a mask made for
/// another task trains the wrong weights; a control that is also a training task measures
/// learning, not forgetting).
public enum TaskIdentity {
    /// Whether `a` and `b` are one folder (through any path), or hold the same data for
    /// `split` ("test" or "train") byte for byte.
    public static func same(_ a: String, _ b: String, split: String = "test") -> Bool {
        if OpenInputs.sameFile(a, b) { return true }
        guard let first = try? fingerprint(a, split: split), let second = try? fingerprint(b, split: split) else {
            return false
        }
        return first == second
    }

    /// The SHA-256 of a task's `split` file (train.jsonl, test.npz, ...).
    /// - Throws: `FileError` when the folder has no such split.
    static func fingerprint(_ task: String, split: String) throws -> String {
        let file = try TaskFolder(folder: task).dataFile(split)
        let data = FileManager.default.contents(atPath: file) ?? Data()
        return data.withUnsafeBytes { Fingerprint.sha256($0) }
    }

    /// A sentence saying that `mask` was made for another task than `task`, or nil when it
    /// was made for this one or records no task (a mask from elsewhere). The recorded training
    /// data's fingerprint decides (a moved folder is the same task); without one, the folder.
    public static func maskMismatch(_ mask: PatchFile, task: String) -> String? {
        let header = mask.header
        guard let recordedTask = header.metadataValue("task") ?? header.metadataValue("task.folder") else { return nil }
        if let recorded = header.metadataValue("data.sha256"), let current = try? fingerprint(task, split: "train") {
            if recorded == current { return nil }
        } else if let folder = header.metadataValue("task.folder"), OpenInputs.sameFile(folder, task) {
            return nil
        }
        return
            """
            the mask \(mask.path) was made for the task \(recordedTask), not for \(task): it selects the weights \
            relevant to that task
            """
    }
}
