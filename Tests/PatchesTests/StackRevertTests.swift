import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

/// `revert` on a patch further down a model's stack of applied patches.
struct StackRevertTests {
    static func bytes(_ path: String, _ name: String) throws -> [UInt8] {
        try Checkpoint.open(path).view(named: name).withBytes { Array($0) }
    }

    static func identical(_ a: String, _ b: String) throws -> Bool {
        CheckpointDiff.compare(try Checkpoint.open(a), try Checkpoint.open(b)).isIdentical
    }

    @Test func theLastPatchOfAStackRevertsToTheModelBeforeIt() throws {
        let s = try MergeTests.setUp(first: [0, 1], second: [1, 2])
        // P2 made against base + P1, as a continual sequence makes it.
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p1)], to: s.folder + "/v1.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(s.folder + "/v1.safetensors"), tuned: Checkpoint.open(s.folder + "/t2.safetensors"),
            to: s.folder + "/p12.spatch")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.folder + "/v1.safetensors"),
            patches: [PatchFile.open(s.folder + "/p12.spatch")], to: s.folder + "/v2.safetensors")
        try PatchReverter.revert(
            model: Checkpoint.open(s.folder + "/v2.safetensors"), patch: PatchFile.open(s.folder + "/p12.spatch"),
            to: s.folder + "/back.safetensors")
        #expect(try Self.identical(s.folder + "/back.safetensors", s.folder + "/v1.safetensors"))
        #expect(
            AppliedPatches.read(try Checkpoint.open(s.folder + "/back.safetensors").metadata) == [
                try PatchFile.open(s.p1).id
            ])
    }

    @Test func aPatchUnderAnotherRevertsWhenTheLaterOneTouchesOtherElements() throws {
        // P1 changes a[0], a[1]; P2 (against base + P1) changes a[5] and all of b.
        let s = try MergeTests.setUp(first: [0, 1], second: [5])
        let v2 = s.folder + "/v2.safetensors"
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p1)], to: s.folder + "/v1.safetensors")
        let later = s.folder + "/later.spatch"
        // t2 holds a[5] and b changed; with a[0], a[1] from t1 it is base + P1 + (a[5], b).
        var a = try Self.bytes(s.folder + "/v1.safetensors", "a")
        a.replaceSubrange(20..<24, with: s.t2[20..<24])
        try PatchFixtures.write(
            [
                ("a", PatchFixtures.tensor(.f32, [100], a)),
                ("b", Checkpoint.open(s.folder + "/t2.safetensors").view(named: "b")),
            ], to: s.folder + "/t12.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(s.folder + "/v1.safetensors"), tuned: Checkpoint.open(s.folder + "/t12.safetensors"),
            to: later)
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.folder + "/v1.safetensors"), patches: [PatchFile.open(later)], to: v2)

        // Without the later patch the model alone cannot show that the elements differ.
        #expect {
            try PatchReverter.revert(
                model: Checkpoint.open(v2), patch: PatchFile.open(s.p1), to: s.folder + "/out.safetensors")
        } throws: { "\($0)".contains("\"a\": changed since the patch was applied") && "\($0)".contains("--later") }
        #expect(!FileManager.default.fileExists(atPath: s.folder + "/out.safetensors"))

        try PatchReverter.revert(
            model: Checkpoint.open(v2), patch: PatchFile.open(s.p1), later: [PatchFile.open(later)],
            to: s.folder + "/out.safetensors")
        var expected = try Self.bytes(s.base, "a")
        expected.replaceSubrange(20..<24, with: s.t2[20..<24])
        #expect(try Self.bytes(s.folder + "/out.safetensors", "a") == expected)
        #expect(try Self.bytes(s.folder + "/out.safetensors", "b") == Self.bytes(v2, "b"))
        #expect(
            AppliedPatches.read(try Checkpoint.open(s.folder + "/out.safetensors").metadata) == [
                try PatchFile.open(later).id
            ])
    }

    @Test func aLaterPatchOnTheSameElementsIsRefusedWithTheCount() throws {
        let s = try MergeTests.setUp(first: [0, 1], second: [1, 2])
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p1)], to: s.folder + "/v1.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(s.folder + "/v1.safetensors"), tuned: Checkpoint.open(s.folder + "/t2.safetensors"),
            to: s.folder + "/p12.spatch")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.folder + "/v1.safetensors"),
            patches: [PatchFile.open(s.folder + "/p12.spatch")], to: s.folder + "/v2.safetensors")
        #expect {
            try PatchReverter.revert(
                model: Checkpoint.open(s.folder + "/v2.safetensors"), patch: PatchFile.open(s.p1),
                later: [PatchFile.open(s.folder + "/p12.spatch")], to: s.folder + "/out.safetensors")
        } throws: { "\($0)".contains("changed 2 of the 2 elements this patch changed") }
        #expect(!FileManager.default.fileExists(atPath: s.folder + "/out.safetensors"))
    }

    @Test func withTheBaseAPatchMadeAgainstItComesOutOfAStackExactly() throws {
        // P1 and P2 both made against the base (siblings, disjoint elements), applied together.
        let s = try MergeTests.setUp(first: [0, 1], second: [2, 3])
        let model = s.folder + "/model.safetensors"
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p1), PatchFile.open(s.p2)], to: model)
        #expect {
            try PatchReverter.revert(
                model: Checkpoint.open(model), patch: PatchFile.open(s.p2), to: s.folder + "/out.safetensors")
        } throws: { "\($0)".contains("--base BASE") }
        try PatchReverter.revert(
            model: Checkpoint.open(model), patch: PatchFile.open(s.p2), base: Checkpoint.open(s.base),
            to: s.folder + "/out.safetensors")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p1)], to: s.folder + "/v1.safetensors")
        #expect(try Self.identical(s.folder + "/out.safetensors", s.folder + "/v1.safetensors"))
        // P1 out of the same stack, from under P2, leaves base + P2.
        try PatchReverter.revert(
            model: Checkpoint.open(model), patch: PatchFile.open(s.p1), base: Checkpoint.open(s.base),
            to: s.folder + "/out2.safetensors")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p2)], to: s.folder + "/v2.safetensors")
        #expect(try Self.identical(s.folder + "/out2.safetensors", s.folder + "/v2.safetensors"))
    }

    @Test func withTheBaseAPatchComesOutFromUnderALaterOneOnTheSameElements() throws {
        // base → P1 (a[0], a[1]) → P12 (made against base + P1, changes a[1], a[2]): taking
        // P1 out with --base leaves base XOR P12's changes, as the record's XORs say.
        let s = try MergeTests.setUp(first: [0, 1], second: [1, 2])
        let v1 = s.folder + "/v1.safetensors"
        let v2 = s.folder + "/v2.safetensors"
        try PatchApplier.run(.apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p1)], to: v1)
        _ = try PatchCreator.create(
            base: Checkpoint.open(v1), tuned: Checkpoint.open(s.folder + "/t2.safetensors"),
            to: s.folder + "/p12.spatch")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(v1), patches: [PatchFile.open(s.folder + "/p12.spatch")], to: v2)
        try PatchReverter.revert(
            model: Checkpoint.open(v2), patch: PatchFile.open(s.p1), base: Checkpoint.open(s.base),
            to: s.folder + "/out.safetensors")
        let base = try Self.bytes(s.base, "a")
        let first = try Self.bytes(v1, "a")
        let second = try Self.bytes(v2, "a")
        // v2 with P1's XOR (base ^ v1) taken out
        let expected = (0..<base.count).map { base[$0] ^ first[$0] ^ second[$0] }
        #expect(try Self.bytes(s.folder + "/out.safetensors", "a") == expected)
    }

    @Test func aPatchNotInTheRecordOrNotMadeAgainstTheBaseIsRefused() throws {
        let s = try MergeTests.setUp(first: [0, 1], second: [1, 2])
        let v1 = s.folder + "/v1.safetensors"
        try PatchApplier.run(.apply, model: Checkpoint.open(s.base), patches: [PatchFile.open(s.p1)], to: v1)
        #expect {
            try PatchReverter.revert(
                model: Checkpoint.open(v1), patch: PatchFile.open(s.p2), to: s.folder + "/out.safetensors")
        } throws: { "\($0)".contains("was not applied to") }
        // A stack base → P1 → P12 (made against base + P1): P12 was not made against the base.
        _ = try PatchCreator.create(
            base: Checkpoint.open(v1), tuned: Checkpoint.open(s.folder + "/t2.safetensors"),
            to: s.folder + "/p12.spatch")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(v1), patches: [PatchFile.open(s.folder + "/p12.spatch")],
            to: s.folder + "/v2.safetensors")
        // A third patch, made against v2, changes a[50]: "a" is then not what P12 left.
        var a = try Self.bytes(s.folder + "/v2.safetensors", "a")
        a[200] ^= 0x5A
        try PatchFixtures.write(
            [
                ("a", PatchFixtures.tensor(.f32, [100], a)),
                ("b", Checkpoint.open(s.folder + "/v2.safetensors").view(named: "b")),
            ], to: s.folder + "/t3.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(s.folder + "/v2.safetensors"), tuned: Checkpoint.open(s.folder + "/t3.safetensors"),
            to: s.folder + "/p3.spatch")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(s.folder + "/v2.safetensors"),
            patches: [PatchFile.open(s.folder + "/p3.spatch")], to: s.folder + "/v3.safetensors")
        #expect {
            try PatchReverter.revert(
                model: Checkpoint.open(s.folder + "/v3.safetensors"), patch: PatchFile.open(s.folder + "/p12.spatch"),
                base: Checkpoint.open(s.base), to: s.folder + "/out.safetensors")
        } throws: { "\($0)".contains("was not made against the base") }
        #expect(!FileManager.default.fileExists(atPath: s.folder + "/out.safetensors"))
    }
}
