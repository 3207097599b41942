/// Failures of the tensor layer: reading files and shaping bytes into tensors. The message
/// is kept terminal-safe (`DisplayText.escaped`), as it may quote a path or bytes of a file.
public struct TensorError: Error, CustomStringConvertible, Sendable {
    /// The message, already escaped for the terminal.
    public let description: String
    /// An error whose message is `description`, escaped with `DisplayText.escaped`.
    public init(_ description: String) { self.description = DisplayText.escaped(description) }
}

/// `strerror` text for the current `errno`, for messages about system calls.
func systemErrorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
