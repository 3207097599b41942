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
            switch error.kind.category {
            case .badInput: return badInput
            case .checkFailed: return checkFailed
            case .output: return cannotWrite
            case .usage: return usage
            }
        case is AlreadyAppliedError, is MergeOverlapError: return checkFailed
        default: return badInput
        }
    }

    /// Shows `error` as `Error: FILE: problem` on stderr (every line escaped) and exits with
    /// its status. Errors of the argument parser (usage, help, exit codes) go to the parser.
    static func exit(with error: Error) -> Never {
        let error = fileForm(error)
        let safe = TerminalSafeError.wrapping(error)
        guard safe is TerminalSafeError else { Scalpel.exit(withError: safe) }
        FileHandle.standardError.write(Data("Error: \(safe)\n".utf8))
        Foundation.exit(code(for: error))
    }

    /// A Foundation file error (from FileManager, Data) as `FileError`, so it shows in the
    /// `Error: FILE: problem` form with the status of its kind; any other error as it is.
    private static func fileForm(_ error: Error) -> Error {
        guard !(error is FileError) else { return error }
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain, let path = ns.userInfo[NSFilePathErrorKey] as? String else {
            return error
        }
        let problem: String
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            problem = String(cString: strerror(Int32(underlying.code)))
        } else if let file = firstFileOnTheWay(path) {
            problem = "\(file) is a file, not a folder"
        } else {
            problem = ns.localizedDescription
        }
        // CocoaError's write failures are codes 512 to 1023 (fileWriteUnknown ...).
        let writing = (512..<1024).contains(ns.code)
        return FileError(
            path, (writing ? "cannot write: " : "cannot read: ") + problem, kind: writing ? .cannotWrite : .unreadable)
    }

    /// The first ancestor of `path` that exists and is not a folder: why a folder cannot be
    /// made there (Foundation's error then carries no system error to quote).
    private static func firstFileOnTheWay(_ path: String) -> String? {
        var ancestors: [String] = []
        var folder = (path as NSString).deletingLastPathComponent
        while !folder.isEmpty, folder != "/" {
            ancestors.append(folder)
            folder = (folder as NSString).deletingLastPathComponent
        }
        return ancestors.reversed().first { ancestor in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }
}
