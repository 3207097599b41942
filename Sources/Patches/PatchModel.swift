import Checkpoints
import Tensors

/// A tensor's identity as a patch records it: dtype, shape and SHA-256 of its bytes.
public struct TensorState: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    public let sha256: String

    public init(dtype: DType, shape: [Int], sha256: String) {
        self.dtype = dtype
        self.shape = shape
        self.sha256 = sha256
    }

    public init(_ view: TensorView) {
        self.init(dtype: view.dtype, shape: view.shape, sha256: view.sha256)
    }

    public var elementCount: Int { Shape.elementCount(shape) ?? 0 }
    public var byteCount: Int { Shape.byteCount(shape, dtype) ?? 0 }

    /// "F32 [384, 1536]".
    public var typeDescription: String { "\(dtype.rawValue) \(Shape.describe(shape))" }
}

/// What an entry does to its tensor.
public enum EntryOperation: String, Sendable, CaseIterable {
    /// Some elements change: their positions, and the XOR of old and new bits.
    case xor
    /// A tensor the base does not have.
    case add
    /// A tensor the result does not have (its bytes kept, so revert restores it).
    case remove
    /// The whole tensor changes, dtype or shape included (old and new bytes both kept).
    case replace
    /// A mask: positions only, no values.
    case mask
}

/// The streams an entry stores, in this order, each one zstd frame.
public enum FrameRole: String, Sendable, CaseIterable {
    case index
    case values
    case beforeData = "before_data"
    case afterData = "after_data"
}

/// Where a frame lies in the data section, and its size once decompressed.
public struct FrameReference: Sendable, Equatable {
    public let offset: Int
    public let length: Int
    public let rawLength: Int
}

/// One entry of a patch or mask, as its header describes it.
public struct PatchEntry: Sendable {
    public let name: String
    public let operation: EntryOperation
    /// The tensor in the base (nil for `add`).
    public let before: TensorState?
    /// The tensor in the result (nil for `remove` and `mask`).
    public let after: TensorState?
    /// Number of positions (xor, mask); the element count otherwise.
    public let nnz: Int
    public let indexEncoding: IndexEncoding?
    public let frames: [(FrameRole, FrameReference)]
    /// SHA-256 of the entry's stored frame bytes, concatenated in role order.
    public let checksum: String
    /// `xor` entries of format version 2 on: fingerprints of the changed elements alone, so
    /// the patch can be checked against a tensor that differs elsewhere. Nil in version 1.
    public let atPositions: PositionFingerprints?

    public func frame(_ role: FrameRole) -> FrameReference? {
        frames.first { $0.0 == role }?.1
    }

    /// Elements in the tensor the entry describes.
    public var elementCount: Int { (before ?? after)?.elementCount ?? 0 }
    public var density: Double { elementCount == 0 ? 0 : Double(nnz) / Double(elementCount) }
    public var storedBytes: Int { frames.map(\.1.length).saturatingSum() }
}

/// Whether a file is a patch (values) or a mask (positions only).
public enum PatchKind: String, Sendable {
    case patch
    case mask
}
