#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Linux calls that make output as fast as `cp` while staying durable:
/// - `copy_file_range(2)` copies bytes between files inside the kernel, as `cp` does,
///   without passing them through user memory;
/// - `sync_file_range(2)` starts writing a range to disk without waiting, so the final
///   `fsync` finds little left to do (disk writes overlap the copy instead of following it).
///
/// glibc declares both only under `_GNU_SOURCE`, which Swift's Glibc module does not define,
/// so the symbols are looked up at run time; where one is absent, callers fall back to
/// `write` and a plain `fsync`.
enum KernelIO {
    private typealias CopyFileRange =
        @convention(c) (
            Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32
        ) -> Int
    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32

    private static let copyFileRange: CopyFileRange? = symbol("copy_file_range")
    private static let syncFileRange: SyncFileRange? = symbol("sync_file_range")
    private static let syncFileRangeWrite: UInt32 = 2  // SYNC_FILE_RANGE_WRITE

    private static func symbol<T>(_ name: String) -> T? {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }

    /// Copies up to `count` bytes from `source` at `offset` (advanced by the amount copied)
    /// to the current position of `destination`. Returns the bytes copied, 0 at end of file,
    /// or -1 with `errno` set; -1 with ENOSYS where the call does not exist.
    static func copy(from source: Int32, offset: inout Int, to destination: Int32, count: Int) -> Int {
        guard let copyFileRange else {
            errno = ENOSYS
            return -1
        }
        var position = Int64(offset)
        let copied = copyFileRange(source, &position, destination, nil, count, 0)
        if copied > 0 { offset = Int(position) }
        return copied
    }

    /// Asks the kernel to start writing `count` bytes at `offset` of `file` to disk, without
    /// waiting. Purely an optimisation: durability still comes from `fsync`.
    static func startWriteback(_ file: Int32, offset: Int, count: Int) {
        _ = syncFileRange?(file, Int64(offset), Int64(count), syncFileRangeWrite)
    }
}
