import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The temporary files (and folders) being written, so that an interrupted command (Ctrl-C,
/// `kill`) removes them before it exits instead of leaving hidden partial files behind.
///
/// The signal handler may only call async-signal-safe functions, so paths are kept as C
/// strings in a fixed table that it reads without locking or allocating.
public enum TemporaryFiles {
    private static let capacity = 256
    nonisolated(unsafe) private static let table = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(
        capacity: capacity)
    private static let lock = Mutex<Bool>(false)  // holds "table initialised"

    /// Adds `path` to the files a signal removes (silently not, once 256 are registered).
    public static func register(_ path: String) {
        lock.withLock { initialised in
            if !initialised {
                table.initialize(repeating: nil, count: capacity)
                initialised = true
            }
            for slot in 0..<capacity where table[slot] == nil {
                table[slot] = strdup(path)
                return
            }
        }
    }

    /// Forgets `path` (once it was renamed into place or removed).
    public static func unregister(_ path: String) {
        lock.withLock { initialised in
            guard initialised else { return }
            for slot in 0..<capacity {
                if let entry = table[slot], String(cString: entry) == path {
                    table[slot] = nil
                    free(entry)
                }
            }
        }
    }

    /// Installs SIGINT / SIGTERM / SIGHUP handlers that unlink every registered temporary
    /// file and exit with 128 + the signal number, as a shell would report it.
    public static func removeOnSignals() {
        lock.withLock { initialised in
            if !initialised {
                table.initialize(repeating: nil, count: capacity)
                initialised = true
            }
        }
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { received in
                // Files first, then folders (a model folder being built), deepest last made first.
                for slot in 0..<TemporaryFiles.capacity {
                    if let entry = TemporaryFiles.table[slot] { unlink(entry) }
                }
                for slot in (0..<TemporaryFiles.capacity).reversed() {
                    if let entry = TemporaryFiles.table[slot] { rmdir(entry) }
                }
                _exit(128 + received)
            }
        }
    }
}

/// Hidden temporary files of Scalpel processes that died without cleaning up (`kill -9`,
/// a power cut) where unnamed files were not available: `.NAME.scalpel-PID-….tmp` (and
/// `.NAME.scalpel-PID-base.safetensors`, the patched copy `mask` and `train` work on, and
/// `.DIR.scalpel-PID-….tmp/`, a model folder being built). The
/// next command that writes into the folder removes those whose process no longer exists.
/// A file of a live process, or of another user's, is left alone.
public enum StaleTemporaryFiles {
    private static let scanned = Mutex<Set<String>>([])

    /// Removes the stale temporary files of `folder`, the first time the process writes there.
    public static func removeOnce(in folder: String) {
        guard scanned.withLock({ $0.insert(folder).inserted }) else { return }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names {
            guard let pid = owner(of: name), pid != getpid(), !isAlive(pid) else { continue }
            let path = folder + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_uid == getuid() else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG: unlink(path)
            // A model folder being built.
            case S_IFDIR where name.hasSuffix(".tmp"): try? FileManager.default.removeItem(atPath: path)
            default: break
            }
        }
    }

    /// The process id in a hidden name `.….scalpel-PID-…`, or nil for any other name.
    static func owner(of name: String) -> pid_t? {
        let bytes = Array(name.utf8)
        let marker = Array(".scalpel-".utf8)
        guard bytes.first == UInt8(ascii: "."), bytes.count > marker.count else { return nil }
        var start: Int?
        for i in stride(from: bytes.count - marker.count, through: 1, by: -1)
        where Array(bytes[i..<(i + marker.count)]) == marker {
            start = i + marker.count
            break
        }
        guard let start else { return nil }
        var end = start
        while end < bytes.count, (0x30...0x39).contains(bytes[end]) { end += 1 }
        guard end > start, end - start <= 9, end < bytes.count, bytes[end] == UInt8(ascii: "-") else { return nil }
        return pid_t(String(decoding: bytes[start..<end], as: UTF8.self))
    }

    private static func isAlive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
