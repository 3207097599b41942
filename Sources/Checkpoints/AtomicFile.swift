import Foundation
import Synchronization
import Tensors

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An output file that appears at its final path complete or not at all.
///
/// Bytes go to an unnamed temporary file in the destination folder (Linux `O_TMPFILE`: it
/// has no name until `commit`, so even `kill -9` cannot leave it behind); `commit` syncs the
/// data, links it under a hidden name, renames it into place and syncs the folder. Where the
/// file system has no unnamed files (or `named` is asked for, for libraries that open the
/// file by name), a hidden `.NAME.scalpel-PID-RANDOM.tmp` is used instead, removed by any
/// error, dropped reference, SIGINT, SIGTERM or SIGHUP, and, after a `kill -9`, by the next
/// Scalpel command that writes into that folder (`StaleTemporaryFiles`). No partial output
/// is ever left at the final path, and the final path is never one of the process's open
/// inputs (`OpenInputs`), whatever link names it.
public final class AtomicFile {
    /// The final path the file is moved to by `commit`.
    public let path: String
    /// The temporary file's name, when it has one (`named`, or no `O_TMPFILE` here); nil
    /// for an unnamed file until `commit` links it.
    public private(set) var temporaryPath: String?
    private let folder: String
    private var descriptor: Int32
    private var finished = false
    /// The bytes appended so far, by `write` and `copy`.
    public private(set) var bytesWritten = 0
    /// Bytes already handed to the disk by `startWriteback`.
    private var writebackStarted = 0
    private static let writebackWindow = 16 << 20

