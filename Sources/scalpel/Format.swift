import Foundation
import Tensors

/// Number and table formatting for human-readable output.
enum Format {
    /// 22713216 → "22,713,216".
    static func count(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    /// `word` as a POSIX shell reads it back: as it is when it holds only characters no shell
    /// treats specially, else in single quotes (a quote inside as '\''), so a printed command
    /// line can be pasted and run.
    static func shellWord(_ word: String) -> String {
        let plain =
            !word.isEmpty
            && word.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || "-_./,:=+@%".utf8.contains(byte)
            }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// "1 tensor", "3 tensors".
    static func plural(_ n: Int, _ noun: String) -> String {
        "\(count(n)) \(noun)\(n == 1 ? "" : (noun.hasSuffix("ch") || noun.hasSuffix("s") ? "es" : "s"))"
    }

    /// 22713216 → "22.7 M".
    static func scaled(_ n: Int) -> String {
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, unit) in units where Double(n) >= scale {
            return fixed(Double(n) / scale, 1) + " " + unit
        }
        return String(n)
    }

    /// Decimal byte sizes, as `ls -h --si` and model hubs print them: 90853376 → "90.9 MB".
    static func bytes(_ n: Int) -> String {
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        for (scale, unit) in units where Double(n) >= scale {
            return fixed(Double(n) / scale, 1) + " " + unit
        }
        return "\(n) B"
    }

    static func fixed(_ value: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let have = text.distance(from: dot, to: text.endIndex) - 1
            if have < decimals { text += String(repeating: "0", count: decimals - have) }
        } else if decimals > 0 {
            text += "." + String(repeating: "0", count: decimals)
        }
        return text
    }

    /// Left-aligned columns separated by two spaces; `rightAligned` columns padded on the left.
    /// Cells are shown through `DisplayText.escaped`: tables list names read from files.
    static func table(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
        let rows = rows.map { $0.map(DisplayText.escaped) }
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for row in rows {
            let cells = row.enumerated().map { i, cell in
                rightAligned.contains(i)
                    ? cell.padding(widths[i], left: true)
                    : (i == row.count - 1 ? cell : cell.padding(widths[i]))
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        return out
    }
}

extension String {
    func padding(_ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - count))
        return left ? fill + self : self + fill
    }
}

extension Format {
    /// Prints notes on standard error, one "note: " line each (stdout stays the result line),
    /// escaped (`DisplayText`): notes name tensors and files.
    static func notes(_ lines: [String]) {
        guard !lines.isEmpty else { return }
        FileHandle.standardError.write(Data(lines.map { "note: \(DisplayText.escaped($0))\n" }.joined().utf8))
    }
}

extension Format {
    /// A warning on stderr: the command goes on, but the user should know.
    static func warning(_ line: String) {
        FileHandle.standardError.write(Data("warning: \(DisplayText.escaped(line))\n".utf8))
    }
}
