/// An owned, 64-byte aligned, zero-initialised block of memory: the storage of tensors that
/// are computed rather than mapped (converted dtypes, copies of unaligned file data).
public final class ByteBuffer: @unchecked Sendable {
    public let bytes: UnsafeMutableRawBufferPointer

    public static let alignment = 64

    public init(count: Int) {
        let pointer = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1), alignment: ByteBuffer.alignment)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        bytes = UnsafeMutableRawBufferPointer(start: pointer, count: count)
    }

    /// A copy of `source`.
    public convenience init(copying source: UnsafeRawBufferPointer) {
        self.init(count: source.count)
        if let from = source.baseAddress, source.count > 0 {
            bytes.baseAddress!.copyMemory(from: from, byteCount: source.count)
        }
    }

    deinit { bytes.baseAddress?.deallocate() }
}
