import Foundation

/// The text cleaning open_clip applies before CLIP's tokenizer: `ftfy.fix_text`, HTML
/// unescaping twice, stripping, and collapsing whitespace to single spaces.
///
/// ftfy is reproduced for what it does to text that is not mojibake: HTML entities (when the
/// text has no `<`), terminal escapes removed, C1 controls read as Windows-1252, Latin
/// ligatures expanded, full-width forms narrowed, curly quotes straightened, line breaks
/// unified, control characters removed, NFC. Not reproduced: ftfy's repair of mojibake (UTF-8
/// decoded as another encoding), and HTML's named entities beyond the common ones (`&amp;`,
/// `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;`; numeric ones all).
public enum TextCleaning {
    /// `text` cleaned as open_clip's `whitespace_clean(basic_clean(text))` does: words joined by single spaces.
    public static func clean(_ text: String) -> String {
        var text = text
        if !text.contains("<") { text = unescapeHTML(text) }
        text = removeTerminalEscapes(text)
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(contentsOf: fixScalar(scalar).unicodeScalars)
        }
        text = String(scalars).replacingOccurrences(of: "\r\n", with: "\n")
        text = String(
            String.UnicodeScalarView(
                text.unicodeScalars.compactMap { scalar -> Unicode.Scalar? in
                    if ["\r", "\u{2028}", "\u{2029}", "\u{85}"].contains(scalar) { return "\n" }
                    return isControl(scalar) ? nil : scalar
                }))
        text = text.precomposedStringWithCanonicalMapping
        text = unescapeHTML(unescapeHTML(text))
        // Python's str.split(): runs of whitespace scalars separate, ends trimmed.
        var words: [String] = []
        var word = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !word.isEmpty {
                    words.append(String(word))
                    word = String.UnicodeScalarView()
                }
            } else {
                word.append(scalar)
            }
        }
        if !word.isEmpty { words.append(String(word)) }
        return words.joined(separator: " ")
    }

    /// One character's ftfy fixes: C1 controls as Windows-1252, ligatures, width, quotes.
    private static func fixScalar(_ scalar: Unicode.Scalar) -> String {
        let value = scalar.value
        if (0x80...0x9F).contains(value), let windows = windows1252[value] {
            return windows.unicodeScalars.map(fixScalar).joined()  // then the other fixes, as ftfy's order
        }
        if let ligature = ligatures[value] { return ligature }
        if (0xFF01...0xFFEF).contains(value) { return String(scalar).precomposedStringWithCompatibilityMapping }
        if value == 0x3000 { return " " }
        if value == 0x02BC || (0x2018...0x201B).contains(value) { return "'" }
        if (0x201C...0x201F).contains(value) { return "\"" }
        return String(scalar)
    }

    /// ftfy's control characters (tab, line feed, form feed and carriage return stay).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC, 0x1D173...0x1D17A,
            0xE0000...0xE007F:
            true
        default: false
        }
    }

    /// ANSI terminal escapes (`ESC [ … letter`).
    private static func removeTerminalEscapes(_ text: String) -> String {
        guard text.contains("\u{1B}[") else { return text }
        return text.replacingOccurrences(of: "\u{1B}\\[((?:\\d|;)*)([a-zA-Z])", with: "", options: .regularExpression)
    }

    /// `&name;`, `&#NNN;` and `&#xHH;`, as Python's html.unescape does for these.
    private static func unescapeHTML(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let ampersand = rest.firstIndex(of: "&") {
            out += rest[..<ampersand]
            rest = rest[ampersand...]
            if let semicolon = rest.prefix(12).firstIndex(of: ";") {
                let entity = rest[rest.index(after: rest.startIndex)..<semicolon]
                if let replacement = decodeEntity(entity) {
                    out += replacement
                    rest = rest[rest.index(after: semicolon)...]
                    continue
                }
            }
            out.append("&")
            rest = rest.dropFirst()
        }
        return out + rest
    }

    private static func decodeEntity(_ entity: Substring) -> String? {
        if entity.hasPrefix("#") {
            let digits = entity.dropFirst()
            let value =
                digits.first == "x" || digits.first == "X"
                ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
            guard let value else { return nil }
            if let windows = windows1252[value] { return windows }  // html.unescape's own rule for &#128;…&#159;
            if value == 0 || (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return "\u{FFFD}" }
            return UnicodeScalar(value).map { String($0) }
        }
        return namedEntities[String(entity)]
    }

    static let namedEntities = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}"]

    static let ligatures: [UInt32: String] = [
        0x0132: "IJ", 0x0133: "ij", 0x0149: "\u{2BC}n", 0x01F1: "DZ", 0x01F2: "Dz", 0x01F3: "dz", 0x01C4: "D\u{17D}",
        0x01C5: "D\u{17E}", 0x01C6: "d\u{17E}", 0x01C7: "LJ", 0x01C8: "Lj", 0x01C9: "lj", 0x01CA: "NJ", 0x01CB: "Nj",
        0x01CC: "nj",
        0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "\u{17F}t", 0xFB06: "st",
    ]

    /// The characters Windows-1252 puts at 0x80…0x9F (five positions are undefined there).
    static let windows1252: [UInt32: String] = [
        0x80: "\u{20AC}", 0x82: "\u{201A}", 0x83: "\u{0192}", 0x84: "\u{201E}", 0x85: "\u{2026}", 0x86: "\u{2020}",
        0x87: "\u{2021}",
        0x88: "\u{02C6}", 0x89: "\u{2030}", 0x8A: "\u{0160}", 0x8B: "\u{2039}", 0x8C: "\u{0152}", 0x8E: "\u{017D}",
        0x91: "\u{2018}",
        0x92: "\u{2019}", 0x93: "\u{201C}", 0x94: "\u{201D}", 0x95: "\u{2022}", 0x96: "\u{2013}", 0x97: "\u{2014}",
        0x98: "\u{02DC}",
        0x99: "\u{2122}", 0x9A: "\u{0161}", 0x9B: "\u{203A}", 0x9C: "\u{0153}", 0x9E: "\u{017E}", 0x9F: "\u{0178}",
    ]
}
