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
    public let path: String
    /// The problem, one line (as composed: names in it are not yet escaped).
    public let problem: String
    /// Further lines shown below the problem (a list of tensors, advice), in order.
    public let details: [String]

    public init(_ path: String, _ problem: String, details: [String] = []) {
        self.path = path
        self.problem = problem
        self.details = details
    }

    public var description: String {
        ([DisplayText.escaped(path) + ": " + DisplayText.escaped(problem)] + details.map(DisplayText.escaped)).joined(separator: "\n")
    }
}
