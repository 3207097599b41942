/// Element types Scalpel understands, named as safetensors names them.
///
/// Floating types convert to and from `Float`; integer and boolean types are carried bit for
/// bit; the 8-bit float formats are opaque bytes (read, hashed, patched and written, never
/// interpreted), because their rounding conventions differ between producers.
public enum DType: String, CaseIterable, Sendable {
    /// IEEE 754 binary64 (double).
    case f64 = "F64"
    /// IEEE 754 binary32 (float).
    case f32 = "F32"
    /// IEEE 754 binary16 (half).
    case f16 = "F16"
    /// bfloat16: float32's top 16 bits (8-bit exponent, 7-bit mantissa).
    case bf16 = "BF16"
    /// Signed 64-bit integer.
    case i64 = "I64"
    /// Signed 32-bit integer.
    case i32 = "I32"
    /// Signed 16-bit integer.
    case i16 = "I16"
    /// Signed 8-bit integer.
    case i8 = "I8"
    /// Unsigned 64-bit integer.
    case u64 = "U64"
    /// Unsigned 32-bit integer.
    case u32 = "U32"
    /// Unsigned 16-bit integer.
    case u16 = "U16"
    /// Unsigned 8-bit integer.
    case u8 = "U8"
    /// Boolean, one byte per element.
    case bool = "BOOL"
    /// 8-bit float, 4-bit exponent and 3-bit mantissa (opaque).
    case f8e4m3 = "F8_E4M3"
    /// 8-bit float, 5-bit exponent and 2-bit mantissa (opaque).
    case f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }

    /// Floating-point types whose values Scalpel computes with (converts to `Float`).
    public var isFloatingPoint: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16: return true
        default: return false
        }
    }

    /// Types stored and moved as raw bytes only.
    public var isOpaque: Bool { self == .f8e4m3 || self == .f8e5m2 }

    /// Parses a dtype name as written in a safetensors header (`"F32"`) or on a command
    /// line (`"f32"`, `"bfloat16"`).
    public init?(name: String) {
        if let exact = DType(rawValue: name) {
            self = exact
            return
        }
        switch name.lowercased() {
        case "f64", "float64", "double": self = .f64
        case "f32", "float32", "float": self = .f32
        case "f16", "float16", "half": self = .f16
        case "bf16", "bfloat16": self = .bf16
        case "i64", "int64": self = .i64
        case "i32", "int32": self = .i32
        case "i16", "int16": self = .i16
        case "i8", "int8": self = .i8
        case "u64", "uint64": self = .u64
        case "u32", "uint32": self = .u32
        case "u16", "uint16": self = .u16
        case "u8", "uint8": self = .u8
        case "bool": self = .bool
        case "f8_e4m3", "float8_e4m3fn": self = .f8e4m3
        case "f8_e5m2", "float8_e5m2": self = .f8e5m2
        default: return nil
        }
    }

    /// The list shown when a name is not recognised.
    public static var knownNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
