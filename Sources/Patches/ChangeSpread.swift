import Tensors

/// How an entry's changed elements spread over the rows and columns of a weight matrix, so
/// one can see whether a patch touches a few neurons heavily or many lightly.
///
/// Rows are the tensor's first axis and columns its second: for a linear layer stored as
/// PyTorch does, `[out_features, in_features]`, a row is an output neuron and a column an
/// input feature; for an embedding a row is a token. Further axes (a convolution's kernel
/// window) are folded into their column, so a column is an input channel.
public struct ChangeSpread: Sendable, Equatable {
    /// Length of the first axis.
    public let rows: Int
    /// Length of the second axis.
    public let columns: Int
    /// Elements in one (row, column) cell: the product of the further axes (1 for a matrix).
    public let cellSize: Int
    /// Changed elements in each row (`rows` counts).
    public private(set) var changedPerRow: [Int]
    /// Changed elements in each column (`columns` counts).
    public private(set) var changedPerColumn: [Int]
    /// Sum of |new − old| over each row's changed elements; nil when the values are not
    /// known (masks, audits without a base, non-float tensors).
    public private(set) var magnitudePerRow: [Double]?
    /// Sum of |new − old| over each column's changed elements; nil as `magnitudePerRow`.
    public private(set) var magnitudePerColumn: [Double]?

    /// An empty spread for a tensor of `shape`; nil below rank 2 or for an empty tensor,
    /// which have no rows and columns to speak of. Allocates a count per row and per column
    /// (see `fits` for shapes nothing vouches for).
    public init?(shape: [Int], withMagnitudes: Bool) {
        guard shape.count >= 2, let count = Shape.elementCount(shape), count > 0 else { return nil }
        rows = shape[0]
        columns = shape[1]
        cellSize = count / (rows * columns)
        changedPerRow = [Int](repeating: 0, count: rows)
        changedPerColumn = [Int](repeating: 0, count: columns)
        magnitudePerRow = withMagnitudes ? [Double](repeating: 0, count: rows) : nil
        magnitudePerColumn = withMagnitudes ? [Double](repeating: 0, count: columns) : nil
    }

    /// Whether the spread of a tensor of `shape` keeps at most `slots` counts (one per row and
    /// one per column): a bound on what it allocates, for shapes nothing vouches for yet.
    public static func fits(_ shape: [Int], slots: Int) -> Bool {
        guard shape.count >= 2 else { return true }
        return shape[0] <= slots && shape[1] <= slots - shape[0]
    }

    /// The spread of `positions` (flat element indices, row-major, in range) over a tensor
    /// of `shape`, counts only; nil as `init(shape:withMagnitudes:)`.
    public static func counting(_ positions: [Int], shape: [Int]) -> ChangeSpread? {
        guard var spread = ChangeSpread(shape: shape, withMagnitudes: false) else { return nil }
        for position in positions { spread.add(position, magnitude: nil) }
        return spread
    }

    /// Counts the element at flat index `position` as changed, by `magnitude` (|new − old|,
    /// ignored when the spread keeps no magnitudes). A position outside the tensor is
    /// ignored: audits only count positions already validated.
    public mutating func add(_ position: Int, magnitude: Double?) {
        guard position >= 0, position < rows * columns * cellSize else { return }
        let row = position / (columns * cellSize)
        let column = (position / cellSize) % columns
        changedPerRow[row] += 1
        changedPerColumn[column] += 1
        if let magnitude, magnitude.isFinite, magnitudePerRow != nil {
            magnitudePerRow![row] += magnitude
            magnitudePerColumn![column] += magnitude
        }
    }

    /// Rows with at least one changed element.
    public var touchedRows: Int { changedPerRow.count(where: { $0 > 0 }) }
    /// Columns with at least one changed element.
    public var touchedColumns: Int { changedPerColumn.count(where: { $0 > 0 }) }

    /// The smallest share of the slots (rows or columns) that together hold at least half
    /// of `amounts` (changed counts, or sums of |Δ|): 0.5 when spread evenly over all, small
    /// when a few neurons take most. Nil when the amounts are all zero.
    public static func halfShare(_ amounts: [Double]) -> Double? {
        let total = amounts.reduce(0, +)
        guard total > 0 else { return nil }
        var held = 0.0
        for (i, amount) in amounts.sorted(by: >).enumerated() {
            held += amount
            if 2 * held >= total { return Double(i + 1) / Double(amounts.count) }
        }
        return 1
    }
}
