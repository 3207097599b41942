#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only memory mapping of a whole file. Tensor views point into it without copying;
/// pages are read by the kernel only when touched, so opening a multi-gigabyte checkpoint
/// and reading its header costs the header alone.
///
/// The descriptor stays open for the mapping's lifetime so writers can copy byte ranges
/// kernel-side (`copy_file_range`) instead of through user memory.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened by.
    public let path: String
    /// The file's size in bytes when it was opened.
    public let size: Int
    /// The open descriptor, kept for kernel-side copies; closed when the mapping is freed.
    public let fileDescriptor: Int32
    /// The whole file, `size` bytes (empty, with no base address, for an empty file).
    public let bytes: UnsafeRawBufferPointer

    /// Whether the mapping is shared and writable (stores reach the file).
    public let isWritable: Bool
    /// The file's device and inode, for `OpenInputs`.
    private let identity: stat

    /// Maps the file read-only (private), or, with `writable`, shared and writable so that
    /// stores into `mutableBytes` reach the file (`sync()` makes them durable).
    /// - Throws: `FileError` (bad input) naming `path` when it cannot be opened, is not a
    ///   regular file or cannot be mapped.
    public init(path: String, writable: Bool = false) throws {
        let fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw FileError.notFound(path) }
            throw FileError(path, "cannot open: \(systemErrorText(code))", kind: .unreadable)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw FileError(path, "cannot stat: \(systemErrorText(code))", kind: .unreadable)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileError(path, "not a regular file", kind: .unreadable)
        }
        let size = Int(info.st_size)
        self.identity = info
        self.path = path
        self.size = size
        self.fileDescriptor = fd
        self.isWritable = writable
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            OpenInputs.register(info, path: path)
            return
        }
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        guard let address = mmap(nil, size, protection, writable ? MAP_SHARED : MAP_PRIVATE, fd, 0),
            address != MAP_FAILED
        else {
            let code = errno
            close(fd)
            throw FileError(path, "cannot map \(size) bytes: \(systemErrorText(code))", kind: .unreadable)
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        OpenInputs.register(info, path: path)
    }

    /// The bytes, for stores; only for a writable mapping.
    public var mutableBytes: UnsafeMutableRawBufferPointer {
        precondition(isWritable, "mutableBytes of a read-only mapping")
        return UnsafeMutableRawBufferPointer(mutating: bytes)
    }

    /// Writes the mapping's dirty pages to the file and syncs it.
    /// - Throws: `FileError` (an output failure) naming the file when msync or fsync fails.
    public func sync() throws {
        if let base = bytes.baseAddress, size > 0,
            msync(UnsafeMutableRawPointer(mutating: base), size, MS_SYNC) != 0
        {
            throw FileError(path, "msync failed: \(systemErrorText(errno))", kind: .cannotWrite)
        }
        if fsync(fileDescriptor) != 0 {
            throw FileError(path, "fsync failed: \(systemErrorText(errno))", kind: .cannotWrite)
        }
    }

    /// How the mapping is about to be read, so the kernel can size its read-ahead.
    public enum AccessPattern: Sendable {
        /// The kernel's default read-ahead.
        case normal
        /// Front to back: larger read-ahead (streaming a whole checkpoint).
        case sequential
        /// Only the pages touched: no read-ahead (parsing a header at the front of a huge file).
        case random
    }

    /// Tells the kernel how the mapping will be read (`madvise`); a hint only, failures ignored.
    public func advise(_ pattern: AccessPattern) {
        guard let base = bytes.baseAddress, size > 0 else { return }
        let advice: Int32
        switch pattern {
        case .normal: advice = Int32(MADV_NORMAL)
        case .sequential: advice = Int32(MADV_SEQUENTIAL)
        case .random: advice = Int32(MADV_RANDOM)
        }
        _ = madvise(UnsafeMutableRawPointer(mutating: base), size, advice)
    }

    /// Drops this process's mapping of the pages covering `range` (the page cache keeps them).
    /// Streaming readers call it after a tensor is consumed, so resident memory stays near
    /// one tensor instead of growing to the whole file.
    public func releasePages(offset: Int, length: Int) {
        guard let base = bytes.baseAddress, length > 0, offset >= 0, offset + length <= size else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        let end = min(size, (offset + length + page - 1) / page * page)
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    deinit {
        OpenInputs.unregister(identity)
        if let base = bytes.baseAddress, size > 0 {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        }
        close(fileDescriptor)
    }
}
