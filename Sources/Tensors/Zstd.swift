import CZstd

/// Single-frame zstd compression: patch data sections are sequences of independently
/// decodable frames, so one call compresses or restores one frame.
public enum Zstd {
    /// Compresses `input` into one zstd frame (RFC 8878) at `level` (3 is zstd's default).
    /// - Throws: `TensorError` when zstd reports a failure.
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 3) throws -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { destination in
            ZSTD_compress(destination.baseAddress, bound, input.baseAddress, input.count, level)
        }
        if ZSTD_isError(written) != 0 {
            throw TensorError("zstd compression failed: \(errorName(written))")
        }
        output.removeSubrange(written...)
        return output
    }

    /// The most bytes one stored byte of zstd data can decompress to. A block holds at most
    /// 128 KiB (RFC 8878 § 3.1.1.2.4), and the smallest block that yields that much is an RLE
    /// block: a 3-byte header and the 1 byte it repeats. Frame headers only lower the ratio.
    public static let maximumExpansion = (128 << 10) / 4

    /// Whether `stored` bytes of zstd frames can decompress to `size` bytes. Sizes read from a
    /// file are checked with this before any memory is reserved for them: a size beyond it is
    /// a damaged or hostile header, whatever the machine's memory.
    public static func canExpand(stored: Int, to size: Int) -> Bool {
        guard stored >= 0, size >= 0 else { return false }
        let (bound, overflow) = stored.multipliedReportingOverflow(by: maximumExpansion)
        return overflow || size <= bound
    }

    /// Decompresses one frame that must expand to exactly `expectedSize` bytes. A frame that
    /// is corrupt, truncated, or of another size is an error, never a partial result; so is an
    /// `expectedSize` that `frame` cannot reach (`canExpand`), before any memory is reserved.
    /// - Throws: `TensorError` when the frame cannot reach or does not declare `expectedSize`, has a bad
    ///   header, is corrupt or truncated, or expands to another size.
    public static func decompress(_ frame: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        guard canExpand(stored: frame.count, to: expectedSize) else {
            throw TensorError(
                """
                a zstd frame of \(frame.count) bytes cannot expand to \(expectedSize) bytes (at most \
                \(maximumExpansion) times its size)
                """
            )
        }
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        if declared == ZSTD_CONTENTSIZE_ERROR {
            throw TensorError("not a zstd frame (bad magic or header)")
        }
        if declared != ZSTD_CONTENTSIZE_UNKNOWN, declared != UInt64(expectedSize) {
            throw TensorError("zstd frame declares \(declared) bytes, expected \(expectedSize)")
        }
        var output = [UInt8](repeating: 0, count: expectedSize)
        let produced = output.withUnsafeMutableBytes { destination in
            ZSTD_decompress(destination.baseAddress, expectedSize, frame.baseAddress, frame.count)
        }
        if ZSTD_isError(produced) != 0 {
            throw TensorError("zstd frame is corrupt: \(errorName(produced))")
        }
        if produced != expectedSize {
            throw TensorError("zstd frame expanded to \(produced) bytes, expected \(expectedSize)")
        }
        return output
    }

    /// The version of the linked zstd library (its `ZSTD_versionString`).
    public static var version: String { String(cString: ZSTD_versionString()) }

    private static func errorName(_ code: Int) -> String {
        String(cString: ZSTD_getErrorName(code))
    }
}
