import Tensors

/// A strict JSON reader and writer for checkpoint headers.
///
/// Foundation's JSONSerialization is not used for headers because it cannot tell us what
/// the format rules need: it drops duplicate keys silently, loses key order, and reads large
/// integers through Double. This parser keeps object members in file order, refuses
/// duplicate keys, keeps integers exact, and bounds nesting depth.
public indirect enum JSONValue: Equatable, Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without fraction or exponent, kept exact (it must fit in 64 bits).
    case integer(Int)
    /// A number with a fraction or an exponent.
    case number(Double)
    /// A string, escapes decoded.
    case string(String)
    /// An array, in order.
    case array([JSONValue])
    /// An object's members, in file order (keys unique by their bytes).
    case object([(String, JSONValue)])

    /// Equality by structure, strings and keys compared by their bytes and members in order; `.integer(1)`
    /// and `.number(1)` differ.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a.hasSameBytes(as: b)
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0.hasSameBytes(as: $1.0) && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member named `key` (by bytes) of an object; nil for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.first { $0.0.hasSameBytes(as: key) }?.1 }
        return nil
    }

    /// The string, when this is one.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    /// The integer, when this is an integer (not a number with a fraction or exponent).
    public var intValue: Int? {
        if case .integer(let i) = self { return i }
        return nil
    }
    /// The elements, when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    /// The members in file order, when this is an object.
    public var objectMembers: [(String, JSONValue)]? {
        if case .object(let m) = self { return m }
        return nil
    }

    /// A short name of the value's kind, for error messages.
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON text that cannot be read: its kind (for callers that treat a duplicate key apart,
/// as safetensors' rule about names does) and the message, with the byte where it went wrong.
public struct JSONError: Error, CustomStringConvertible, Sendable {
    /// The families of failure.
    public enum Kind: Sendable, Equatable {
        /// Not JSON at that byte (or nested deeper than the limit).
        case malformed
        /// An object names one key twice (keys compare as UTF-8 bytes).
        case duplicateKey
    }

    /// The failure's family.
    public let kind: Kind
    /// The message; for `.malformed`, with the byte offset where reading failed.
    public let description: String

    /// An error of `kind` with the message `description`.
    public init(_ kind: Kind = .malformed, description: String) {
        self.kind = kind
        self.description = description
    }
}

extension JSONValue {
    /// Parses `bytes` as one JSON value; trailing white space is allowed, anything else is not.
    /// - Throws: `JSONError`: `.duplicateKey` for an object naming a key twice, else `.malformed` (invalid JSON,
    ///   nesting deeper than `maxDepth`, trailing content).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    /// Parses `text` as one JSON value, as `parse(_:maxDepth:)` does with the default depth.
    /// - Throws: `JSONError` as `parse(_:maxDepth:)` does.
    public static func parse(_ text: String) throws -> JSONValue {
        var utf8 = Array(text.utf8)
        return try utf8.withUnsafeMutableBytes { try parse(UnsafeRawBufferPointer($0)) }
    }

    /// Parses `bytes`, the contents of a JSON file, skipping a UTF-8 byte-order mark at the
    /// start: JSON forbids one, but files saved by Windows tools carry it. Error positions
    /// count the mark, so they are offsets in the file.
    /// - Throws: `JSONError` as `parse(_:maxDepth:)` does.
    public static func parse(fileBytes bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.position = TextFile.byteOrderMarkLength(bytes)
        return try parser.parseDocument()
    }

    /// Reads and parses the JSON file at `path` (a byte-order mark at the start skipped, as
    /// `parse(fileBytes:)` does).
    /// - Throws: `FileError` naming `path`: missing or unreadable, or not valid JSON (with
    ///   the reason and the byte offset), UTF-16 text named as such.
    public static func parse(contentsOf path: String) throws -> JSONValue {
        let bytes = try TextFile.contents(path)
        try TextFile.refuseUTF16(bytes, path: path)
        do {
            return try bytes.withUnsafeBytes { try parse(fileBytes: $0) }
        } catch let error as JSONError {
            throw FileError(path, "is not valid JSON: \(error.description)")
        }
    }
}

struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var position = 0
    var depth = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if position != bytes.count { throw fail("unexpected content after the JSON value") }
        return value
    }

    private func fail(_ message: String) -> JSONError {
        // The message may quote a byte of the file: kept terminal-safe.
        JSONError(description: DisplayText.escaped("\(message) at byte \(position)"))
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws -> JSONValue {
        guard position < bytes.count else { throw fail("unexpected end of JSON") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character '\(Character(UnicodeScalar(bytes[position])))'")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw fail("unexpected end of JSON") }
        for i in 0..<count where bytes[position + i] != literal.utf8Start[i] {
            throw fail("invalid literal")
        }
        position += count
    }

    private mutating func enter() throws {
        depth += 1
        if depth > maxDepth { throw fail("JSON nested deeper than \(maxDepth) levels") }
    }

    private mutating func parseObject() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        position += 1
        var members: [(String, JSONValue)] = []
        var seen = NameSet()  // keys are bytes: "é" and "e\u{301}" are two keys
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw fail("expected a string key")
            }
            let key = try parseString()
            if !seen.insert(key) {
                throw JSONError(.duplicateKey, description: DisplayText.escaped("duplicate key \"\(key)\""))
            }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw fail("expected ':' after key \"\(key)\"")
            }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of JSON in an object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            throw fail("expected ',' or '}' in an object")
        }
    }

    private mutating func parseArray() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end of JSON in an array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            throw fail("expected ',' or ']' in an array")
        }
    }

    private mutating func parseString() throws -> String {
        position += 1  // opening quote
        var utf8: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    throw fail("string is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                try parseEscape(into: &utf8)
            case 0x00..<0x20:
                throw fail("control character in a string")
            default:
                utf8.append(byte)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws {
        guard position < bytes.count else { throw fail("unterminated escape") }
        let code = bytes[position]
        position += 1
        switch code {
        case UInt8(ascii: "\""): utf8.append(0x22)
        case UInt8(ascii: "\\"): utf8.append(0x5C)
        case UInt8(ascii: "/"): utf8.append(0x2F)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if (0xD800..<0xDC00).contains(scalar) {  // high surrogate: a low one must follow
                guard position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else {
                    throw fail("unpaired surrogate in \\u escape")
                }
                position += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw fail("unpaired surrogate in \\u escape")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
            utf8.append(contentsOf: Array(String(Character(unicode)).utf8))
        default:
            throw fail("invalid escape")
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            position += 1
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
        }
        return value
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        var isInteger = true
        func digits() -> Int {
            let begin = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                position += 1
            }
            return position - begin
        }
        guard digits() > 0 else { throw fail("invalid number") }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard digits() > 0 else { throw fail("invalid number") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard digits() > 0 else { throw fail("invalid number") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger {
            guard let value = Int(text) else { throw fail("integer \(text) does not fit in 64 bits") }
            return .integer(value)
        }
        guard let value = Double(text) else { throw fail("invalid number \(text)") }
        return .number(value)
    }
}
