import Foundation

/// A file that cannot be read, written or used. The message always starts with the file's
/// path, and names the tensor where one is involved, so the user knows what to fix.
///
/// Each layer refers to it by its own name (`CheckpointError`, `PatchError`) for clarity at
/// the throw site; it is one type, so callers catch one thing.
///
/// Messages quote names and bytes read from files, so `description` passes the path, the
/// problem and every detail line through `DisplayText.escaped`: no control character or
/// terminal escape from a file reaches the user's terminal, and only the line breaks between
/// `details` (which Scalpel composes) start new lines.
public struct FileError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is, for the exit status and for callers that branch on it
    /// (never on the wording of `problem`).
    public enum Kind: Sendable, Equatable {
        /// The file cannot be read as what it should be: missing, unreadable, truncated,
        /// corrupt, of another format, or holding something Scalpel does not support.
        case badInput
        /// The file is sound but a check on it failed: a patch made against another base, a
        /// fingerprint that does not match, overlapping patches, changes outside a mask.
        case checkFailed
        /// The output cannot be written: it exists, it is an input, its folder is missing,
        /// the disk is full.
        case output
    }

    public let kind: Kind
    public let path: String
    /// The problem, one line (as composed: names in it are not yet escaped).
    public let problem: String
    /// Further lines shown below the problem (a list of tensors, advice), in order.
    public let details: [String]

    public init(_ path: String, _ problem: String, details: [String] = [], kind: Kind = .badInput) {
        self.kind = kind
        self.path = path
        self.problem = problem
        self.details = details
    }

    public var description: String {
        ([DisplayText.escaped(path) + ": " + DisplayText.escaped(problem)] + details.map(DisplayText.escaped)).joined(
            separator: "\n")
    }
}

extension FileError {
    /// The error for a `path` that does not exist: a missing folder is named as such (the
    /// first one on the way that is missing), so a typo in a folder is not read as a missing
    /// file inside it. `problem` is said when only the last component is missing.
    public static func notFound(_ path: String, _ problem: String = "no such file") -> FileError {
        var folder = (path as NSString).deletingLastPathComponent
        var missing: String? = nil
        while !folder.isEmpty, folder != "/", !FileManager.default.fileExists(atPath: folder) {
            missing = folder
            folder = (folder as NSString).deletingLastPathComponent
        }
        guard let missing else { return FileError(path, problem) }
        return FileError(path, "folder \(missing) does not exist")
    }

    /// `problem` for `path` when `path` is a folder, else nil: the message for a folder
    /// given where a file is read.
    public static func folderGiven(_ path: String, expected: String) -> FileError? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return nil
        }
        return FileError(path, "is a folder; \(expected)")
    }
}
