import Foundation
import Tensors

/// Crash safety for editing a checkpoint file in place.
///
/// Before the first byte of the file changes, the journal `FILE.scalpel-undo` is written and
/// synced: the file's size, its original header bytes, and for every element about to change,
/// its position and original bytes. Then the edit is made and synced, and only then is the
/// journal removed. If the process dies in between, the journal is still there, and the next
/// `Checkpoint.open` of the file puts every recorded byte back before reading it (restoring is
/// idempotent, so a crash during a restore is repaired by the next one).
///
/// Journal layout: magic `\x89SCUNDO\n`, u64 LE header length, JSON header, zstd frames.
public enum InPlaceJournal {
    /// Elements of one tensor that the edit will change.
    public struct Region: Sendable {
        /// Absolute byte offset of the tensor's data in the file.
        public let offset: Int
        public let elementSize: Int
        /// Sorted flat element indices.
        public let positions: [Int]

        public init(offset: Int, elementSize: Int, positions: [Int]) {
            self.offset = offset
            self.elementSize = elementSize
            self.positions = positions
        }
    }

    static let magic: [UInt8] = [0x89] + Array("SCUNDO".utf8) + [0x0A]

    /// Called with a message after a file was restored from its journal (the command line
    /// prints it on stderr, so the user learns that an earlier edit did not finish).
    nonisolated(unsafe) public static var onRecovery: (@Sendable (String) -> Void)?

    public static func path(for file: String) -> String { file + ".scalpel-undo" }

    /// Writes and syncs the journal for `regions` and the header range of `file`.
    public static func record(_ file: MappedFile, headerLength: Int, regions: [Region]) throws {
        var frames: [[UInt8]] = []
        func frame(_ raw: [UInt8]) throws -> JSONValue {
            let stored = try raw.withUnsafeBytes { try Zstd.compress($0, level: 1) }
            let offset = frames.reduce(0) { $0 + $1.count }
            frames.append(stored)
            return .object([("offset", .integer(offset)), ("length", .integer(stored.count)), ("size", .integer(raw.count))])
        }
        let headerFrame = try frame(Array(file.bytes[0..<(8 + headerLength)]))
        var described: [JSONValue] = []
        for region in regions {
            var positions: [UInt8] = []
            var previous = 0
            for p in region.positions {
                Varint.append(UInt64(p - previous), to: &positions)
                previous = p
            }
            var values = [UInt8](repeating: 0, count: region.positions.count * region.elementSize)
            for (k, p) in region.positions.enumerated() {
                let start = region.offset + p * region.elementSize
                for b in 0..<region.elementSize { values[k * region.elementSize + b] = file.bytes[start + b] }
            }
            described.append(.object([
                ("offset", .integer(region.offset)), ("element_size", .integer(region.elementSize)),
                ("count", .integer(region.positions.count)),
                ("positions", try frame(positions)), ("values", try frame(values)),
            ]))
        }
        let header = JSONValue.object([
            ("version", .integer(1)), ("target_size", .integer(file.size)),
            ("header", headerFrame), ("regions", .array(described)),
        ])
        let json = Array(header.serialized.utf8)
        var length = UInt64(json.count).littleEndian
        let journal = try AtomicFile(path: path(for: file.path))
        do {
            try journal.write(magic)
            try withUnsafeBytes(of: &length) { try journal.write($0) }
            try journal.write(json)
            for stored in frames { try journal.write(stored) }
            try journal.commit()
        } catch {
            journal.discard()
            throw error
        }
    }

    /// Removes the journal once the edit is synced.
    public static func finish(_ file: String) {
        unlink(path(for: file))
        AtomicFile.syncFolder(containing: file)
    }

    /// Restores `file` from its journal if one is there; returns whether it did.
    @discardableResult
    public static func recoverIfNeeded(_ file: String) throws -> Bool {
        let journalPath = path(for: file)
        guard FileManager.default.fileExists(atPath: journalPath) else { return false }
        func fail(_ problem: String) -> CheckpointError {
            CheckpointError(file, "an interrupted in-place edit left \(journalPath), which cannot be used: \(problem); restore the file from a copy and delete the journal")
        }
        let journal = try MappedFile(path: journalPath)
        let bytes = journal.bytes
        guard bytes.count >= 16, Array(bytes.prefix(8)) == magic else { throw fail("not a Scalpel undo journal") }
        let length = Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
        guard length <= bytes.count - 16 else { throw fail("truncated") }
        let header = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[16..<(16 + length)]))
        let dataStart = 16 + length
        func frame(_ value: JSONValue?) throws -> [UInt8] {
            guard let offset = value?["offset"]?.intValue, let stored = value?["length"]?.intValue,
                  let size = value?["size"]?.intValue, offset >= 0, stored >= 0, dataStart + offset + stored <= bytes.count else {
                throw fail("a frame is out of range")
            }
            return try Zstd.decompress(UnsafeRawBufferPointer(rebasing: bytes[(dataStart + offset)..<(dataStart + offset + stored)]), expectedSize: size)
        }
        let target = try MappedFile(path: file, writable: true)
        guard header["target_size"]?.intValue == target.size else { throw fail("the file's size changed since") }
        let out = target.mutableBytes
        for region in header["regions"]?.arrayValue ?? [] {
            guard let offset = region["offset"]?.intValue, let size = region["element_size"]?.intValue,
                  let count = region["count"]?.intValue, size > 0 else { throw fail("a region is malformed") }
            let positions = try frame(region["positions"]), values = try frame(region["values"])
            guard values.count == count * size else { throw fail("a region's values do not match its count") }
            var cursor = 0, previous = 0
            try positions.withUnsafeBytes { raw in
                for k in 0..<count {
                    guard let delta = Varint.read(raw, &cursor) else { throw fail("a region's positions are malformed") }
                    let element = previous + Int(delta)
                    previous = element
                    let start = offset + element * size
                    guard start >= 0, start + size <= target.size else { throw fail("a position is out of range") }
                    for b in 0..<size { out[start + b] = values[k * size + b] }
                }
            }
        }
        let original = try frame(header["header"])
        guard original.count <= target.size else { throw fail("the header is out of range") }
        for (i, byte) in original.enumerated() { out[i] = byte }
        try target.sync()
        finish(file)
        onRecovery?("\(file): an earlier in-place edit did not finish; the original bytes were restored from \(journalPath)")
        return true
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
