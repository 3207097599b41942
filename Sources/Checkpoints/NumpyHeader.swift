import Tensors

/// The header of a NumPy `.npy` array (format versions 1.0, 2.0 and 3.0): magic `\x93NUMPY`,
/// the version, the header length (2 bytes in 1.0, 4 after), then a Python dict literal with
/// `descr`, `fortran_order` and `shape`. Parsed strictly, as data: nothing is evaluated.
struct NumpyHeader: Equatable {
    let dtype: DType
    /// `>` in `descr`: the elements are big-endian and are swapped when read.
    let bigEndian: Bool
    let fortranOrder: Bool
    let shape: [Int]
    /// Bytes from the start of the `.npy` to its data.
    let dataOffset: Int
    let byteCount: Int

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Parses the header at the start of `bytes` (an `.npy` file or zip member); `what` names
    /// it in errors.
    init(_ bytes: UnsafeRawBufferPointer, what: String, path: String) throws {
        func fail(_ message: String) -> CheckpointError { CheckpointError(path, "\(what): \(message)") }
        guard bytes.count >= 10, bytes.starts(with: Self.magic) else {
            throw fail("not a NumPy array (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let lengthSize: Int
        switch major {
        case 1: lengthSize = 2
        case 2, 3: lengthSize = 4
        default: throw fail("NumPy format version \(major).\(bytes[7]) is not one of 1.0, 2.0, 3.0")
        }
        guard bytes.count >= 8 + lengthSize else { throw fail("truncated header") }
        let length =
            lengthSize == 2
            ? Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self).littleEndian)
            : Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
        let start = 8 + lengthSize
        guard length <= 1 << 20 else { throw fail("the header claims \(length) bytes, more than any array needs") }
        guard start + length <= bytes.count else {
            throw fail("truncated: the header needs \(length) bytes, \(bytes.count - start) remain")
        }
        let text = Array(bytes[start..<(start + length)])
        var literal = try PythonLiteral.Parser(text, fail: fail)
        guard case .dict(let entries) = try literal.parseDocument() else { throw fail("the header is not a dict") }
        var descr: String?
        var fortran: Bool?
        var shape: [Int]?
        for (key, value) in entries {
            switch (key, value) {
            case ("descr", .string(let s)): descr = s
            case ("descr", .list), ("descr", .tuple): throw fail("structured (record) arrays are not tensors")
            case ("fortran_order", .bool(let b)): fortran = b
            case ("shape", .tuple(let items)):
                shape = try items.map { item in
                    guard case .int(let n) = item, n >= 0 else {
                        throw fail("shape entries must be non-negative integers")
                    }
                    return n
                }
            default: throw fail("unexpected header entry \"\(key)\"")
            }
        }
        guard let descr, let fortran, let shape else { throw fail("the header lacks descr, fortran_order or shape") }
        (dtype, bigEndian) = try Self.dtype(descr, fail: fail)
        fortranOrder = fortran
        self.shape = shape
        dataOffset = start + length
        guard let count = Shape.byteCount(shape, dtype), count < 1 << 50 else {
            throw fail("shape \(Shape.describe(shape)) is absurdly large")
        }
        byteCount = count
    }

    /// `descr` (`'<f4'`, `'|b1'`, ...) as a dtype and byte order.
    static func dtype(_ descr: String, fail: (String) -> CheckpointError) throws -> (DType, Bool) {
        let characters = Array(descr)
        guard characters.count >= 2, "<>|=".contains(characters[0]) else {
            throw fail("dtype '\(descr)' is not a plain numeric type")
        }
        let kind = characters[1]
        let size = Int(String(characters[2...])) ?? 0
        guard let dtype = kinds.first(where: { $0.value == kind && $0.key.size == size })?.key else {
            let why: String
            switch kind {
            case "O": why = "object arrays hold pickled Python objects, which Scalpel never loads"
            case "V":
                why =
                    """
                    raw void data (a bfloat16 or float8 array saved through ml_dtypes is stored like this: save \
                    it as float32, or as safetensors)
                    """
            case "c": why = "complex numbers are not tensor weights Scalpel handles"
            case "U", "S", "a": why = "strings are not tensors"
            case "M", "m": why = "dates and time deltas are not tensors"
            default: why = "not a supported numeric type"
            }
            throw fail("dtype '\(descr)': \(why)")
        }
        return (dtype, characters[0] == ">" && size > 1)
    }

    /// NumPy's kind letter for each dtype it has (the size completes the descr).
    static let kinds: [DType: Character] = [
        .f64: "f", .f32: "f", .f16: "f", .i64: "i", .i32: "i", .i16: "i", .i8: "i",
        .u64: "u", .u32: "u", .u16: "u", .u8: "u", .bool: "b",
    ]

