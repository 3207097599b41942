import Foundation
import Tensors

/// Crash safety for editing a checkpoint file in place.
///
/// Before the first byte of the file changes, the journal `FILE.scalpel-undo` is written and
/// synced: the file's size, its original header bytes, and for every element about to change,
/// its position and original bytes, closed by a SHA-256 of all of it. Then the edit is made
/// and synced, and only then is the journal removed. If the process dies in between, the
/// journal is still there, and the next `Checkpoint.open` of the file puts every recorded byte
/// back before reading it (restoring is idempotent, so a crash during a restore is repaired by
/// the next one).
///
/// A journal is trusted only once it is verified whole: its checksum, then every length,
/// offset and count in it against the journal and the file (`InPlaceJournalReader`). One that
/// fails is a refusal that changes nothing, neither the file nor the journal, and says what
/// the user can do. Layout: Formats/undo-journal.md.
public enum InPlaceJournal {
    /// Elements of one tensor that the edit will change.
    public struct Region: Sendable {
        /// Absolute byte offset of the tensor's data in the file.
        public let offset: Int
        /// Bytes per element of the tensor's dtype.
        public let elementSize: Int
        /// Sorted flat element indices.
        public let positions: [Int]

        /// The elements at `positions` (sorted flat indices) of a tensor whose data starts at byte `offset`.
        public init(offset: Int, elementSize: Int, positions: [Int]) {
            self.offset = offset
            self.elementSize = elementSize
            self.positions = positions
        }
    }

    static let magic: [UInt8] = [0x89] + Array("SCUNDO".utf8) + [0x0A]
    /// 2 added the trailing checksum; version 1 journals (none) are refused, unverifiable.
    static let version = 2
    /// magic (8) + header length (u64).
    static let prefixLength = 16
    /// The SHA-256 that closes the journal.
    static let checksumLength = 32

    /// Called with a message after a file was restored from its journal (the command line
    /// prints it on stderr, so the user learns that an earlier edit did not finish).
    nonisolated(unsafe) public static var onRecovery: (@Sendable (String) -> Void)?

    /// The journal's path for `file`: `FILE.scalpel-undo`, beside it.
    public static func path(for file: String) -> String { file + ".scalpel-undo" }

    /// Writes and syncs the journal for `regions` and the header range of `file`
    /// (Formats/undo-journal.md, version 2).
    /// - Throws: `CheckpointError` when the journal cannot be written (nothing is left then).
    public static func record(_ file: MappedFile, headerLength: Int, regions: [Region]) throws {
        var frames: [[UInt8]] = []
        var dataLength = 0
        func frame(_ raw: [UInt8]) throws -> JSONValue {
            let stored = try raw.withUnsafeBytes { try Zstd.compress($0, level: 1) }
            let offset = dataLength
            frames.append(stored)
            dataLength += stored.count
            return .object([
                ("offset", .integer(offset)), ("length", .integer(stored.count)), ("size", .integer(raw.count)),
            ])
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
            described.append(
                .object([
                    ("offset", .integer(region.offset)), ("element_size", .integer(region.elementSize)),
                    ("count", .integer(region.positions.count)),
                    ("positions", try frame(positions)), ("values", try frame(values)),
                ]))
        }
        let header = JSONValue.object([
            ("version", .integer(version)), ("target_size", .integer(file.size)),
            ("header", headerFrame), ("regions", .array(described)),
        ])
        let json = Array(header.serialized.utf8)
        var length = UInt64(json.count).littleEndian
        let prefix = magic + withUnsafeBytes(of: &length) { Array($0) }
        var checksum = StreamingSHA256()
        let journal = try AtomicFile(path: path(for: file.path))
        do {
            for part in [prefix, json] + frames {
                checksum.update(part)
                try journal.write(part)
            }
            try journal.write(checksum.digest())
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
    ///
    /// The journal is verified whole (checksum, then every length, offset and count against
    /// the journal and the file) before the first byte of `file` is written.
    /// - Throws: `CheckpointError` when a journal is there but cannot be used (damaged, of
    ///   the unverifiable version 1, of a newer version, or not for this file), leaving the
    ///   file and the journal as they were; or when the restored bytes cannot be written.
    @discardableResult
    public static func recoverIfNeeded(_ file: String) throws -> Bool {
        let journalPath = path(for: file)
        guard FileManager.default.fileExists(atPath: journalPath) else { return false }
        let journal: MappedFile
        do {
            journal = try MappedFile(path: journalPath)
        } catch {
            throw refusal(file, journalPath, "it cannot be read (\(error))")
        }
        let targetSize: Int
        do {
            targetSize = try MappedFile(path: file).size
        } catch {
            throw CheckpointError(
                file,
                """
                an in-place edit of this file did not finish and left its journal \(journalPath), but the file \
                cannot be read (\(error))
                """
            )
        }
        let restoration: InPlaceJournalReader.Restoration
        do {
            restoration = try InPlaceJournalReader.read(journal.bytes, targetSize: targetSize)
        } catch {
            throw refusal(file, journalPath, error.description)
        }

        let target: MappedFile
        do {
            target = try MappedFile(path: file, writable: true)
        } catch {
            throw CheckpointError(
                file,
                """
                an in-place edit of this file did not finish, and its journal \(journalPath) holds the original \
                bytes, but the file cannot be opened for writing to restore them (\(error)); make it writable and \
                run the command again
                """
            )
        }
        guard target.size == restoration.targetSize else {
            throw refusal(
                file, journalPath, "it is for a file of \(restoration.targetSize) bytes and this one has \(target.size)"
            )
        }
        let out = target.mutableBytes
        for region in restoration.regions {
            let size = region.elementSize
            for (k, element) in region.positions.enumerated() {
                let start = region.offset + element * size
                for b in 0..<size { out[start + b] = region.values[k * size + b] }
            }
        }
        for (i, byte) in restoration.header.enumerated() { out[i] = byte }
        try target.sync()
        finish(file)
        onRecovery?(
            "\(file): an earlier in-place edit did not finish; the original bytes were restored from \(journalPath)")
        return true
    }

    /// The refusal of an unusable journal: what happened, that nothing changed, and the
    /// choices the user has, since only they know whether the edit had started.
    static func refusal(_ file: String, _ journal: String, _ problem: String) -> CheckpointError {
        CheckpointError(
            file,
            """
            an in-place edit of this file did not finish, and its undo journal \(journal) cannot be used: \
            \(problem). Nothing was changed: the file and the journal are as they were. The file may hold part of \
            that edit, so its values cannot be trusted: replace it with a copy of the original (and apply the \
            patches again if you want them), then delete the journal; or, if you know the edit never started or \
            had finished, delete the journal to use the file as it is
            """,
            kind: .corrupt)
    }
}
