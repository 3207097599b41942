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
    /// The family of the failure: what went wrong, for callers and tests that branch on it
    /// (never on the wording of `problem`) and, through `category`, for the exit status.
    /// One enum serves every layer because `FileError` is one type across them; each case
    /// says which layer throws it.
    public enum Kind: Sendable, Equatable, CaseIterable {
        // The input cannot be used (category `badInput`).
        /// The file, or a folder on the way to it, does not exist.
        case notFound
        /// It exists but cannot be opened, mapped or read as a file (permissions, I/O, a
        /// folder where a file belongs, a device).
        case unreadable
        /// Its bytes are not the format it should be in: a malformed header, a truncated
        /// file, an offset or count outside the file, text that is not UTF-8.
        case malformed
        /// It parses, but its own checksum or fingerprint says its content is damaged: a
        /// patch frame, an in-place journal, a patch whose bits contradict its fingerprints.
        case corrupt
        /// A legitimate construct Scalpel does not handle: a quantized dtype, a format
        /// version, a layout, an architecture's operation it has no runtime for.
        case unsupported
        /// A pickle construct outside the restricted unpickler's safe set (what
        /// `torch.load(weights_only=True)` also refuses): never executed, only named.
        case refusedConstruct
        /// Sound by itself but not fitting the other inputs: a mask of tensors the model
        /// cannot train, a run folder recorded with other settings, too little text.
        case incompatible

        // A check on sound inputs said no (category `checkFailed`).
        /// A tensor is not in the state the patch or mask was made against (another base,
        /// missing, already present).
        case wrongBase
        /// The patches given do not chain: one removes or adds what another needs.
        case notChained
        /// Patches made against the same state change the same elements.
        case overlappingSiblings
        /// A change falls outside the mask it must stay within.
        case outsideMask
        /// `revert` cannot take the patch out exactly: the model's record does not list it,
        /// or the elements it changed have changed since.
        case notRevertible
        /// The result of applying does not match the patch's fingerprint.
        case resultMismatch

        // The output cannot be written (category `output`).
        /// The output exists and `--overwrite` was not given (or it is a non-empty folder).
        case outputExists
        /// The output is one of the command's inputs (by path or through a link).
        case outputIsInput
        /// The output cannot be made: its folder is missing, the disk is full, a system call
        /// failed, its name does not fit what is written.
        case cannotWrite

        // The request itself is wrong (category `usage`).
        /// A setting outside its range or without what it needs (`--rate 0`, an empty
        /// `--layers`): the command line, not a file, must change.
        case invalidSetting

        /// The broad class of the failure, which decides the exit status.
        public var category: Category {
            switch self {
            case .notFound, .unreadable, .malformed, .corrupt, .unsupported, .refusedConstruct, .incompatible:
                return .badInput
            case .wrongBase, .notChained, .overlappingSiblings, .outsideMask, .notRevertible, .resultMismatch:
                return .checkFailed
            case .outputExists, .outputIsInput, .cannotWrite:
                return .output
            case .invalidSetting:
                return .usage
            }
        }
    }

    /// The broad classes of failure (Manual/json.md's exit statuses: 2, 1, 73, 64).
    public enum Category: Sendable, Equatable {
        /// The file cannot be read as what it should be.
        case badInput
        /// The file is sound but a check on it failed.
        case checkFailed
        /// The output cannot be written.
        case output
        /// The command line asks for something that cannot be done.
        case usage
    }

    /// The failure's family; callers branch on it, never on `problem`'s wording.
    public let kind: Kind
    /// The file (or folder) the error is about.
    public let path: String
    /// The problem, one line (as composed: names in it are not yet escaped).
    public let problem: String
    /// Further lines shown below the problem (a list of tensors, advice), in order.
    public let details: [String]

    /// An error about `path`: `problem` is one line for people, `details` further lines, `kind` the family.
    public init(_ path: String, _ problem: String, details: [String] = [], kind: Kind = .malformed) {
        self.kind = kind
        self.path = path
        self.problem = problem
        self.details = details
    }

    /// The path and problem on one line, then each detail line, all escaped with `DisplayText.escaped`.
    public var description: String {
        ([DisplayText.escaped(path) + ": " + DisplayText.escaped(problem)] + details.map(DisplayText.escaped)).joined(
            separator: "\n")
    }
}

extension FileError {
    /// The same error in another family (for a helper's error whose family the caller knows).
    public func with(kind: Kind) -> FileError {
        FileError(path, problem, details: details, kind: kind)
    }

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
        guard let missing else { return FileError(path, problem, kind: .notFound) }
        return FileError(path, "folder \(missing) does not exist", kind: .notFound)
    }

    /// `problem` for `path` when `path` is a folder, else nil: the message for a folder
    /// given where a file is read.
    public static func folderGiven(_ path: String, expected: String) -> FileError? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return nil
        }
        return FileError(path, "is a folder; \(expected)", kind: .unreadable)
    }
}
