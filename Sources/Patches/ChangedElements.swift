import Tensors

/// Finds the elements whose bits differ between two tensors of one dtype and shape.
enum ChangedElements {
    /// Flat indices of the elements that differ bitwise, ascending.
    static func find(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, elementSize: Int) -> [Int] {
        scan(a, b, elementSize: elementSize, keepingXor: false).indices
    }

    /// The indices of the elements that differ bitwise, ascending, and with `keepingXor` the
    /// XOR of each one's old and new bytes (`elementSize` bytes each, in index order): what a
    /// patch stores, gathered in the same pass over both tensors (this is `create`'s hot path).
    ///
    /// Equal blocks are skipped with `memcmp`. Inside a differing block each element is
    /// compared as an integer of its width, without a branch: its index and XOR are written
    /// at the end of the output and the count advances only when they differ (a 10 %-dense
    /// update would mispredict a branch on every tenth element).
    static func scan(
        _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, elementSize: Int,
        keepingXor: Bool
    ) -> (indices: [Int], xor: [UInt8]) {
        precondition(a.count == b.count)
        switch elementSize {
        case 8: return scan(a, b, as: UInt64.self, keepingXor: keepingXor)
        case 4: return scan(a, b, as: UInt32.self, keepingXor: keepingXor)
        case 2: return scan(a, b, as: UInt16.self, keepingXor: keepingXor)
        default: return scan(a, b, as: UInt8.self, keepingXor: keepingXor)
        }
    }

    private static func scan<Word: FixedWidthInteger & BitwiseCopyable>(
        _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, as _: Word.Type,
        keepingXor: Bool
    ) -> (indices: [Int], xor: [UInt8]) {
        let size = MemoryLayout<Word>.size
        let count = a.count / size
        guard count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return ([], []) }
        let block = 1024  // elements per memcmp
        var found = GrowingBuffer<Int>()
        var words = GrowingBuffer<Word>()
        defer {
            found.deallocate()
            words.deallocate()
        }
        var n = 0
        var start = 0
        while start < count {
            let end = min(count, start + block)
            if memcmp(pa + start * size, pb + start * size, (end - start) * size) != 0 {
                // Room for the whole block, as every element is written before it is counted.
                let indices = found.reserve(n + block)
                let xors = words.reserve(n + block)
                for i in start..<end {
                    let x =
                        pa.loadUnaligned(fromByteOffset: i * size, as: Word.self)
                        ^ pb.loadUnaligned(fromByteOffset: i * size, as: Word.self)
                    indices[n] = i
                    if keepingXor { xors[n] = x }
                    n &+= Int(unsafeBitCast(x != 0, to: UInt8.self))  // 0 or 1: no branch to mispredict
                }
            }
            start = end
        }
        let indices = Array(UnsafeBufferPointer(start: found.base, count: n))
        let xor = keepingXor ? Array(UnsafeRawBufferPointer(start: words.base, count: n * size)) : []
        return (indices, xor)
    }
}

/// A buffer of plain values that doubles when more room is asked for, without Array's
/// per-append uniqueness checks.
private struct GrowingBuffer<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>?
    private var capacity = 0

    /// The buffer, with room for at least `count` elements (its contents kept: plain values,
    /// so the slots not yet written are copied as whatever bits they hold).
    mutating func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            let grown = max(count, capacity * 2)
            let larger = UnsafeMutablePointer<Element>.allocate(capacity: grown)
            if let base {
                larger.moveInitialize(from: base, count: capacity)
                base.deallocate()
            }
            base = larger
            capacity = grown
        }
        return base!
    }

    func deallocate() { base?.deallocate() }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
