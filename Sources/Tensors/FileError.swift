/// A file that cannot be read, written or used. The message always starts with the file's
/// path, and names the tensor where one is involved, so the user knows what to fix.
///
/// Each layer refers to it by its own name (`CheckpointError`, `PatchError`) for clarity at
/// the throw site; it is one type, so callers catch one thing.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
