import Dispatch

/// A tensor's dtype, shape and bytes, pointing into memory it does not copy: a mapped file
/// or an owned `ByteBuffer`, which `owner` keeps alive as long as the view exists.
///
/// Bytes are the little-endian, row-major (C order) element data, exactly as safetensors
/// stores them.
public struct TensorView: @unchecked Sendable {
    /// The element type.
    public let dtype: DType
    /// The dimensions, outermost first (row-major); `[]` for a scalar.
    public let shape: [Int]
    /// The element bytes. Valid while this view, or whatever keeps its owner alive (the
    /// `Checkpoint` it came from), is alive: Swift may end a temporary view's life right
    /// after `.bytes` is read, so copy through `withBytes` when nothing else holds the owner.
    public let bytes: UnsafeRawBufferPointer
    /// Where the bytes lie in a file, when they do: lets writers copy kernel-side.
    public let fileRange: FileRange?
    private let owner: AnyObject?

    /// A byte range of an open file.
    public struct FileRange: Sendable {
        /// The open file's descriptor.
        public let fileDescriptor: Int32
        /// Where the bytes start in the file, in bytes.
        public let offset: Int
    }

    /// A view of `bytes`; the caller promises `bytes.count` matches dtype and shape.
    public init(
        dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject?,
        fileRange: FileRange? = nil
    ) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
        self.fileRange = fileRange
    }

    /// A view over `length` bytes of a mapped file at `offset`.
    public init(dtype: DType, shape: [Int], file: MappedFile, offset: Int, length: Int) {
        let slice = UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + length)])
        self.init(
            dtype: dtype, shape: shape, bytes: slice, owner: file,
            fileRange: FileRange(fileDescriptor: file.fileDescriptor, offset: offset))
    }

    /// A tensor owning a fresh buffer that `fill` writes.
    /// - Throws: Whatever `fill` throws.
    public static func make(
        dtype: DType, shape: [Int],
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows -> TensorView {
        let count = Shape.byteCount(shape, dtype) ?? 0
        let buffer = ByteBuffer(count: count)
        try fill(buffer.bytes)
        return TensorView(
            dtype: dtype, shape: shape, bytes: UnsafeRawBufferPointer(buffer.bytes),
            owner: buffer)
    }

    /// Runs `body` on the bytes with the view (and so its owner) kept alive throughout.
    /// - Throws: Whatever `body` throws.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    /// The number of elements (bytes divided by the dtype's size).
    public var elementCount: Int { bytes.count / dtype.size }
    /// The size of the element data, in bytes.
    public var byteCount: Int { bytes.count }

    /// True when the first byte sits on a multiple of the element size, so the bytes can be
    /// bound to the element type without copying.
    public var isAligned: Bool {
        guard let base = bytes.baseAddress else { return true }
        return Int(bitPattern: base) % dtype.size == 0
    }

    /// This tensor with its bytes on an aligned boundary: itself when already aligned,
    /// otherwise a copy (files from other writers may place data at any offset).
    public func aligned() -> TensorView {
        if isAligned { return self }
        let buffer = ByteBuffer(copying: bytes)
        return TensorView(
            dtype: dtype, shape: shape, bytes: UnsafeRawBufferPointer(buffer.bytes),
            owner: buffer)
    }

    /// The tensor converted to another floating dtype (rounding to nearest even when
    /// narrowing). Non-floating tensors and same-dtype requests return `self`.
    public func converted(to target: DType) -> TensorView {
        guard target != dtype, dtype.isFloatingPoint, target.isFloatingPoint else { return self }
        let count = elementCount
        let source = UncheckedSendable(bytes)
        let from = dtype
        return TensorView.make(dtype: target, shape: shape) { destination in
            // Large tensors are converted in slices on all cores; the slices are disjoint.
            let slice = 1 << 20
            let slices = (count + slice - 1) / slice
            let output = UncheckedSendable(destination)
            DispatchQueue.concurrentPerform(iterations: slices) { index in
                let start = index * slice
                let end = min(count, start + slice)
                ElementConversion.convertFloats(
                    UnsafeRawBufferPointer(rebasing: source.value[(start * from.size)..<(end * from.size)]), from: from,
                    into: UnsafeMutableRawBufferPointer(
                        rebasing: output.value[(start * target.size)..<(end * target.size)]),
                    to: target, count: end - start)
            }
        }
    }

    /// Element values as `Float` (see `ElementConversion.load` for the rules).
    public func floatValues() -> [Float] {
        (0..<elementCount).map { ElementConversion.load(bytes, $0, dtype) }
    }

    /// True when both tensors have the same dtype, shape and bytes.
    public func isBitwiseEqual(to other: TensorView) -> Bool {
        guard dtype == other.dtype, shape == other.shape, bytes.count == other.bytes.count else {
            return false
        }
        if bytes.count == 0 { return true }
        return memcmp(bytes.baseAddress!, other.bytes.baseAddress!, bytes.count) == 0
    }
}

/// Carries a value into a concurrent closure whose accesses the caller has made disjoint
/// (each iteration of a parallel loop writes its own slice of one buffer).
public struct UncheckedSendable<T>: @unchecked Sendable {
    /// The value carried.
    public let value: T
    /// Wraps `value`.
    public init(_ value: T) { self.value = value }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