    /// Opens the temporary file for `path`. `named`: give it a name from the start (for a
    /// library that creates the file by name). Throws when the folder is missing or not
    /// writable, or when `path` is one of the command's open inputs.
    public init(path: String, named: Bool = false) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        self.folder = folder
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError(path, "cannot write: folder \(folder) does not exist", kind: .cannotWrite)
        }
        try Self.refuseInput(path)
        if !Self.replacesExistingFiles, FileManager.default.fileExists(atPath: path) {
            throw CheckpointError(
                path, "exists; pass --overwrite to replace it (Scalpel never replaces a file unasked)",
                kind: .outputExists)
        }
        StaleTemporaryFiles.removeOnce(in: folder)
        // An unnamed file is linked into place through /proc/self/fd at commit: without /proc,
        // use a named one from the start.
        descriptor = named || !Self.canLinkUnnamed ? -1 : open(folder, Self.unnamedFlags | O_WRONLY | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            let name = Self.hiddenName(for: path)
            descriptor = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw CheckpointError(
                    path, "cannot create a temporary file in \(folder): \(String(cString: strerror(errno)))",
                    kind: .cannotWrite)
            }
            temporaryPath = name
            TemporaryFiles.register(name)
        }
    }

    /// Whether an output may replace an existing file. The library default is yes (a run
    /// folder's own state files are rewritten as a run goes on); the command line sets it
    /// from `--overwrite` for the commands that write the files a user names.
    public static var replacesExistingFiles: Bool {
        get { replacing.withLock { $0 } }
        set { replacing.withLock { $0 = newValue } }
    }
    private static let replacing = Mutex(true)

    private static let canLinkUnnamed = FileManager.default.fileExists(atPath: "/proc/self/fd")

    /// `O_TMPFILE` (Linux: an unnamed regular file in the given folder).
    private static let unnamedFlags: Int32 = 0o20000000 | O_DIRECTORY

    /// `.NAME.scalpel-PID-RANDOM.tmp` beside `path`: the pattern `StaleTemporaryFiles` knows.
    static func hiddenName(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent
            + ".scalpel-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
    }

    /// Refuses a destination that is one of the process's open inputs.
    private static func refuseInput(_ path: String) throws {
        if let input = OpenInputs.input(sameAs: path) {
            throw CheckpointError(
                path,
                input == path
                    ? "is an input of this command; Scalpel never writes over its own input (write to another path)"
                    : """
                    is the same file as the input \(input) (a link); Scalpel never writes over its own input \
                    (write to another path)
                    """,
                kind: .outputIsInput)
        }
    }

    deinit { if !finished { discard() } }

    /// Appends `bytes`.
    /// - Throws: `CheckpointError` (`.cannotWrite`) when a write fails (disk full, I/O error); the temporary
    ///   file is then discarded.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 30)
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, chunk)
            if written < 0 {
                if errno == EINTR { continue }
                throw failure("write failed")
            }
            offset += written
            bytesWritten += written
            startWritebackIfDue()
        }
    }

    /// Appends `bytes`.
    /// - Throws: `CheckpointError` (`.cannotWrite`) when a write fails; the temporary file is then discarded.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends `count` bytes of the open file `source` from `offset`, copied inside the
    /// kernel where the file system allows (as `cp` does); `fallback` holds the same bytes
    /// for when it does not.
    /// - Throws: `CheckpointError` (`.cannotWrite`) when the fallback write fails; the temporary file is
    ///   then discarded.
    public func copy(from source: Int32, offset: Int, count: Int, fallback: UnsafeRawBufferPointer) throws {
        var sourceOffset = offset
        var remaining = count
        while remaining > 0 {
            let copied = KernelIO.copy(
                from: source, offset: &sourceOffset, to: descriptor,
                count: min(remaining, AtomicFile.writebackWindow))
            if copied > 0 {
                remaining -= copied
                bytesWritten += copied
                startWritebackIfDue()
                continue
            }
            if copied < 0, errno == EINTR { continue }
            // Not supported here (other file system, old kernel) or short: finish with write().
            try write(UnsafeRawBufferPointer(rebasing: fallback[(count - remaining)..<count]))
            return
        }
    }

    /// Starts the disk writes of every full window written so far, so that they overlap the
    /// rest of the output instead of all waiting for `commit`'s fsync.
    private func startWritebackIfDue() {
        let pending = bytesWritten - writebackStarted
        guard pending >= AtomicFile.writebackWindow else { return }
        KernelIO.startWriteback(descriptor, offset: writebackStarted, count: pending)
        writebackStarted = bytesWritten
    }

    /// Writes `bytes` to `path` atomically (temporary file, fsync, rename), for small outputs
    /// written in one piece.
    /// - Throws: `CheckpointError` as `init`, `write` and `commit` do (`.cannotWrite`, `.outputExists`,
    ///   `.outputIsInput`); nothing is left at `path` or beside it.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let file = try AtomicFile(path: path)
        do {
            try file.write(bytes)
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }

    /// Makes the file durable and moves it to its final path.
    /// - Throws: `CheckpointError`: `.cannotWrite` when fsync, linking, closing or the rename fails;
    ///   `.outputIsInput` when `path` has become one of the command's inputs. The temporary file is then
    ///   discarded and `path` left as it was.
    public func commit() throws {
        guard !finished else { return }
        if fsync(descriptor) != 0 { throw failure("fsync failed") }
        if temporaryPath == nil {
            // Unnamed until now: link it under a hidden name (the final path may exist and
            // is replaced atomically by the rename below, as with a named file).
            let name = Self.hiddenName(for: path)
            if linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, name, AT_SYMLINK_FOLLOW) != 0 {
                throw failure("cannot link the finished file into \(folder)")
            }
            temporaryPath = name
            TemporaryFiles.register(name)
        }
        if close(descriptor) != 0 {
            descriptor = -1
            throw failure("close failed")
        }
        descriptor = -1
        do {
            try Self.refuseInput(path)  // again: the destination may have appeared meanwhile
        } catch {
            discard()
            throw error
        }
        guard let temporaryPath, rename(temporaryPath, path) == 0 else { throw failure("cannot rename into place") }
        finished = true
        TemporaryFiles.unregister(temporaryPath)
        AtomicFile.syncFolder(containing: path)
    }

    /// Syncs the folder holding `path`, so a rename or unlink in it is durable.
    static func syncFolder(containing path: String) {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            _ = fsync(descriptor)
            close(descriptor)
        }
    }

    /// Removes the temporary file; the final path is left untouched.
    public func discard() {
        guard !finished else { return }
        finished = true
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        if let temporaryPath {
            unlink(temporaryPath)
            TemporaryFiles.unregister(temporaryPath)
        }
    }

    private func failure(_ what: String) -> CheckpointError {
        let text = String(cString: strerror(errno))
        discard()
        return CheckpointError(path, "\(what): \(text)", kind: .cannotWrite)
    }
}
