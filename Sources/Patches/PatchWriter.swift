import Checkpoints
import Crypto
import Dispatch
import Foundation
import Tensors

/// An entry before compression: its description and its raw streams.
struct PendingEntry: Sendable {
    let name: String
    let operation: EntryOperation
    let before: TensorState?
    let after: TensorState?
    let nnz: Int
    let indexEncoding: IndexEncoding?
    let streams: [(FrameRole, [UInt8])]
    /// Required for `xor` entries (format version 2).
    var atPositions: PositionFingerprints? = nil
}

/// Compresses entries and writes `.spatch` files atomically.
enum PatchWriter {
    struct CompressedEntry: Sendable {
        let pending: PendingEntry
        let frames: [(FrameRole, [UInt8], Int)]  // role, stored bytes, raw length
    }

    /// Compresses every stream of every entry, entries in parallel.
    static func compress(_ entries: [PendingEntry], level: Int32 = PatchFormat.compressionLevel) throws
        -> [CompressedEntry]
    {
        let results = ResultSlots<CompressedEntry>(count: entries.count)
        DispatchQueue.concurrentPerform(iterations: entries.count) { i in
            results.set(
                i,
                Result {
                    let entry = entries[i]
                    let frames = try entry.streams.map { role, raw in
                        (role, try raw.withUnsafeBytes { try Zstd.compress($0, level: level) }, raw.count)
                    }
                    return CompressedEntry(pending: entry, frames: frames)
                })
        }
        return try results.values()
    }

    /// Writes a patch or mask of `entries` (already compressed) to `path`.
    /// `version` is `PatchFormat.version` except in tests that need a file of an older version
    /// (version 1 has no `at_positions`).
    static func write(
        kind: PatchKind, metadata: [(String, String)], entries: [CompressedEntry], to path: String,
        version: Int = PatchFormat.version
    ) throws {
        var offset = 0
        var described: [PatchEntry] = []
        for entry in entries {
            var hasher = SHA256()
            var references: [(FrameRole, FrameReference)] = []
            for (role, stored, raw) in entry.frames {
                stored.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                references.append((role, FrameReference(offset: offset, length: stored.count, rawLength: raw)))
                offset += stored.count
            }
            let p = entry.pending
            described.append(
                PatchEntry(
                    name: p.name, operation: p.operation, before: p.before, after: p.after, nnz: p.nnz,
                    indexEncoding: p.indexEncoding, frames: references,
                    checksum: hasher.finalize().map { String(format: "%02x", $0) }.joined(),
                    atPositions: version >= 2 ? p.atPositions : nil))
        }
        // Every patch says which base it belongs to (a mask's entries carry the same states).
        let recorded = kind == .patch ? BaseProvenance.recording(metadata, entries: described) : metadata
        let header = PatchHeader(kind: kind, version: version, metadata: recorded, entries: described)
        let json = Array(header.json.serialized.utf8)
        var length = UInt64(json.count).littleEndian
        let file = try AtomicFile(path: path)
        do {
            try file.write(PatchFormat.magic)
            try withUnsafeBytes(of: &length) { try file.write($0) }
            try file.write(json)
            for entry in entries {
                for (_, stored, _) in entry.frames { try file.write(stored) }
            }
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }
}

/// Results of a concurrent loop, one slot per iteration; the first error wins.
final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [Result<T, Error>?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<T, Error>) {
        lock.lock()
        slots[index] = result
        lock.unlock()
    }

    func values() throws -> [T] {
        try slots.map { slot in
            guard let slot else { preconditionFailure("concurrent loop left a slot empty") }
            return try slot.get()
        }
    }
}