    /// The `.npy` header for a C-order little-endian array (version 1.0 when it fits, as
    /// NumPy writes it; the dict padded with spaces and a newline to a multiple of 64 bytes).
    static func encode(dtype: DType, shape: [Int]) -> [UInt8] {
        guard let kind = kinds[dtype] else {
            preconditionFailure("NumPy has no \(dtype.rawValue); callers refuse it first")
        }
        let descr = "\(dtype.size == 1 ? "|" : "<")\(kind)\(dtype.size)"
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let dict = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
        for (version, lengthSize) in [(UInt8(1), 2), (UInt8(2), 4)] {
            let unpadded = 6 + 2 + lengthSize + dict.count + 1
            let total = (unpadded + 63) / 64 * 64
            let length = total - 6 - 2 - lengthSize
            if lengthSize == 2, length > 0xFFFF { continue }
            var out = magic + [version, 0]
            out +=
                lengthSize == 2
                ? [UInt8(length & 0xFF), UInt8(length >> 8)]
                : (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) }
            out += dict + [UInt8](repeating: 0x20, count: total - unpadded) + [0x0A]
            return out
        }
        preconditionFailure("unreachable: version 2.0 always fits")
    }

    /// True when NumPy can hold `dtype`.
    static func supports(_ dtype: DType) -> Bool { kinds[dtype] != nil }
}

/// The subset of Python literals a `.npy` header uses: dicts, tuples, lists, strings,
/// integers, True/False/None. Parsed, never evaluated.
enum PythonLiteral: Equatable {
    case dict([(String, PythonLiteral)])
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case string(String)
    case int(Int)
    case bool(Bool)
    case none

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
        switch (a, b) {
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.tuple(let x), .tuple(let y)), (.list(let x), .list(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.none, .none): return true
        default: return false
        }
    }

    struct Parser {
        let text: [UInt8]
        var at = 0
        let fail: (String) -> CheckpointError
        var depth = 0

        init(_ text: [UInt8], fail: @escaping (String) -> CheckpointError) throws {
            self.text = text
            self.fail = fail
        }

        mutating func parseDocument() throws -> PythonLiteral {
            let value = try parseValue()
            skipSpace()
            guard at == text.count else { throw fail("unexpected text after the header dict") }
            return value
        }

        private mutating func skipSpace() {
            while at < text.count, [0x20, 0x0A, 0x0D, 0x09].contains(text[at]) { at += 1 }
        }

        mutating func parseValue() throws -> PythonLiteral {
            skipSpace()
            guard at < text.count else { throw fail("the header ends early") }
            depth += 1
            defer { depth -= 1 }
            guard depth < 32 else { throw fail("the header nests too deeply") }
            switch text[at] {
            case UInt8(ascii: "{"):
                at += 1
                var entries: [(String, PythonLiteral)] = []
                while true {
                    skipSpace()
                    if at < text.count, text[at] == UInt8(ascii: "}") {
                        at += 1
                        return .dict(entries)
                    }
                    guard case .string(let key) = try parseValue() else { throw fail("dict keys must be strings") }
                    skipSpace()
                    guard at < text.count, text[at] == UInt8(ascii: ":") else {
                        throw fail("expected ':' after '\(key)'")
                    }
                    at += 1
                    if entries.contains(where: { $0.0 == key }) { throw fail("key '\(key)' appears twice") }
                    entries.append((key, try parseValue()))
                    try separator(closing: "}")
                }
            case UInt8(ascii: "("), UInt8(ascii: "["):
                let closing: Character = text[at] == UInt8(ascii: "(") ? ")" : "]"
                let isTuple = closing == ")"
                at += 1
                var items: [PythonLiteral] = []
                while true {
                    skipSpace()
                    if at < text.count, text[at] == closing.asciiValue {
                        at += 1
                        return isTuple ? .tuple(items) : .list(items)
                    }
                    items.append(try parseValue())
                    try separator(closing: closing)
                }
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                let quote = text[at]
                at += 1
                let start = at
                while at < text.count, text[at] != quote {
                    if text[at] == UInt8(ascii: "\\") {
                        throw fail("escapes in header strings are not supported").with(kind: .unsupported)
                    }
                    at += 1
                }
                guard at < text.count else { throw fail("unterminated string") }
                let value = String(decoding: text[start..<at], as: UTF8.self)
                at += 1
                return .string(value)
            default:
                let start = at
                while at < text.count,
                    text[at] == UInt8(ascii: "-") || (text[at] >= 0x30 && text[at] <= 0x39)
                        || (text[at] >= 0x41 && text[at] <= 0x5A) || (text[at] >= 0x61 && text[at] <= 0x7A)
                { at += 1 }
                let word = String(decoding: text[start..<at], as: UTF8.self)
                switch word {
                case "True": return .bool(true)
                case "False": return .bool(false)
                case "None": return .none
                default:
                    // NumPy writes Python ints; an "L" suffix comes from Python 2.
                    let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
                    guard let value = Int(digits) else {
                        throw fail(
                            "unexpected '\(word.isEmpty ? String(UnicodeScalar(text[at])) : word)' in the header")
                    }
                    return .int(value)
                }
            }
        }

        mutating func separator(closing: Character) throws {
            skipSpace()
            guard at < text.count else { throw fail("the header ends early") }
            if text[at] == UInt8(ascii: ",") {
                at += 1
                return
            }
            guard text[at] == closing.asciiValue else { throw fail("expected ',' or '\(closing)'") }
        }
    }
}
