#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// An output file that appears at its final path complete or not at all.
///
/// Bytes go to a hidden temporary file in the destination folder (same file system, so the
/// final rename is atomic); `commit` syncs the data, renames it into place and syncs the
/// folder. Anything that ends before `commit` — an error, a dropped reference, SIGINT or
/// SIGTERM — removes the temporary file, so no partial output is ever left at the final path.
public final class AtomicFile {
    public let path: String
    public let temporaryPath: String
    private var descriptor: Int32
    private var finished = false
    public private(set) var bytesWritten = 0
    /// Bytes already handed to the disk by `startWriteback`.
    private var writebackStarted = 0
    private static let writebackWindow = 16 << 20

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError(path, "cannot write: folder \(folder) does not exist")
        }
        temporaryPath = folder + "/." + url.lastPathComponent + ".scalpel-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CheckpointError(path, "cannot create a temporary file in \(folder): \(String(cString: strerror(errno)))")
        }
        TemporaryFiles.register(temporaryPath)
    }

    deinit { if !finished { discard() } }

    /// Appends `bytes`.
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

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends `count` bytes of the open file `source` from `offset`, copied inside the
    /// kernel where the file system allows (as `cp` does); `fallback` holds the same bytes
    /// for when it does not.
    public func copy(from source: Int32, offset: Int, count: Int, fallback: UnsafeRawBufferPointer) throws {
        var sourceOffset = offset
        var remaining = count
        while remaining > 0 {
            let copied = KernelIO.copy(from: source, offset: &sourceOffset, to: descriptor,
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
    public func commit() throws {
        guard !finished else { return }
        if fsync(descriptor) != 0 { throw failure("fsync failed") }
        if close(descriptor) != 0 { descriptor = -1; throw failure("close failed") }
        descriptor = -1
        if rename(temporaryPath, path) != 0 { throw failure("cannot rename into place") }
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
        unlink(temporaryPath)
        TemporaryFiles.unregister(temporaryPath)
    }

    private func failure(_ what: String) -> CheckpointError {
        let text = String(cString: strerror(errno))
        discard()
        return CheckpointError(path, "\(what): \(text)")
    }
}
