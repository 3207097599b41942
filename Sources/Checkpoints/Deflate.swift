import CZlib
import Foundation
import Tensors

/// Raw deflate (zip members), gzip files and CRC-32, through zlib.
public enum Deflate {
    /// Deflate cannot expand data by more than about 1032:1; a member that claims more is a
    /// zip bomb or damaged, and is refused before anything is inflated.
    static let maximumRatio = 1032

    /// Inflates `compressed` into exactly `size` bytes, refusing a stream that ends early,
    /// runs longer, or is damaged. `gzip`: the stream has gzip's header and trailer (whose
    /// CRC zlib checks) rather than being raw deflate.
    static func inflate(
        _ compressed: UnsafeRawBufferPointer, size: Int, member: String, path: String, gzip: Bool = false
    ) throws -> ByteBuffer {
        guard size <= max(compressed.count, 1) * maximumRatio + 64 else {
            throw CheckpointError(
                path,
                """
                zip member \"\(member)\" claims \(size) bytes from \(compressed.count) compressed, more than \
                deflate can expand: a zip bomb or a damaged archive
                """
            )
        }
        let output = ByteBuffer(count: size)
        var stream = z_stream()
        guard
            inflateInit2_(&stream, gzip ? 16 + MAX_WBITS : -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
                == Z_OK
        else {
            throw CheckpointError(path, "zip member \"\(member)\": zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var spare: UInt8 = 0
        var status: Int32 = Z_OK
        var produced = 0
        var consumed = 0
        // zlib counts in 32-bit units: feed and drain at most 1 GiB at a time.
        let step = 1 << 30
        while status == Z_OK {
            if stream.avail_in == 0, consumed < compressed.count {
                let chunk = min(step, compressed.count - consumed)
                stream.next_in = UnsafeMutablePointer(
                    mutating: compressed.baseAddress!.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(chunk)
                consumed += chunk
            }
            if stream.avail_out == 0 {
                if produced < size {
                    let chunk = min(step, size - produced)
                    stream.next_out = output.bytes.baseAddress!.advanced(by: produced).assumingMemoryBound(
                        to: Bytef.self)
                    stream.avail_out = uInt(chunk)
                    produced += chunk
                } else {
                    // One byte of room beyond the declared size catches a stream that runs on.
                    withUnsafeMutablePointer(to: &spare) { stream.next_out = $0 }
                    stream.avail_out = 1
                    produced += 1
                }
            }
            status = CZlib.inflate(&stream, Z_NO_FLUSH)
            if status == Z_BUF_ERROR, stream.avail_in == 0, consumed == compressed.count { break }
            if Int(stream.total_out) > size { break }  // ran past the declared size: refused below
        }
        let total = Int(stream.total_out)
        guard total <= size else {
            throw CheckpointError(
                path, "zip member \"\(member)\" inflates to more than the \(size) bytes its directory entry declares")
        }
        guard status == Z_STREAM_END else {
            let reason = status == Z_DATA_ERROR ? "the compressed data is damaged" : "the compressed data ends early"
            throw CheckpointError(path, "zip member \"\(member)\": \(reason) (\(total) of \(size) bytes inflated)")
        }
        guard total == size else {
            throw CheckpointError(
                path,
                """
                zip member \"\(member)\" inflates to \(total > size ? "more than" : "\(total) bytes, not") the \
                \(size) bytes its directory entry declares
                """
            )
        }
        return output
    }

    /// The contents of a single-member gzip file (`.gz`), its size from the trailer.
    /// - Throws: `CheckpointError`: `.notFound` or `.unreadable` when the file cannot be read; `.malformed` when it
    ///   is not gzip, its deflate stream is damaged or it inflates to another size than its trailer says.
    public static func gunzip(path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(
                path, FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file",
                kind: FileManager.default.fileExists(atPath: path) ? .unreadable : .notFound)
        }
        guard data.count >= 18, data[data.startIndex] == 0x1f, data[data.startIndex + 1] == 0x8b else {
            throw CheckpointError(path, "is not a gzip file")
        }
        let size = data.suffix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return try data.withUnsafeBytes { bytes in
            let buffer = try inflate(bytes, size: size, member: "gzip stream", path: path, gzip: true)
            return Array(buffer.bytes)
        }
    }

    static func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var value = UInt(crc)
        var offset = 0
        while offset < bytes.count {
            let chunk = min(1 << 30, bytes.count - offset)
            value = CZlib.crc32(
                value, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(chunk))
            offset += chunk
        }
        return UInt32(truncatingIfNeeded: value)
    }
}
