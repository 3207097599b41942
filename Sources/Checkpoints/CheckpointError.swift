import Tensors

/// A checkpoint that cannot be read or written (see `FileError`).
public typealias CheckpointError = FileError

extension String {
    /// The string as it may stand inside a one-line message: control characters (a newline, a
    /// terminal escape), quotes and backslashes written as Swift escapes, so a name read from a
    /// file can neither break the message's line nor drive the terminal.
    var escapedForMessage: String { String(debugDescription.dropFirst().dropLast()) }
}
