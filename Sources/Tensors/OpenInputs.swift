import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The files this process has open as inputs (every memory-mapped checkpoint, shard and
/// patch), identified by device and inode, so that no output is ever written over one of
/// them, under whatever path, hard link or symbolic link the output names it.
///
/// A file counts while a mapping of it is alive; `MappedFile` registers and unregisters.
public enum OpenInputs {
    private struct Identity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    private static let files = Mutex<[Identity: (path: String, count: Int)]>([:])

    private static func identity(_ info: stat) -> Identity {
        Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    static func register(_ info: stat, path: String) {
        files.withLock { table in
            let key = identity(info)
            table[key] = (table[key]?.path ?? path, (table[key]?.count ?? 0) + 1)
        }
    }

    static func unregister(_ info: stat) {
        files.withLock { table in
            let key = identity(info)
            guard let entry = table[key] else { return }
            table[key] = entry.count > 1 ? (entry.path, entry.count - 1) : nil
        }
    }

    /// The path an open input was opened by, when `path` (followed through links) is that
    /// same file; nil when `path` does not exist or is no open input.
    public static func input(sameAs path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let key = identity(info)
        return files.withLock { $0[key]?.path }
    }

    /// Whether two paths name the same existing file (through links too).
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat()
        var second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return identity(first) == identity(second)
    }
}
