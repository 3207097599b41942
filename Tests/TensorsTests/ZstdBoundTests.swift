import Foundation
import Testing

@testable import Tensors

/// Sizes read from files are bounded by what their stored zstd bytes can expand to
/// (`Zstd.canExpand`), never by the machine's memory.
struct ZstdBoundTests {
    @Test func zstdSizesAreBoundedByWhatTheStoredBytesCanExpandTo() throws {
        // The most compressible input there is stays within the bound.
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let frame = try zeros.withUnsafeBytes { try Zstd.compress($0, level: 19) }
        #expect(Zstd.canExpand(stored: frame.count, to: zeros.count))
        #expect(try frame.withUnsafeBytes { try Zstd.decompress($0, expectedSize: zeros.count) } == zeros)
        // A size beyond it is refused before any memory is reserved for it.
        #expect(!Zstd.canExpand(stored: 10, to: 10 * 32768 + 1) && Zstd.canExpand(stored: 10, to: 10 * 32768))
        #expect(!Zstd.canExpand(stored: -1, to: 0) && !Zstd.canExpand(stored: 1, to: -1))
        #expect(Zstd.canExpand(stored: Int.max, to: Int.max))
        #expect {
            try frame.withUnsafeBytes { try Zstd.decompress($0, expectedSize: Int.max) }
        } throws: { error in
            "\(error)"
                == "a zstd frame of \(frame.count) bytes cannot expand to \(Int.max) bytes (at most 32768 times its size)"
        }
    }
}
