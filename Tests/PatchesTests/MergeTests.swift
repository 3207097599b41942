import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

struct MergeTests {
    /// A base of two F32 tensors and two tuned copies changing given elements of "a" (and,
    /// for the second, all of "b"); the patches from the base to each.
    static func setUp(first: [Int], second: [Int], _ label: String = #function) throws -> (
        folder: String, base: String, p1: String, p2: String, t1: [UInt8], t2: [UInt8]
    ) {
        let folder = try PatchFixtures.scratchFolder(label)
        var random = RandomSource(seed: 12)
        let a = random.bytes(100 * 4)
        let b = random.bytes(8 * 4)
        func changed(_ bytes: [UInt8], _ elements: [Int], _ salt: UInt8) -> [UInt8] {
            var out = bytes
            for e in elements {
                out[e * 4] ^= salt
                out[e * 4 + 3] ^= 0x01
            }
            return out
        }
        let t1 = changed(a, first, 0x11)
        let t2 = changed(a, second, 0x22)
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.f32, [100], a)), ("b", PatchFixtures.tensor(.f32, [8], b))],
            to: folder + "/base.safetensors")
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.f32, [100], t1)), ("b", PatchFixtures.tensor(.f32, [8], b))],
            to: folder + "/t1.safetensors")
        try PatchFixtures.write(
            [
                ("a", PatchFixtures.tensor(.f32, [100], t2)),
                ("b", PatchFixtures.tensor(.f32, [8], changed(b, Array(0..<8), 0x33))),
            ], to: folder + "/t2.safetensors")
        let base = try Checkpoint.open(folder + "/base.safetensors")
        _ = try PatchCreator.create(
            base: base, tuned: Checkpoint.open(folder + "/t1.safetensors"), to: folder + "/p1.spatch")
        _ = try PatchCreator.create(
            base: base, tuned: Checkpoint.open(folder + "/t2.safetensors"), to: folder + "/p2.spatch")
        return (folder, folder + "/base.safetensors", folder + "/p1.spatch", folder + "/p2.spatch", t1, t2)
    }

    @Test func disjointMergeEqualsApplyingOneAfterAnother() throws {
        let s = try Self.setUp(first: [0, 1, 2, 40], second: [50, 51, 99])
        let patches = try [PatchFile.open(s.p1), PatchFile.open(s.p2)]
        let summary = try PatchMerger.merge(
            patches, base: Checkpoint.open(s.base), method: .disjoint, metadata: [], to: s.folder + "/m.spatch")
        #expect(summary.overlappingElements == 0 && summary.changedElements == 4 + 3 + 8)
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.folder + "/m.spatch")],
            to: s.folder + "/merged.safetensors")
        // Siblings on disjoint elements apply together, without --force, to the same bytes.
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: patches, to: s.folder + "/sequential.safetensors")
        let merged = try Checkpoint.open(s.folder + "/merged.safetensors")
        let sequential = try Checkpoint.open(s.folder + "/sequential.safetensors")
        #expect(CheckpointDiff.compare(merged, sequential).isIdentical)
        // The merged patch reverts exactly, and names its parents.
        try PatchApplier.run(
            .revert, model: merged, patches: [PatchFile.open(s.folder + "/m.spatch")],
            to: s.folder + "/reverted.safetensors")
        #expect(
            CheckpointDiff.compare(try Checkpoint.open(s.folder + "/reverted.safetensors"), try Checkpoint.open(s.base))
                .isIdentical)
        let parents = try PatchFile.open(s.folder + "/m.spatch").header.metadataValue("merge.parents")
        #expect(parents == JSONValue.array(patches.map { .string($0.id) }).serialized)
    }

    @Test func disjointRefusesOverlapNamingTensorsAndCounts() throws {
        let s = try Self.setUp(first: [0, 1, 2], second: [2, 3, 1])
        do {
            _ = try PatchMerger.merge(
                [PatchFile.open(s.p1), PatchFile.open(s.p2)], base: Checkpoint.open(s.base), method: .disjoint,
                metadata: [], to: s.folder + "/m.spatch")
            Issue.record("overlap accepted")
        } catch let error as MergeOverlapError {
            #expect(
                error.tensors.map(\.name) == ["a"] && error.tensors.map(\.elements) == [2]
                    && error.tensors.map(\.patches) == [[0, 1]])
        }
        #expect(!FileManager.default.fileExists(atPath: s.folder + "/m.spatch"))
    }

    @Test func priorityLetsTheLaterPatchWin() throws {
        let s = try Self.setUp(first: [0, 1, 2], second: [2, 3])
        _ = try PatchMerger.merge(
            [PatchFile.open(s.p1), PatchFile.open(s.p2)], base: Checkpoint.open(s.base), method: .priority,
            metadata: [], to: s.folder + "/m.spatch")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.folder + "/m.spatch")],
            to: s.folder + "/out.safetensors")
        let a = try Checkpoint.open(s.folder + "/out.safetensors").view(named: "a").withBytes { Array($0) }
        let base = try Checkpoint.open(s.base).view(named: "a").withBytes { Array($0) }
        for element in 0..<100 {
            let range = (element * 4)..<(element * 4 + 4)
            let expected = Array(s.t2[range]) != Array(base[range]) ? Array(s.t2[range]) : Array(s.t1[range])
            #expect(Array(a[range]) == expected, "element \(element)")
        }
    }

    @Test func planCountsSharedElementsAndJaccard() throws {
        let s = try Self.setUp(first: [0, 1, 2], second: [2, 3])
        let (counts, overlaps) = try PatchMerger.plan([PatchFile.open(s.p1), PatchFile.open(s.p2)])
        #expect(counts == [3, 2 + 8])
        #expect(overlaps.count == 1 && overlaps[0].shared == 1)
        #expect(abs(overlaps[0].jaccard - 1.0 / 12.0) < 1e-12)
        #expect(overlaps[0].perTensor.map(\.0) == ["a"])
    }

    @Test func planListsTensorsInUTF8ByteOrder() throws {
        // "a" + combining ring (U+030A) sorts before "b" by bytes, after it as a String (which
        // compares the composed "å", U+00E5).
        let folder = try PatchFixtures.scratchFolder()
        let names = ["b", "a\u{30A}"]
        #expect("a\u{30A}" > "b")
        let base = names.map { ($0, ArithmeticMergeTests.floats([1, 2])) }
        let tuned = names.map { ($0, ArithmeticMergeTests.floats([1, 3])) }
        try PatchFixtures.write(base, to: folder + "/base.safetensors")
        try PatchFixtures.write(tuned, to: folder + "/t.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/base.safetensors"), tuned: Checkpoint.open(folder + "/t.safetensors"),
            to: folder + "/p.spatch")
        let (_, overlaps) = try PatchMerger.plan([
            PatchFile.open(folder + "/p.spatch"), PatchFile.open(folder + "/p.spatch"),
        ])
        #expect(overlaps.first?.perTensor.map(\.0) == ["a\u{30A}", "b"])
    }

    @Test func patchesFromDifferentBasesAndMasksAreRefused() throws {
        let s = try Self.setUp(first: [0], second: [5])
        // A patch made against t1 instead of the base.
        _ = try PatchCreator.create(
            base: Checkpoint.open(s.folder + "/t1.safetensors"), tuned: Checkpoint.open(s.folder + "/t2.safetensors"),
            to: s.folder + "/other.spatch")
        #expect(throws: PatchError.self) {
            try PatchMerger.merge(
                [PatchFile.open(s.p1), PatchFile.open(s.folder + "/other.spatch")], base: Checkpoint.open(s.base),
                method: .priority, metadata: [], to: s.folder + "/m.spatch")
        }
        try MaskWriter.write(
            positions: [("a", [1])], base: Checkpoint.open(s.base), metadata: [], to: s.folder + "/mask.spatch")
        #expect(throws: PatchError.self) {
            try PatchMerger.merge(
                [PatchFile.open(s.p1), PatchFile.open(s.folder + "/mask.spatch")], base: Checkpoint.open(s.base),
                method: .priority, metadata: [], to: s.folder + "/m.spatch")
        }
        #expect(!FileManager.default.fileExists(atPath: s.folder + "/m.spatch"))
    }

    @Test func mergeIsDeterministic() throws {
        let s = try Self.setUp(first: [0, 7], second: [7, 9])
        for name in ["x", "y"] {
            _ = try PatchMerger.merge(
                [PatchFile.open(s.p1), PatchFile.open(s.p2)], base: Checkpoint.open(s.base), method: .priority,
                metadata: [("created", "fixed")], to: s.folder + "/\(name).spatch")
        }
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: s.folder + "/x.spatch"))
                == Data(contentsOf: URL(fileURLWithPath: s.folder + "/y.spatch")))
    }
}
