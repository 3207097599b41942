#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The temporary files being written, so that an interrupted command (Ctrl-C, `kill`) removes
/// them before it exits instead of leaving hidden partial files behind.
///
/// The signal handler may only call async-signal-safe functions, so paths are kept as C
/// strings in a fixed table that it reads without locking or allocating.
public enum TemporaryFiles {
    private static let capacity = 256
    nonisolated(unsafe) private static let table = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
    private static let lock = Mutex<Bool>(false)  // holds "table initialised"

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
                for slot in 0..<TemporaryFiles.capacity {
                    if let entry = TemporaryFiles.table[slot] { unlink(entry) }
                }
                _exit(128 + received)
            }
        }
    }
}
