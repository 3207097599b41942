import Checkpoints
import Tensors

/// A tensor's identity as a patch records it: dtype, shape and SHA-256 of its bytes.
public struct TensorState: Sendable, Equatable {
    /// The element type.
    public let dtype: DType
    /// The dimensions, outermost first (row-major).
    public let shape: [Int]
    /// SHA-256 of the tensor's bytes, 64 lowercase hex digits.
    public let sha256: String

    /// A state as a header records it.
    public init(dtype: DType, shape: [Int], sha256: String) {
        self.dtype = dtype
        self.shape = shape
        self.sha256 = sha256
    }

    /// The state of `view`: its dtype, shape and the SHA-256 of its bytes (hashes them).
    public init(_ view: TensorView) {
        self.init(dtype: view.dtype, shape: view.shape, sha256: view.sha256)
    }

    /// Elements in the tensor (0 when the shape's product overflows, which reading refuses).
    public var elementCount: Int { Shape.elementCount(shape) ?? 0 }
    /// Bytes of the tensor's data (elements × dtype size).
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
    /// Start of the frame's stored (compressed) bytes, from the start of the data section.
    public let offset: Int
    /// Stored bytes.
    public let length: Int
    /// Bytes once decompressed (checked against what zstd can expand `length` bytes to).
    public let rawLength: Int
}

/// One entry of a patch or mask, as its header describes it.
public struct PatchEntry: Sendable {
    /// The tensor's name (compared by its UTF-8 bytes).
    public let name: String
    /// What the entry does to the tensor (xor, replace, add, remove; mask in a mask file).
    public let operation: EntryOperation
    /// The tensor in the base (nil for `add`).
    public let before: TensorState?
    /// The tensor in the result (nil for `remove` and `mask`).
    public let after: TensorState?
    /// Number of positions (xor, mask); the element count otherwise.
    public let nnz: Int
    /// How the `index` frame stores positions (xor and mask entries).
    public let indexEncoding: IndexEncoding?
    /// The entry's frames, in `FrameRole` order.
    public let frames: [(FrameRole, FrameReference)]
    /// SHA-256 of the entry's stored frame bytes, concatenated in role order.
    public let checksum: String
    /// `xor` entries of format version 2 on: fingerprints of the changed elements alone, so
    /// the patch can be checked against a tensor that differs elsewhere. Nil in version 1.
    public let atPositions: PositionFingerprints?

    /// The entry's frame of `role`, if it has one.
    public func frame(_ role: FrameRole) -> FrameReference? {
        frames.first { $0.0 == role }?.1
    }

    /// Elements in the tensor the entry describes.
    public var elementCount: Int { (before ?? after)?.elementCount ?? 0 }
    /// nnz / elements: the share of the tensor the entry touches, in [0, 1].
    public var density: Double { elementCount == 0 ? 0 : Double(nnz) / Double(elementCount) }
    /// Bytes the entry's frames take in the file.
    public var storedBytes: Int { frames.map(\.1.length).saturatingSum() }
}

/// Whether a file is a patch (values) or a mask (positions only).
public enum PatchKind: String, Sendable {
    case patch
    case mask
}
