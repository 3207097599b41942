import Tensors

/// Copies a strided view of elements (a PyTorch view, a Fortran-order NumPy array) into a new
/// C-order tensor, walking the C-order index like an odometer while tracking the source offset.
enum StridedGather {
    /// The C-order copy of the view of `shape` with element `strides` from element `offset`
    /// of `source`; nil when the view reaches past the end of `source` or its extent does
    /// not fit in 64 bits (so a damaged view is refused by the caller, never read).
    static func gather(_ source: UnsafeRawBufferPointer, dtype: DType, shape: [Int], strides: [Int], offset: Int)
        -> TensorView?
    {
        let size = dtype.size
        guard shape.count == strides.count, let count = Shape.elementCount(shape), Shape.byteCount(shape, dtype) != nil
        else { return nil }
        if count > 0 {
            guard let last = lastElement(shape: shape, strides: strides, offset: offset), last < source.count / size
            else { return nil }
        }
        // A dimension of length 1 never steps, so its stride (which may be anything) is not used.
        let strides = zip(shape, strides).map { $0 == 1 ? 0 : $1 }
        return TensorView.make(dtype: dtype, shape: shape) { out in
            var index = [Int](repeating: 0, count: shape.count)
            var element = offset
            for target in 0..<count {
                for p in 0..<size { out[target * size + p] = source[element * size + p] }
                // Every element reached lies between `offset` and `last` (checked above) and each
                // stride used is at most `last`, so these steps cannot overflow.
                var k = shape.count - 1
                while k >= 0 {
                    index[k] += 1
                    element += strides[k]
                    if index[k] < shape[k] { break }
                    element -= strides[k] * shape[k]
                    index[k] = 0
                    k -= 1
                }
            }
        }
    }

    /// The index of the last element a non-empty view reaches, `offset + Σ (size − 1) · stride`
    /// (strides non-negative), or nil when a size or stride is negative or the sum overflows.
    static func lastElement(shape: [Int], strides: [Int], offset: Int) -> Int? {
        guard offset >= 0, shape.count == strides.count else { return nil }
        var last = offset
        for (n, s) in zip(shape, strides) {
            guard n >= 1, s >= 0 else { return nil }
            let (step, overflow) = (n - 1).multipliedReportingOverflow(by: s)
            guard !overflow else { return nil }
            let (sum, overflowSum) = last.addingReportingOverflow(step)
            guard !overflowSum else { return nil }
            last = sum
        }
        return last
    }

    /// The element strides of a Fortran-order (column-major) tensor of `shape`. Like
    /// `Shape.contiguousStrides`, they wrap rather than trap: they are exact whenever the
    /// element count fits in 64 bits, and a view with a zero-length dimension reaches nothing.
    static func fortranStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for k in shape.indices.dropFirst() { strides[k] = strides[k - 1] &* max(shape[k - 1], 1) }
        return strides
    }
}
