/// Summary statistics of a tensor's values, read in one pass: the count of NaN and infinite
/// elements, and the minimum, maximum, mean and standard deviation of the finite ones.
/// Sums run in double precision, in blocks, so a billion-element tensor keeps its accuracy.
public struct TensorStatistics: Sendable, Equatable {
    /// All elements, finite or not.
    public var count = 0
    /// Elements that are NaN.
    public var nanCount = 0
    /// Elements that are +∞ or -∞.
    public var infinityCount = 0
    /// The smallest finite element (+∞ when there is none).
    public var minimum = Double.infinity
    /// The largest finite element (-∞ when there is none).
    public var maximum = -Double.infinity
    var sum = 0.0
    var sumOfSquares = 0.0

    /// The statistics of no elements.
    public init() {}

    /// Finite elements.
    public var finiteCount: Int { count - nanCount - infinityCount }
    /// The mean of the finite elements (NaN when there is none).
    public var mean: Double { finiteCount == 0 ? .nan : sum / Double(finiteCount) }
    /// The L2 norm of the finite elements, √Σx².
    public var l2: Double { sumOfSquares.squareRoot() }
    /// The population standard deviation of the finite elements.
    public var standardDeviation: Double {
        guard finiteCount > 0 else { return .nan }
        let mean = self.mean
        return (max(0, sumOfSquares / Double(finiteCount) - mean * mean)).squareRoot()
    }

    /// The statistics of `view` (opaque 8-bit float types are not interpreted: nil).
    public static func of(_ view: TensorView) -> TensorStatistics? {
        guard !view.dtype.isOpaque else { return nil }
        return view.withBytes { bytes in
            // Blocks of 64 Ki elements: partial sums in Float stay exact enough, and the
            // blocks combine in Double.
            let blockSize = 1 << 16
            let count = bytes.count / view.dtype.size
            let blocks = (count + blockSize - 1) / blockSize
            var total = TensorStatistics()
            total.count = count
            for block in 0..<blocks {
                let range = (block * blockSize)..<min(count, (block + 1) * blockSize)
                total.merge(blockStatistics(bytes, range, view.dtype))
            }
            return total
        }
    }

    mutating func merge(_ other: TensorStatistics) {
        nanCount += other.nanCount
        infinityCount += other.infinityCount
        minimum = min(minimum, other.minimum)
        maximum = max(maximum, other.maximum)
        sum += other.sum
        sumOfSquares += other.sumOfSquares
    }

    private static func blockStatistics(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ dtype: DType)
        -> TensorStatistics
    {
        var out = TensorStatistics()
        switch dtype {
        case .f32 where Int(bitPattern: bytes.baseAddress) % 4 == 0:
            let values = UnsafeBufferPointer(
                start: bytes.baseAddress?.assumingMemoryBound(to: Float.self), count: bytes.count / 4)
            var low = Float.infinity
            var high = -Float.infinity
            var sum: Double = 0
            var squares: Double = 0
            var nan = 0
            var infinite = 0
            var blockSum: Float = 0
            var blockSquares: Float = 0
            for i in range {
                let v = values[i]
                if v.isFinite {
                    low = min(low, v)
                    high = max(high, v)
                    blockSum += v
                    blockSquares += v * v
                    if (i & 255) == 255 {
                        sum += Double(blockSum)
                        squares += Double(blockSquares)
                        blockSum = 0
                        blockSquares = 0
                    }
                } else if v.isNaN {
                    nan += 1
                } else {
                    infinite += 1
                }
            }
            sum += Double(blockSum)
            squares += Double(blockSquares)
            out.minimum = Double(low)
            out.maximum = Double(high)
            out.sum = sum
            out.sumOfSquares = squares
            out.nanCount = nan
            out.infinityCount = infinite
        default:
            for i in range {
                let v =
                    dtype == .f64
                    ? bytes.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
                    : dtype == .i64
                        ? Double(bytes.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
                        : dtype == .u64
                            ? Double(bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                            : Double(ElementConversion.load(bytes, i, dtype))
                if v.isFinite {
                    out.minimum = min(out.minimum, v)
                    out.maximum = max(out.maximum, v)
                    out.sum += v
                    out.sumOfSquares += v * v
                } else if v.isNaN {
                    out.nanCount += 1
                } else {
                    out.infinityCount += 1
                }
            }
        }
        return out
    }
}
