import ArgumentParser
import Foundation
import Tensors

/// An error of a command, shown with every line escaped (`DisplayText`): the last guard that
/// keeps control characters and terminal escapes quoted from a file (a tensor name, a metadata
/// value) off the user's terminal, whatever type the error is. Scalpel's own errors escape
/// what they quote already; escaping is idempotent, so they show unchanged.
struct TerminalSafeError: Error, CustomStringConvertible {
    let description: String

    /// `error`, unless it is one the argument parser shows itself (an exit code, a clean exit,
    /// a usage error: those it formats with the usage text). Its help requests are among them:
    /// `--help` parses into the parser's own help command, whose `run` throws an error of a type
    /// the parser keeps internal, so errors of the parser's module pass by name.
    static func wrapping(_ error: Error) -> Error {
        if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return error }
        switch error {
        case is ExitCode, is CleanExit: return error
        case let error as ValidationError:
            return ValidationError(escapedLines(error.message))
        default:
            return TerminalSafeError(description: escapedLines(text(of: error)))
        }
    }

    /// The text the argument parser would show for `error`.
    static func text(of error: Error) -> String {
        if let description = (error as? LocalizedError)?.errorDescription { return description }
        if type(of: error) is NSError.Type { return error.localizedDescription }
        return String(describing: error)
    }

    /// Each line of `text` escaped, the line breaks kept.
    private static func escapedLines(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { DisplayText.escaped(String($0)) }.joined(
            separator: "\n")
    }
}
