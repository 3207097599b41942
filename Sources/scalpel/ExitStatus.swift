import ArgumentParser
import Foundation
import Patches
import Tensors

/// The exit statuses every command uses (Manual/exit-status.md), so a script can tell a check
/// that said no from a file it could not read. The usage status is the argument parser's own
/// (sysexits' EX_USAGE), and a file that cannot be written is sysexits' EX_CANTCREAT.
enum ExitStatus {
    /// A check failed: a patch made against another base, a fingerprint that does not match,
    /// overlapping patches, an audit that found a problem, changes outside a mask.
    static let checkFailed: Int32 = 1
    /// An input file is missing, unreadable, corrupt or of a kind Scalpel does not support.
    static let badInput: Int32 = 2
    /// The command line is wrong (EX_USAGE).
    static let usage: Int32 = 64
    /// An output cannot be written: it exists, it is an input, its folder is missing, the disk
    /// is full (EX_CANTCREAT).
    static let cannotWrite: Int32 = 73

    /// The status for an error a command threw; the argument parser's own errors keep theirs.
    static func code(for error: Error) -> Int32 {
        switch error {
        case let error as FileError:
            switch error.kind {
            case .badInput: return badInput
            case .checkFailed: return checkFailed
            case .output: return cannotWrite
            }
        case is AlreadyAppliedError, is MergeOverlapError: return checkFailed
        default: return badInput
        }
    }

    /// Shows `error` as `Error: FILE: problem` on stderr (every line escaped) and exits with
    /// its status. Errors of the argument parser (usage, help, exit codes) go to the parser.
    static func exit(with error: Error) -> Never {
        let safe = TerminalSafeError.wrapping(error)
        guard safe is TerminalSafeError else { Scalpel.exit(withError: safe) }
        FileHandle.standardError.write(Data("Error: \(safe)\n".utf8))
        Foundation.exit(code(for: error))
    }
}
