import Tensors

/// Where one tensor of a checkpoint lives: its name, dtype, shape, and its byte range in one
/// of the checkpoint's files. Known from headers alone, before any data is read.
public struct TensorEntry: Sendable, Equatable {
    /// The tensor's name as the file stores it.
    public let name: String
    /// The element type.
    public let dtype: DType
    /// The dimensions, outermost first (row-major, C order).
    public let shape: [Int]
    /// Index into `Checkpoint.files`.
    public let fileIndex: Int
    /// Absolute byte offset of the data in that file.
    public let offset: Int
    /// The length of the data, in bytes.
    public let byteCount: Int

    /// The number of elements (`byteCount` divided by the dtype's size).
    public var elementCount: Int { byteCount / dtype.size }
}
