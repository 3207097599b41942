/// A patch that cannot be read, created or applied. Names the file, and the tensor where one is
/// involved, and says what to do where there is something to do.
public struct PatchError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
