import Tensors

/// A patch that cannot be read, created or applied (see `FileError`).
public typealias PatchError = FileError
