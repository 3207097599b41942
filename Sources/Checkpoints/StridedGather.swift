import Tensors

/// Copies a strided view of elements (a PyTorch view, a Fortran-order NumPy array) into a new
/// C-order tensor, walking the C-order index like an odometer while tracking the source offset.
enum StridedGather {
    /// `strides` and `offset` count elements; the caller has checked every reached element
    /// lies inside `source`.
    static func gather(_ source: UnsafeRawBufferPointer, dtype: DType, shape: [Int], strides: [Int], offset: Int) -> TensorView {
        let size = dtype.size
        return TensorView.make(dtype: dtype, shape: shape) { out in
            let count = out.count / size
            var index = [Int](repeating: 0, count: shape.count)
            var element = offset
            for target in 0..<count {
                for p in 0..<size { out[target * size + p] = source[element * size + p] }
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

    /// The element strides of a Fortran-order (column-major) tensor of `shape`.
    static func fortranStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for k in shape.indices.dropFirst() { strides[k] = strides[k - 1] * max(shape[k - 1], 1) }
        return strides
    }
}
