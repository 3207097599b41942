import Tensors

/// A checkpoint that cannot be read or written (see `FileError`).
public typealias CheckpointError = FileError
