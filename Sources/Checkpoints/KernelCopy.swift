#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `copy_file_range(2)`: copies bytes between files inside the kernel, as `cp` does, without
/// passing them through user memory. glibc declares it only under `_GNU_SOURCE`, which Swift's
/// Glibc module does not define, so the symbol is looked up at run time; where it is absent
/// (old libc, other systems) callers fall back to `write`.
enum KernelCopy {
    private typealias Function = @convention(c) (
        Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32
    ) -> Int

    private static let function: Function? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "copy_file_range") else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }()

    /// Copies up to `count` bytes from `source` at `offset` (advanced by the amount copied)
    /// to the current position of `destination`. Returns the bytes copied, 0 at end of file,
    /// or -1 with `errno` set; -1 with ENOSYS where the call does not exist.
    static func copy(from source: Int32, offset: inout Int, to destination: Int32, count: Int) -> Int {
        guard let function else {
            errno = ENOSYS
            return -1
        }
        var position = Int64(offset)
        let copied = function(source, &position, destination, nil, count, 0)
        if copied > 0 { offset = Int(position) }
        return copied
    }
}
