import Foundation
import Testing

@testable import Tensors

/// The one line reader every text file goes through: LF and CRLF alike, a byte-order mark
/// skipped, anything else refused with the file and the line.
struct TextFileTests {
    static func lines(_ bytes: [UInt8]) throws -> [String] { try TextFile.lines(of: bytes, path: "f.txt") }

    @Test func crlfAndAByteOrderMarkGiveTheLinesOfLF() throws {
        let lf = Array("a\tb c\n\nπ ✓\nlast".utf8)
        #expect(try Self.lines(lf) == ["a\tb c", "", "π ✓", "last"])
        let crlf = Array("a\tb c\r\n\r\nπ ✓\r\nlast".utf8)
        #expect(try Self.lines(crlf) == ["a\tb c", "", "π ✓", "last"])
        #expect(try Self.lines(TextFile.byteOrderMark + crlf) == ["a\tb c", "", "π ✓", "last"])
        // Mixed endings, each line on its own; a final line ending adds no empty line.
        #expect(try Self.lines(Array("a\r\nb\nc\r\n".utf8)) == ["a", "b", "c"])
        #expect(try Self.lines(Array("a\n\n".utf8)) == ["a", ""])
        #expect(try Self.lines([]) == [] && (try Self.lines(TextFile.byteOrderMark)) == [])
        // Only a mark at the start of the file is one: later, U+FEFF is text.
        #expect(try Self.lines(Array("a\n\u{FEFF}b".utf8)) == ["a", "\u{FEFF}b"])
        // Bytes, not Characters: a combining mark after the line ending stays on its line.
        #expect(try Self.lines(Array("x\r\n\u{301}y".utf8)) == ["x", "\u{301}y"])
    }

    @Test(arguments: [
        ("a\rb\n", "f.txt: line 1: a carriage return (CR) not followed by a line feed (LF)"),
        ("a\nb\r", "f.txt: line 2: a carriage return (CR) not followed by a line feed (LF)"),
        ("a\r\n\r\r\n", "f.txt: line 2: a carriage return (CR)"),
    ])
    func aLoneCarriageReturnIsRefused(_ text: String, _ message: String) {
        #expect { try Self.lines(Array(text.utf8)) } throws: { "\($0)".hasPrefix(message) }
    }

    @Test func invalidUTF8IsRefusedWithItsLineAndByte() {
        // Line 2 holds "é" in Latin-1 (0xE9) after two good bytes.
        #expect { try Self.lines(Array("ok\r\nab".utf8) + [0xE9] + Array("\r\n".utf8)) } throws: {
            "\($0)" == "f.txt: line 2: not valid UTF-8 (at byte 3 of the line); save the file as UTF-8"
        }
        // An overlong encoding of "/" and a lone continuation byte are refused too.
        #expect { try Self.lines([0xC0, 0xAF]) } throws: {
            "\($0)".hasPrefix("f.txt: line 1: not valid UTF-8 (at byte 1 of the line)")
        }
        #expect { try Self.lines(Array("π".utf8) + [0x80]) } throws: {
            "\($0)".hasPrefix("f.txt: line 1: not valid UTF-8 (at byte 3 of the line)")
        }
        #expect { try Self.lines([0xFF, 0xFE, 0x61, 0x00]) } throws: {
            "\($0)" == "f.txt: is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8"
        }
    }

    @Test func filesAreReadOrRefusedByName() throws {
        let folder = NSTemporaryDirectory() + "scalpel-textfile-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(TextFile.byteOrderMark + Array("one\r\ntwo\r\n".utf8)).write(
            to: URL(fileURLWithPath: folder + "/crlf.txt"))
        #expect(try TextFile.lines(folder + "/crlf.txt") == ["one", "two"])
        #expect(try TextFile.contents(folder + "/crlf.txt").count == 13)
        #expect { try TextFile.lines(folder + "/none.txt") } throws: { "\($0)" == folder + "/none.txt: no such file" }
        #expect { try TextFile.lines(folder + "/no-folder/none.txt") } throws: {
            "\($0)" == folder + "/no-folder/none.txt: folder \(folder)/no-folder does not exist"
        }
        #expect { try TextFile.lines(folder) } throws: { "\($0)" == folder + ": not a regular file" }
    }
}
