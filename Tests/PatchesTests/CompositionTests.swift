import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

/// Several patches on one model: siblings (made against the same base), patches already
/// applied, `--force`, and patches of format version 1.
struct CompositionTests {
    static func bytes(_ path: String, _ name: String) throws -> [UInt8] {
        try Checkpoint.open(path).view(named: name).withBytes { Array($0) }
    }

    static func apply(_ base: String, _ patches: [String], policy: CompositionPolicy = .strict, to output: String)
        throws -> PatchApplier.Summary
    {
        try PatchApplier.run(
            .apply, model: Checkpoint.open(base), patches: patches.map(PatchFile.open), policy: policy, to: output)
    }

    /// The same patch written as format version 1 (no position fingerprints), as Scalpel
    /// wrote patches before version 2.
    static func versionOne(_ path: String, to output: String) throws -> String {
        let patch = try PatchFile.open(path)
        let pending = try patch.entries.map { entry in
            PendingEntry(
                name: entry.name, operation: entry.operation, before: entry.before, after: entry.after, nnz: entry.nnz,
                indexEncoding: entry.indexEncoding,
                streams: try entry.frames.map { ($0.0, try patch.decompress(entry, $0.0)) })
        }
        try PatchWriter.write(
            kind: .patch, metadata: patch.header.metadata, entries: PatchWriter.compress(pending), to: output,
            version: 1)
        return output
    }

