#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An owned, 64-byte aligned, zero-initialised block of memory: the storage of tensors that
/// are computed rather than mapped (converted dtypes, patched tensors, unaligned copies).
///
/// Blocks of a megabyte or more are anonymous memory maps rather than `malloc` memory: they
/// come zeroed from the kernel, and `munmap` returns them to the system at once. With malloc,
/// tensors allocated on one thread and freed on another stay cached in per-thread arenas,
/// and a command streaming a large model would grow by a few tensors' worth per thread.
public final class ByteBuffer: @unchecked Sendable {
    /// The block's memory, `count` bytes, owned by this buffer and freed with it.
    public let bytes: UnsafeMutableRawBufferPointer
    private let mapped: Bool

    /// The alignment of `bytes`' start, in bytes.
    public static let alignment = 64
    static let mapThreshold = 1 << 20

    /// A zeroed block of `count` bytes (a 1 MiB or larger block is an anonymous memory map).
    public init(count: Int) {
        if count >= ByteBuffer.mapThreshold,
            let address = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            address != MAP_FAILED
        {
            bytes = UnsafeMutableRawBufferPointer(start: address, count: count)
            mapped = true
            return
        }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: ByteBuffer.alignment)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        bytes = UnsafeMutableRawBufferPointer(start: pointer, count: count)
        mapped = false
    }

    /// A copy of `source`.
    public convenience init(copying source: UnsafeRawBufferPointer) {
        self.init(count: source.count)
        if let from = source.baseAddress, source.count > 0 {
            bytes.baseAddress!.copyMemory(from: from, byteCount: source.count)
        }
    }

    deinit {
        if mapped {
            munmap(bytes.baseAddress, bytes.count)
        } else {
            bytes.baseAddress?.deallocate()
        }
    }
}
