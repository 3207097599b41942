/// Text from a file made safe to show on a terminal.
///
/// Tensor names, metadata and other strings read from a file are arbitrary Unicode: a name
/// can carry ESC [ … sequences that recolour, move the cursor or retitle the user's terminal,
/// a carriage return that overwrites the start of the line, or bidirectional overrides that
/// display text in another order than it is stored. Every message and human-readable table
/// that shows such text passes it through `escaped`, which writes these characters as visible
/// escapes. JSON output (`--json`) does not: it carries the exact strings, JSON-escaped.
///
/// Backslashes are left as they are, so escaping is idempotent (escaping escaped text changes
/// nothing) and a message may be escaped at every layer it passes through; the price is that a
/// name holding the four characters `\x1b` prints like one holding ESC (`--json` tells them apart).
public enum DisplayText {
    /// `text` with every character that a terminal would act on instead of showing written
    /// as an escape: `\t`, `\n`, `\r`, other C0 controls and DEL as `\xHH`, and C1 controls,
    /// bidirectional formatting characters and the Unicode line and paragraph separators as
    /// `\u{HHHH}`. All other characters are kept.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default:
                let hex = String(scalar.value, radix: 16)
                if scalar.value < 0x80 {
                    out += "\\x" + (hex.count < 2 ? "0" : "") + hex
                } else {
                    out += "\\u{" + hex + "}"
                }
            }
        }
        return out
    }

    /// Whether a terminal acts on `scalar` rather than showing it.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0, DEL, C1 (0x9B is an 8-bit CSI)
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidi marks and overrides
        case 0x2028, 0x2029: return true  // line and paragraph separators
        default: return false
        }
    }

    /// `items` joined with ", ", at most `limit` of them, then "… N more" for the rest: long
    /// lists (a hostile file's 10,000-dimension shape) stay one readable line.
    public static func list(_ items: [String], limit: Int) -> String {
        guard items.count > limit else { return items.joined(separator: ", ") }
        return (items.prefix(limit) + ["… \(items.count - limit) more"]).joined(separator: ", ")
    }
}
