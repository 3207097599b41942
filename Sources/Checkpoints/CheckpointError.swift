/// A checkpoint that cannot be read or written. The message always names the file, and the
/// tensor where one is involved, so the user knows what to fix.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
