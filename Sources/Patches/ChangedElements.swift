import Tensors

/// Finds the elements whose bits differ between two tensors of one dtype and shape.
enum ChangedElements {
    /// Flat indices of the elements that differ bitwise, ascending. Equal blocks are skipped
    /// with `memcmp`, which is what keeps `create` near the speed of reading its inputs.
    static func find(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, elementSize: Int) -> [Int] {
        precondition(a.count == b.count)
        let count = a.count / elementSize
        guard count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return [] }
        var indices: [Int] = []
        let block = 1024  // elements per memcmp
        var start = 0
        while start < count {
            let end = min(count, start + block)
            let offset = start * elementSize
            if memcmp(pa + offset, pb + offset, (end - start) * elementSize) != 0 {
                for i in start..<end where !equal(a, b, i, elementSize) { indices.append(i) }
            }
            start = end
        }
        return indices
    }

    @inline(__always)
    private static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ i: Int, _ size: Int) -> Bool {
        switch size {
        case 4: return a.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
        case 2: return a.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self) == b.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
        case 8: return a.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
        default: return a[i] == b[i]
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
