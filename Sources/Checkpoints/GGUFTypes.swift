import Tensors

/// ggml tensor types as GGUF stores them: the plain ones map onto dtypes; the quantized ones
/// are blocks of `blockElements` elements in `blockBytes` bytes, listed but never decoded.
enum GGMLType {
    struct Info {
        let name: String
        let blockElements: Int
        let blockBytes: Int
    }

    static func dtype(_ code: UInt32) -> DType? {
        switch code {
        case 0: return .f32
        case 1: return .f16
        case 24: return .i8
        case 25: return .i16
        case 26: return .i32
        case 27: return .i64
        case 28: return .f64
        case 30: return .bf16
        default: return nil
        }
    }

    static func code(_ dtype: DType) -> UInt32? {
        plainCodes.first { self.dtype($0) == dtype }
    }

    static let plainCodes: [UInt32] = [0, 1, 24, 25, 26, 27, 28, 30]

    /// The quantized types (gguf-py 0.19's table), for listing and for bounds checks.
    static let quantized: [UInt32: Info] = [
        2: Info(name: "Q4_0", blockElements: 32, blockBytes: 18),
        3: Info(name: "Q4_1", blockElements: 32, blockBytes: 20),
        6: Info(name: "Q5_0", blockElements: 32, blockBytes: 22),
        7: Info(name: "Q5_1", blockElements: 32, blockBytes: 24),
        8: Info(name: "Q8_0", blockElements: 32, blockBytes: 34),
        9: Info(name: "Q8_1", blockElements: 32, blockBytes: 40),
        10: Info(name: "Q2_K", blockElements: 256, blockBytes: 84),
        11: Info(name: "Q3_K", blockElements: 256, blockBytes: 110),
        12: Info(name: "Q4_K", blockElements: 256, blockBytes: 144),
        13: Info(name: "Q5_K", blockElements: 256, blockBytes: 176),
        14: Info(name: "Q6_K", blockElements: 256, blockBytes: 210),
        15: Info(name: "Q8_K", blockElements: 256, blockBytes: 292),
        16: Info(name: "IQ2_XXS", blockElements: 256, blockBytes: 66),
        17: Info(name: "IQ2_XS", blockElements: 256, blockBytes: 74),
        18: Info(name: "IQ3_XXS", blockElements: 256, blockBytes: 98),
        19: Info(name: "IQ1_S", blockElements: 256, blockBytes: 50),
        20: Info(name: "IQ4_NL", blockElements: 32, blockBytes: 18),
        21: Info(name: "IQ3_S", blockElements: 256, blockBytes: 110),
        22: Info(name: "IQ2_S", blockElements: 256, blockBytes: 82),
        23: Info(name: "IQ4_XS", blockElements: 256, blockBytes: 136),
        29: Info(name: "IQ1_M", blockElements: 256, blockBytes: 56),
        34: Info(name: "TQ1_0", blockElements: 256, blockBytes: 54),
        35: Info(name: "TQ2_0", blockElements: 256, blockBytes: 66),
        39: Info(name: "MXFP4", blockElements: 32, blockBytes: 17),
    ]
}

/// A tensor a checkpoint holds in a form Scalpel does not compute with (a quantized GGUF
/// tensor): `inspect` lists it; commands that need values refuse the checkpoint.
public struct OpaqueTensor: Sendable, Equatable {
    /// The tensor's name.
    public let name: String
    /// The quantized ggml type's name, such as "Q4_K" (ggml's docs/gguf.md).
    public let typeName: String
    /// The dimensions, outermost first (GGUF stores them innermost first).
    public let shape: [Int]
    /// The size of its stored blocks, in bytes.
    public let byteCount: Int
}

/// What a format keeps beside its tensors that a rewrite in the same format must carry over.
public enum FormatExtras: Sendable {
    /// GGUF's key-value metadata, every pair in order with its type and raw value bytes.
    case gguf(alignment: Int, keyValues: [GGUFKeyValue])
    /// A PyTorch archive's folder name and its groups of tensors that share one storage.
    case pytorch(archiveName: String, tied: [[String]])
}

/// One GGUF metadata pair, kept as stored so that it is written back bit for bit (a
/// big-endian file's value as the same value in little-endian order, as Scalpel writes GGUF).
public struct GGUFKeyValue: Sendable, Equatable {
    /// The metadata key, such as "general.architecture".
    public let key: String
    /// The GGUF value type (8 is a string).
    public let type: UInt32
    /// The value's bytes after the type, little-endian.
    public let raw: [UInt8]
    /// The value for people: strings as they are, numbers in decimal, arrays summarised.
    public let text: String
}