    @Test func siblingsOnDisjointElementsApplyTogetherExactlyAsTheirDisjointMerge() throws {
        let s = try MergeTests.setUp(first: [0, 1, 40], second: [50, 51, 99])
        let together = s.folder + "/together.safetensors"
        let summary = try Self.apply(s.base, [s.p1, s.p2], to: together)
        #expect(
            summary.notes.count == 1 && summary.notes[0].contains("\"a\"")
                && summary.notes[0].contains("applied together exactly"), "\(summary.notes)")
        _ = try PatchMerger.merge(
            [PatchFile.open(s.p1), PatchFile.open(s.p2)], base: Checkpoint.open(s.base), method: .disjoint,
            metadata: [], to: s.folder + "/m.spatch")
        try Self.apply(s.base, [s.folder + "/m.spatch"], to: s.folder + "/merged.safetensors")
        #expect(
            CheckpointDiff.compare(try Checkpoint.open(together), try Checkpoint.open(s.folder + "/merged.safetensors"))
                .isIdentical)
        // Every element as the patch that changed it has it.
        var expected = try Self.bytes(s.base, "a")
        for e in [0, 1, 40] { expected.replaceSubrange((e * 4)..<(e * 4 + 4), with: s.t1[(e * 4)..<(e * 4 + 4)]) }
        for e in [50, 51, 99] { expected.replaceSubrange((e * 4)..<(e * 4 + 4), with: s.t2[(e * 4)..<(e * 4 + 4)]) }
        #expect(try Self.bytes(together, "a") == expected)
        // The record lists both, and --base takes either one out again.
        let ids = try [PatchFile.open(s.p1).id, PatchFile.open(s.p2).id]
        #expect(AppliedPatches.read(try Checkpoint.open(together).metadata) == ids)
        for (out, other) in [(s.p1, s.p2), (s.p2, s.p1)] {
            let reverted = s.folder + "/without.safetensors"
            let alone = s.folder + "/alone.safetensors"
            try PatchReverter.revert(
                model: Checkpoint.open(together), patch: PatchFile.open(out), base: Checkpoint.open(s.base),
                to: reverted)
            try Self.apply(s.base, [other], to: alone)
            #expect(CheckpointDiff.compare(try Checkpoint.open(reverted), try Checkpoint.open(alone)).isIdentical)
            try FileManager.default.removeItem(atPath: reverted)
            try FileManager.default.removeItem(atPath: alone)
        }
        // The reference reader (position fingerprints) gives the same bytes.
        let python = try PatchFixtures.runPython([
            PatchFixtures.referenceReader, "apply", s.base, s.p1, s.p2, s.folder + "/python.safetensors",
        ])
        try #require(python.status == 0, "\(python.output)")
        #expect(try Self.bytes(s.folder + "/python.safetensors", "a") == expected)
        // Evaluation on top of patches sees the same tensors.
        let inMemory = try PatchApplier.patchedTensors(
            model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p1), PatchFile.open(s.p2)])
        #expect(inMemory["a"].map { Array($0.bytes) } == expected)
    }

    @Test func siblingsInPlaceGiveTheSameBytes() throws {
        let s = try MergeTests.setUp(first: [3, 7], second: [8, 9])
        try Self.apply(s.base, [s.p1, s.p2], to: s.folder + "/written.safetensors")
        // A file with header room (written by apply), then both siblings in place.
        let target = s.folder + "/target.safetensors"
        try PatchApplier.run(.apply, model: Checkpoint.open(s.base), patches: [], to: target)
        try InPlaceApplier.apply(target, patches: [PatchFile.open(s.p1), PatchFile.open(s.p2)])
        for name in ["a", "b"] {
            #expect(try Self.bytes(target, name) == Self.bytes(s.folder + "/written.safetensors", name))
        }
    }

    @Test func overlappingSiblingsAreRefusedWithCountsAndTheMergeCommand() throws {
        let s = try MergeTests.setUp(first: [0, 1, 2], second: [2, 1, 60])
        for policy in [CompositionPolicy.strict, .force] {
            do {
                try Self.apply(s.base, [s.p1, s.p2], policy: policy, to: s.folder + "/out.safetensors")
                Issue.record("overlapping siblings were applied (\(policy))")
            } catch {
                let text = "\(error)"
                #expect(text.contains("\(s.p1) and \(s.p2): 2 shared elements in 1 tensor"), "\(text)")
                #expect(text.contains("\"a\": 2"), "\(text)")
                #expect(
                    text.contains("scalpel merge \(s.p1) \(s.p2) --base \(s.base) --method METHOD -o merged.spatch"),
                    "\(text)")
                for method in MergeMethod.allCases where method != .disjoint {
                    #expect(text.contains("  \(method.rawValue) ") && text.contains(method.meaning), "\(method)")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: s.folder + "/out.safetensors"))
        }
        // In place: refused before the file changes.
        let target = s.folder + "/target.safetensors"
        try PatchApplier.run(.apply, model: Checkpoint.open(s.base), patches: [], to: target)
        let before = try Data(contentsOf: URL(fileURLWithPath: target))
        #expect(throws: PatchError.self) {
            try InPlaceApplier.apply(target, patches: [PatchFile.open(s.p1), PatchFile.open(s.p2)])
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == before)
        // What the message proposes works.
        _ = try PatchMerger.merge(
            [PatchFile.open(s.p1), PatchFile.open(s.p2)], base: Checkpoint.open(s.base), method: .sum,
            metadata: [], to: s.folder + "/merged.spatch")
        try Self.apply(s.base, [s.folder + "/merged.spatch"], to: s.folder + "/merged.safetensors")
    }

    @Test func aPatchTheModelCarriesIsReportedAndNeverUndone() throws {
        let s = try MergeTests.setUp(first: [0, 1], second: [5, 6])
        let v1 = s.folder + "/v1.safetensors"
        try Self.apply(s.base, [s.p1], to: v1)
        #expect {
            try Self.apply(v1, [s.p1], to: s.folder + "/twice.safetensors")
        } throws: { error in
            guard let error = error as? AlreadyAppliedError else { return false }
            return error.patches == [s.p1] && "\(error)".contains("record lists it")
        }
        #expect {
            try Self.apply(v1, [s.p1], policy: .force, to: s.folder + "/twice.safetensors")
        } throws: { $0 is AlreadyAppliedError }
        // Listed with a patch that is not applied yet: still nothing written.
        #expect {
            try Self.apply(v1, [s.p1, s.p2], to: s.folder + "/twice.safetensors")
        } throws: { "\($0)".contains("apply the others alone") }
        #expect(!FileManager.default.fileExists(atPath: s.folder + "/twice.safetensors"))
        // Composed with a sibling, the tensor matches neither patch's fingerprint: the
        // elements' fingerprints still recognise it.
        let both = s.folder + "/both.safetensors"
        try Self.apply(s.base, [s.p1, s.p2], to: both)
        #expect { try Self.apply(both, [s.p2], to: s.folder + "/twice.safetensors") } throws: {
            $0 is AlreadyAppliedError
        }
        // The tuned model itself carries no record, but holds every result.
        let tuned = s.folder + "/tuned.safetensors"
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.f32, [100], s.t1)), ("b", Checkpoint.open(s.base).view(named: "b"))], to: tuned
        )
        #expect { try Self.apply(tuned, [s.p1], to: s.folder + "/twice.safetensors") } throws: {
            "\($0)".contains("already has the fingerprint it produces")
        }
    }

    @Test func aChainOnTopOfComposedSiblingsApplies() throws {
        let s = try MergeTests.setUp(first: [0, 1], second: [5, 6])
        let both = s.folder + "/both.safetensors"
        try Self.apply(s.base, [s.p1, s.p2], to: both)
        // P3 trained on base + P1 + P2.
        var a = try Self.bytes(both, "a")
        a[80] ^= 0x44
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.f32, [100], a)), ("b", Checkpoint.open(both).view(named: "b"))],
            to: s.folder + "/t3.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(both), tuned: Checkpoint.open(s.folder + "/t3.safetensors"),
            to: s.folder + "/p3.spatch")
        try Self.apply(s.base, [s.p1, s.p2, s.folder + "/p3.spatch"], to: s.folder + "/three.safetensors")
        #expect(try Self.bytes(s.folder + "/three.safetensors", "a") == a)
    }

    @Test func versionOnePatchesStillApplyAndComposeOnlyWhereThatCanBeChecked() throws {
        let s = try MergeTests.setUp(first: [0, 1, 2], second: [10, 11])
        let old1 = try Self.versionOne(s.p1, to: s.folder + "/old1.spatch")
        let old2 = try Self.versionOne(s.p2, to: s.folder + "/old2.spatch")
        #expect(
            try PatchFile.open(old1).header.version == 1
                && PatchFile.open(old1).entries.allSatisfy { $0.atPositions == nil })
        // Alone, and as siblings on disjoint elements (checked against the base they share).
        try Self.apply(s.base, [old1], to: s.folder + "/one.safetensors")
        try Self.apply(s.base, [s.p1], to: s.folder + "/new.safetensors")
        #expect(try Self.bytes(s.folder + "/one.safetensors", "a") == Self.bytes(s.folder + "/new.safetensors", "a"))
        try Self.apply(s.base, [old1, old2], to: s.folder + "/both-old.safetensors")
        try Self.apply(s.base, [s.p1, s.p2], to: s.folder + "/both-new.safetensors")
        #expect(
            try Self.bytes(s.folder + "/both-old.safetensors", "a")
                == Self.bytes(s.folder + "/both-new.safetensors", "a"))
        // Onto a tensor that differs elsewhere: the elements cannot be checked, so not even --force.
        var a = try Self.bytes(s.base, "a")
        a[4 * 70] ^= 0x10
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.f32, [100], a)), ("b", Checkpoint.open(s.base).view(named: "b"))],
            to: s.folder + "/other.safetensors")
        #expect {
            try Self.apply(s.folder + "/other.safetensors", [old1], policy: .force, to: s.folder + "/out.safetensors")
        } throws: { "\($0)".contains("format version 1") && "\($0)".contains("--force or not") }
        // The version 2 patch goes on with --force, exactly.
        let summary = try Self.apply(
            s.folder + "/other.safetensors", [s.p1], policy: .force, to: s.folder + "/out.safetensors")
        #expect(summary.notes.count == 1)
        var expected = try Self.bytes(s.folder + "/new.safetensors", "a")
        expected[4 * 70] ^= 0x10
        #expect(try Self.bytes(s.folder + "/out.safetensors", "a") == expected)
    }

    @Test func forcedRevertChecksTheElementsThePatchChanged() throws {
        let s = try MergeTests.setUp(first: [0, 1], second: [5])
        let v1 = s.folder + "/v1.safetensors"
        try Self.apply(s.base, [s.p1], to: v1)
        // Another change to "a", elsewhere: revert --force restores exactly P1's elements.
        var a = try Self.bytes(v1, "a")
        a[4 * 30] ^= 0x08
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.f32, [100], a)), ("b", Checkpoint.open(v1).view(named: "b"))],
            to: s.folder + "/edited.safetensors")
        try PatchApplier.run(
            .revert, model: Checkpoint.open(s.folder + "/edited.safetensors"), patches: [PatchFile.open(s.p1)],
            policy: .force,
            to: s.folder + "/reverted.safetensors")
        var expected = try Self.bytes(s.base, "a")
        expected[4 * 30] ^= 0x08
        #expect(try Self.bytes(s.folder + "/reverted.safetensors", "a") == expected)
        // One of P1's own elements changed since: refused, --force or not.
        a[0] ^= 0x08
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.f32, [100], a)), ("b", Checkpoint.open(v1).view(named: "b"))],
            to: s.folder + "/clash.safetensors")
        #expect {
            try PatchApplier.run(
                .revert, model: Checkpoint.open(s.folder + "/clash.safetensors"), patches: [PatchFile.open(s.p1)],
                policy: .force,
                to: s.folder + "/no.safetensors")
        } throws: { "\($0)".contains("do not hold the bits") }
        #expect(!FileManager.default.fileExists(atPath: s.folder + "/no.safetensors"))
    }
}
