import Tensors

/// Where one tensor of a checkpoint lives: its name, dtype, shape, and its byte range in one
/// of the checkpoint's files. Known from headers alone, before any data is read.
public struct TensorEntry: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Index into `Checkpoint.files`.
    public let fileIndex: Int
    /// Absolute byte offset of the data in that file.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { byteCount / dtype.size }
}
