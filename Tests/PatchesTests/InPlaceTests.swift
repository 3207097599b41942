import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

struct InPlaceTests {
    /// A base written by `apply` (so its header has room), a values-only patch, and the tuned model.
    static func setUp(_ label: String = #function) throws -> (
        folder: String, base: String, patch: String, tuned: PatchFixtures.Model
    ) {
        let folder = try PatchFixtures.scratchFolder(label)
        let (_, tuned) = try PatchFixtures.writeRandomPair(
            seed: 41, fraction: 0.1, structural: false, in: folder,
            baseName: "original.safetensors", tunedName: "tuned.safetensors")
        let empty = folder + "/empty.spatch"
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/original.safetensors"),
            tuned: Checkpoint.open(folder + "/original.safetensors"), to: empty)
        // Rewriting through apply (an empty patch) gives the same tensors and a roomy header.
        try PatchApplier.run(
            .apply, model: Checkpoint.open(folder + "/original.safetensors"), patches: [PatchFile.open(empty)],
            to: folder + "/base.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/base.safetensors"), tuned: Checkpoint.open(folder + "/tuned.safetensors"),
            to: folder + "/p.spatch")
        return (folder, folder + "/base.safetensors", folder + "/p.spatch", tuned)
    }

    @Test func inPlaceApplyIsExactAndRecordsThePatch() throws {
        let (folder, base, patchPath, tuned) = try Self.setUp()
        let before = try FileManager.default.attributesOfItem(atPath: base)[.size] as? Int
        let patch = try PatchFile.open(patchPath)
        try InPlaceApplier.apply(base, patches: [patch])
        #expect(try PatchFixtures.matches(base, tuned))
        #expect(try FileManager.default.attributesOfItem(atPath: base)[.size] as? Int == before)
        #expect(AppliedPatches.read(try Checkpoint.open(base).metadata).last == patch.id)
        #expect(!FileManager.default.fileExists(atPath: InPlaceJournal.path(for: base)))
        // And it reverts exactly to a new file.
        try PatchApplier.run(
            .revert, model: Checkpoint.open(base), patches: [patch], to: folder + "/reverted.safetensors")
        #expect(
            CheckpointDiff.compare(
                try Checkpoint.open(folder + "/reverted.safetensors"),
                try Checkpoint.open(folder + "/original.safetensors")
            ).isIdentical)
    }

    @Test func inPlaceRefusesWhatItCannotDoWithoutTouchingTheFile() throws {
        let (folder, base, patchPath, _) = try Self.setUp()
        let pristine = try Data(contentsOf: URL(fileURLWithPath: base))
        // A patch that adds and removes tensors.
        var random = RandomSource(seed: 2)
        let checkpoint = try Checkpoint.open(base)
        let structural = PatchFixtures.tuned(
            checkpoint.tensors.map { ($0.name, checkpoint.view($0)) }, fraction: 0.1, structural: true, &random)
        try PatchFixtures.write(structural, to: folder + "/structural.safetensors")
        _ = try PatchCreator.create(
            base: checkpoint, tuned: Checkpoint.open(folder + "/structural.safetensors"), to: folder + "/s.spatch")
        #expect(throws: PatchError.self) {
            try InPlaceApplier.apply(base, patches: [PatchFile.open(folder + "/s.spatch")])
        }
        // A patch the file already carries: reported, never undone by a second XOR.
        try InPlaceApplier.apply(base, patches: [PatchFile.open(patchPath)])
        let applied = try Data(contentsOf: URL(fileURLWithPath: base))
        do {
            try InPlaceApplier.apply(base, patches: [PatchFile.open(patchPath)])
            Issue.record("applied twice")
        } catch {
            #expect(error is AlreadyAppliedError && "\(error)".contains("already applied"), "\(error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: base)) == applied)
        // A header without room (written by the Python-compatible writer) unless --no-record.
        let tight = folder + "/original.safetensors"
        let tightBytes = try Data(contentsOf: URL(fileURLWithPath: tight))
        let original = try Checkpoint.open(tight)
        _ = try PatchCreator.create(
            base: original, tuned: Checkpoint.open(folder + "/tuned.safetensors"), to: folder + "/t.spatch")
        do {
            try InPlaceApplier.apply(tight, patches: [PatchFile.open(folder + "/t.spatch")])
            Issue.record("recorded without room")
        } catch {
            #expect("\(error)".contains("no room in the header"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: tight)) == tightBytes)
        try InPlaceApplier.apply(tight, patches: [PatchFile.open(folder + "/t.spatch")], record: false)
        #expect(
            CheckpointDiff.compare(try Checkpoint.open(tight), try Checkpoint.open(folder + "/tuned.safetensors"))
                .isIdentical)
        _ = pristine
    }

    /// A model in the middle of an in-place edit, and its genuine journal, as a crash after the
    /// journal is synced and part of the edit is made leaves them: the journal is written, then
    /// the recorded elements and the header are scribbled over.
    static func interruptedEdit(_ label: String = #function) throws -> (
        model: String, original: [UInt8], edited: [UInt8], journal: [UInt8]
    ) {
        let (_, base, patchPath, _) = try setUp(label)
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: base)))
        let checkpoint = try Checkpoint.open(base)
        let patch = try PatchFile.open(patchPath)
        let regions = try patch.entries.map { entry in
            let tensor = try #require(checkpoint.entry(named: entry.name))
            return InPlaceJournal.Region(
                offset: tensor.offset, elementSize: tensor.dtype.size, positions: try patch.positions(entry))
        }
        let mapping = try MappedFile(path: base, writable: true)
        try InPlaceJournal.record(mapping, headerLength: checkpoint.files[0].headerLength, regions: regions)
        for region in regions {
            for p in region.positions { mapping.mutableBytes[region.offset + p * region.elementSize] ^= 0xFF }
        }
        mapping.mutableBytes[20] = UInt8(ascii: "#")
        try mapping.sync()
        return (
            base, original, Array(try Data(contentsOf: URL(fileURLWithPath: base))),
            Array(try Data(contentsOf: URL(fileURLWithPath: InPlaceJournal.path(for: base))))
        )
    }

    @Test func aJournalLeftBehindRestoresTheOriginalBytes() throws {
        let (base, original, edited, journal) = try Self.interruptedEdit()
        #expect(edited != original)
        // Version 2 (Formats/undo-journal.md): closed by the SHA-256 of everything before it.
        #expect(Array(journal.prefix(8)) == InPlaceJournal.magic)
        #expect(Array(journal[16...].prefix(13)) == Array(#"{"version":2,"#.utf8))
        var checksum = StreamingSHA256()
        checksum.update(Array(journal.dropLast(32)))
        #expect(Array(journal.suffix(32)) == checksum.digest())
        // The next open restores the file.
        let reopened = try Checkpoint.open(base)
        #expect(reopened.recoveredInterruptedEdit)
        #expect(try Data(contentsOf: URL(fileURLWithPath: base)) == Data(original))
        #expect(!FileManager.default.fileExists(atPath: InPlaceJournal.path(for: base)))
    }
}

struct PositionUnionTests {
    @Test func unionMergesSortedListsWithoutDuplicates() {
        #expect(InPlaceApplier.union([1, 4, 9], [2, 4, 10, 11]) == [1, 2, 4, 9, 10, 11])
        #expect(InPlaceApplier.union([], [3]) == [3])
        #expect(InPlaceApplier.union([5], []) == [5])
    }
}
