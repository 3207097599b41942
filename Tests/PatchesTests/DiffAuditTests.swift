import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

struct DiffAuditTests {
    static func floats(_ values: [Float]) -> TensorView {
        TensorView.make(dtype: .f32, shape: [values.count]) { buffer in
            values.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
    }

    @Test func diffStatisticsMatchHandComputedValues() throws {
        let folder = try PatchFixtures.scratchFolder()
        // a = [1, 2, 2, 0], b = [1, 2, 2, 1]: one change of +1; ‖a‖ = 3, a·b = 9, ‖b‖ = √10.
        try PatchFixtures.write(
            [
                ("w", Self.floats([1, 2, 2, 0])), ("same", Self.floats([5])), ("gone", Self.floats([1])),
                ("retyped", Self.floats([1, 2])),
            ], to: folder + "/a.safetensors")
        try PatchFixtures.write(
            [
                ("w", Self.floats([1, 2, 2, 1])), ("same", Self.floats([5])), ("new", Self.floats([1])),
                ("retyped", PatchFixtures.tensor(.f16, [2], [0, 0x3C, 0, 0x40])),
            ], to: folder + "/b.safetensors")
        let d = CheckpointDiff.compare(
            try Checkpoint.open(folder + "/a.safetensors"), try Checkpoint.open(folder + "/b.safetensors"))
        let w = try #require(d.tensors.first { $0.name == "w" })
        #expect(w.changed == 1)
        #expect(w.fraction == 0.25)
        #expect(w.l2 == 1 && w.maxAbs == 1)
        #expect(abs((w.relative ?? 0) - 1.0 / 3.0) < 1e-12)
        #expect(abs((w.cosine ?? 0) - 9.0 / (3.0 * 10.0.squareRoot())) < 1e-12)
        #expect(d.tensors.first { $0.name == "same" }?.changed == 0)
        #expect(d.onlyInA.map(\.name) == ["gone"] && d.onlyInB.map(\.name) == ["new"])
        #expect(d.typeChanges.map(\.0) == ["retyped"])
        #expect(!d.isIdentical && d.changedElements == 1)
    }

    @Test func auditFindsCorruptionAndBaseMismatchesAndComputesDeltas() throws {
        let folder = try PatchFixtures.scratchFolder()
        try PatchFixtures.write(
            [("w", Self.floats([1, 2, 3, 4])), ("v", Self.floats([0, 0]))], to: folder + "/a.safetensors")
        try PatchFixtures.write(
            [("w", Self.floats([1, 2.5, 3, 3])), ("v", Self.floats([0, 1]))], to: folder + "/b.safetensors")
        let base = try Checkpoint.open(folder + "/a.safetensors")
        _ = try PatchCreator.create(
            base: base, tuned: Checkpoint.open(folder + "/b.safetensors"), to: folder + "/p.spatch")
        let audits = PatchAuditor.audit(try PatchFile.open(folder + "/p.spatch"), base: base)
        let w = try #require(audits.first { $0.entry.name == "w" })
        #expect(w.integrityProblem == nil && w.fingerprint == .matches)
        #expect(w.delta?.maxAbs == 1)
        #expect(abs((w.delta?.l2 ?? 0) - 1.25.squareRoot()) < 1e-12)
        #expect(w.delta?.positiveShare == 0.5)

        // Against the tuned model the fingerprints do not match.
        let wrong = PatchAuditor.audit(
            try PatchFile.open(folder + "/p.spatch"), base: try Checkpoint.open(folder + "/b.safetensors"))
        #expect(wrong.allSatisfy { $0.fingerprint != .matches })

        // A flipped byte in the data section fails that entry only.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/p.spatch"))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: folder + "/corrupt.spatch"))
        let corrupt = PatchAuditor.audit(try PatchFile.open(folder + "/corrupt.spatch"), base: nil)
        #expect(corrupt.filter { $0.integrityProblem != nil }.count == 1)
    }
}
