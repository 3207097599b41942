/// Shape arithmetic with overflow checks: shapes come from files, and a hostile header can
/// name dimensions whose product does not fit in 64 bits.
public enum Shape {
    /// The number of elements of `shape`, or nil if a dimension is negative or the product
    /// overflows `Int`. A rank-0 shape has one element.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// The byte length of a tensor of `shape` and `dtype`, or nil on overflow.
    public static func byteCount(_ shape: [Int], _ dtype: DType) -> Int? {
        guard let count = elementCount(shape) else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        return overflow ? nil : bytes
    }

    /// The element strides of a C-order (row-major) tensor of `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for k in shape.indices.reversed() {
            strides[k] = step
            step = step &* max(shape[k], 1)
        }
        return strides
    }

    /// `[768, 3072]` → `"[768, 3072]"`, the form used in every message and table. Shapes of
    /// more than `describedDimensions` dimensions (only a damaged or hostile file has them)
    /// show the first ones and a count of the rest.
    public static func describe(_ shape: [Int]) -> String {
        "[" + DisplayText.list(shape.map(String.init), limit: describedDimensions) + "]"
    }

    /// The most dimensions `describe` lists before summarising the rest as a count.
    public static let describedDimensions = 8
}
