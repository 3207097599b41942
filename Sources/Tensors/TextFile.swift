import Foundation

/// Text files as every Scalpel reader takes them (task folders, tokenizer vocabularies,
/// configuration JSON): UTF-8, with or without a byte-order mark at the start, lines ended by
/// LF or CRLF.
///
/// Windows tools write CRLF and often a byte-order mark; both are accepted, so a file gives
/// the same lines whichever editor saved it. What cannot be read without guessing is refused,
/// naming the file and the line: invalid UTF-8 (UTF-16 text, a Latin-1 file) and a carriage
/// return not followed by a line feed (old Mac line endings, or a stray control character
/// inside a line).
///
/// Lines are cut on bytes, never on `Character`s: Swift's String takes "\r\n" as a single
/// Character, so splitting a String on "\n" leaves CRLF lines whole.
public enum TextFile {
    /// The UTF-8 encoding of U+FEFF, which Windows tools put at the start of UTF-8 files.
    public static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// The number of bytes the byte-order mark takes at the start of `bytes`: 3 or 0.
    public static func byteOrderMarkLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        bytes.starts(with: byteOrderMark) ? byteOrderMark.count : 0
    }

    /// The bytes of the file at `path` (standard input for "-"), as stored (a byte-order mark
    /// included).
    /// - Throws: `FileError` naming `path` when it is missing, not a regular file, or unreadable.
    public static func contents(_ path: String) throws -> [UInt8] {
        // "-" is standard input, as for every command-line tool that reads a text file.
        if path == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        do {
            let mapping = try MappedFile(path: path)
            return Array(mapping.bytes)
        } catch {
            if !FileManager.default.fileExists(atPath: path) { throw FileError.notFound(path) }
            throw error
        }
    }

    /// The lines of the text file at `path` (see `lines(of:path:)`).
    /// - Throws: `FileError` naming `path` when it cannot be read, and as `lines(of:path:)` does.
    public static func lines(_ path: String) throws -> [String] {
        try lines(of: contents(path), path: path)
    }

    /// The lines of `bytes`, the contents of the text file `path`: a byte-order mark at the
    /// start is skipped, each line ends at LF (a CR just before it is dropped), and the text
    /// after the last LF is a line when it is not empty (so "a\nb\n" and "a\r\nb" are both
    /// ["a", "b"]). Line k of the file is element k − 1.
    /// - Throws: `FileError` naming `path` and the line: a CR not followed by LF, or a line
    ///   that is not valid UTF-8.
    public static func lines(of bytes: [UInt8], path: String) throws -> [String] {
        try refuseUTF16(bytes, path: path)
        var lines: [String] = []
        var start = bytes.starts(with: byteOrderMark) ? byteOrderMark.count : 0
        var position = start
        func endLine(_ end: Int) throws {
            let line = bytes[start..<end]
            guard let text = String(validating: line, as: UTF8.self) else {
                throw FileError(
                    path,
                    """
                    line \(lines.count + 1): not valid UTF-8 (at byte \(firstInvalidByte(line) + 1) of the line); \
                    save the file as UTF-8
                    """
                )
            }
            lines.append(text)
        }
        while position < bytes.count {
            switch bytes[position] {
            case 0x0A:
                try endLine(position)
                position += 1
                start = position
            case 0x0D:
                guard position + 1 < bytes.count, bytes[position + 1] == 0x0A else {
                    throw FileError(
                        path,
                        """
                        line \(lines.count + 1): a carriage return (CR) not followed by a line feed (LF); save \
                        the file with LF or CRLF line endings
                        """
                    )
                }
                try endLine(position)
                position += 2
                start = position
            default:
                position += 1
            }
        }
        if start < bytes.count { try endLine(bytes.count) }
        return lines
    }

    /// Refuses text that starts with a UTF-16 byte-order mark (Windows' "Unicode"), which
    /// would otherwise be reported as invalid UTF-8 at its first byte.
    /// - Throws: `FileError` naming `path` when `bytes` start with FF FE or FE FF.
    public static func refuseUTF16(_ bytes: [UInt8], path: String) throws {
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            throw FileError(path, "is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8")
        }
    }

    /// The offset in `bytes` of the first byte that does not begin or continue a valid UTF-8
    /// sequence (`bytes.count` when all are valid).
    private static func firstInvalidByte(_ bytes: ArraySlice<UInt8>) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error, .emptyInput: return offset
            }
        }
    }
}
