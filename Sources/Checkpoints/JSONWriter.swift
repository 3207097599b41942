/// Serialises `JSONValue` compactly (no spaces), keys in their stored order, the form that
/// safetensors headers use.
extension JSONValue {
    /// The value as compact JSON text (no white space), members in stored order.
    public var serialized: String {
        var out = ""
        write(into: &out)
        return out
    }

    /// Indented output for people (`--json` on the command line).
    public func pretty(indent: Int = 2) -> String {
        var out = ""
        writePretty(into: &out, level: 0, indent: indent)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d): out += JSONValue.format(d)
        case .string(let s): JSONValue.quote(s, into: &out)
        case .array(let elements):
            out += "["
            for (i, e) in elements.enumerated() {
                if i > 0 { out += "," }
                e.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (k, v)) in members.enumerated() {
                if i > 0 { out += "," }
                JSONValue.quote(k, into: &out)
                out += ":"
                v.write(into: &out)
            }
            out += "}"
        }
    }

    private func writePretty(into out: inout String, level: Int, indent: Int) {
        let pad = String(repeating: " ", count: (level + 1) * indent)
        let closePad = String(repeating: " ", count: level * indent)
        switch self {
        case .array(let elements) where !elements.isEmpty:
            // Arrays of scalars (shapes, offsets) stay on one line.
            if elements.allSatisfy({
                if case .array = $0 { return false }
                if case .object = $0 { return false }
                return true
            }) {
                write(into: &out)
                return
            }
            out += "[\n"
            for (i, e) in elements.enumerated() {
                out += pad
                e.writePretty(into: &out, level: level + 1, indent: indent)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += closePad + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            for (i, (k, v)) in members.enumerated() {
                out += pad
                JSONValue.quote(k, into: &out)
                out += ": "
                v.writePretty(into: &out, level: level + 1, indent: indent)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += closePad + "}"
        default:
            write(into: &out)
        }
    }

    static func format(_ d: Double) -> String {
        if !d.isFinite { return "null" }  // JSON has no NaN or infinity
        if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) + ".0" }
        return "\(d)"
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
