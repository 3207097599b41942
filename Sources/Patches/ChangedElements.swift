import Tensors

/// Finds the elements whose bits differ between two tensors of one dtype and shape.
enum ChangedElements {
    /// Flat indices of the elements that differ bitwise, ascending. Equal blocks are skipped
    /// with `memcmp`; inside a differing block the elements are compared as integers of the
    /// element's width, in a loop specialised per width (this is `create`'s hot path).
    static func find(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, elementSize: Int) -> [Int] {
        precondition(a.count == b.count)
        switch elementSize {
        case 8: return find(a, b, as: UInt64.self)
        case 4: return find(a, b, as: UInt32.self)
        case 2: return find(a, b, as: UInt16.self)
        default: return find(a, b, as: UInt8.self)
        }
    }

    private static func find<Word: FixedWidthInteger>(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, as _: Word.Type) -> [Int] {
        let size = MemoryLayout<Word>.size
        let count = a.count / size
        guard count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return [] }
        var indices: [Int] = []
        let block = 1024  // elements per memcmp
        var start = 0
        while start < count {
            let end = min(count, start + block)
            if memcmp(pa + start * size, pb + start * size, (end - start) * size) != 0 {
                for i in start..<end
                where pa.loadUnaligned(fromByteOffset: i * size, as: Word.self) != pb.loadUnaligned(fromByteOffset: i * size, as: Word.self) {
                    indices.append(i)
                }
            }
            start = end
        }
        return indices
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
