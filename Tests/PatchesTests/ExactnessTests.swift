import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

/// apply(base, create(base, tuned)) == tuned and revert(apply(base, p), p) == base, bit for
/// bit, over random models of every dtype.
struct ExactnessTests {
    @Test(arguments: [(1, 0.01, false), (2, 0.1, true), (3, 0.5, false), (4, 1.0, true), (5, 0.0, false)])
    func applyAndRevertAreExact(seed: Int, fraction: Double, structural: Bool) throws {
        var random = RandomSource(seed: UInt64(seed))
        let base = PatchFixtures.randomModel(&random)
        let tuned = PatchFixtures.tuned(base, fraction: fraction, structural: structural, &random)
        let folder = try PatchFixtures.scratchFolder()
        let (basePath, tunedPath, patchPath) = (
            folder + "/base.safetensors", folder + "/tuned.safetensors", folder + "/p.spatch"
        )
        try PatchFixtures.write(base, to: basePath)
        try PatchFixtures.write(tuned, to: tunedPath)

        let summary = try PatchCreator.create(
            base: Checkpoint.open(basePath), tuned: Checkpoint.open(tunedPath), to: patchPath)
        if fraction == 0 { #expect(summary.entryCount == 0) }

        let applied = folder + "/applied.safetensors"
        try PatchApplier.run(
            .apply, model: Checkpoint.open(basePath), patches: [PatchFile.open(patchPath)], to: applied)
        #expect(try PatchFixtures.matches(applied, tuned))

        let reverted = folder + "/reverted.safetensors"
        try PatchApplier.run(
            .revert, model: Checkpoint.open(applied), patches: [PatchFile.open(patchPath)], to: reverted)
        #expect(try PatchFixtures.matches(reverted, base))
        #expect(AppliedPatches.read(try Checkpoint.open(reverted).metadata).isEmpty)
        #expect(AppliedPatches.read(try Checkpoint.open(applied).metadata) == [try PatchFile.open(patchPath).id])
    }

    @Test func everyElementChangedUsesTheBitmapAndStaysExact() throws {
        var random = RandomSource(seed: 9)
        let base: PatchFixtures.Model = [("w", PatchFixtures.tensor(.f32, [64, 64], random.bytes(64 * 64 * 4)))]
        let tuned: PatchFixtures.Model = [
            (
                "w",
                TensorView.make(dtype: .f32, shape: [64, 64]) { out in
                    for i in 0..<(64 * 64 * 4) { out[i] = base[0].1.bytes[i] ^ (i % 4 == 0 ? 1 : 0) }
                }
            )
        ]
        let folder = try PatchFixtures.scratchFolder()
        try PatchFixtures.write(base, to: folder + "/b.safetensors")
        try PatchFixtures.write(tuned, to: folder + "/t.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/b.safetensors"), tuned: Checkpoint.open(folder + "/t.safetensors"),
            to: folder + "/p.spatch")
        let patch = try PatchFile.open(folder + "/p.spatch")
        #expect(patch.entries.first?.indexEncoding == .bitmap)
        #expect(patch.entries.first?.nnz == 64 * 64)
        try PatchApplier.run(
            .apply, model: Checkpoint.open(folder + "/b.safetensors"), patches: [patch], to: folder + "/a.safetensors")
        #expect(try PatchFixtures.matches(folder + "/a.safetensors", tuned))
    }

    @Test func patchesApplyInOrderAndChain() throws {
        var random = RandomSource(seed: 21)
        let base = PatchFixtures.randomModel(&random)
        let first = PatchFixtures.tuned(base, fraction: 0.05, structural: false, &random)
        let second = PatchFixtures.tuned(first, fraction: 0.05, structural: true, &random)
        let folder = try PatchFixtures.scratchFolder()
        for (model, name) in [(base, "b"), (first, "f"), (second, "s")] {
            try PatchFixtures.write(model, to: folder + "/\(name).safetensors")
        }
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/b.safetensors"), tuned: Checkpoint.open(folder + "/f.safetensors"),
            to: folder + "/p1.spatch")
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/f.safetensors"), tuned: Checkpoint.open(folder + "/s.safetensors"),
            to: folder + "/p2.spatch")
        let patches = try [PatchFile.open(folder + "/p1.spatch"), PatchFile.open(folder + "/p2.spatch")]
        try PatchApplier.run(
            .apply, model: Checkpoint.open(folder + "/b.safetensors"), patches: patches, to: folder + "/out.safetensors"
        )
        #expect(try PatchFixtures.matches(folder + "/out.safetensors", second))
        #expect(AppliedPatches.read(try Checkpoint.open(folder + "/out.safetensors").metadata) == patches.map(\.id))
        // In the wrong order the chain is broken, and nothing is written.
        #expect(throws: PatchError.self) {
            try PatchApplier.run(
                .apply, model: Checkpoint.open(folder + "/b.safetensors"), patches: patches.reversed(),
                to: folder + "/wrong.safetensors")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/wrong.safetensors"))
    }

    @Test func sameInputsGiveTheSamePatchBytes() throws {
        let folder = try PatchFixtures.scratchFolder()
        try PatchFixtures.writeRandomPair(seed: 5, fraction: 0.2, structural: true, in: folder)
        for name in ["one", "two"] {
            _ = try PatchCreator.create(
                base: Checkpoint.open(folder + "/b.safetensors"), tuned: Checkpoint.open(folder + "/t.safetensors"),
                options: .init(metadata: [("task", "x")]), to: folder + "/\(name).spatch")
        }
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: folder + "/one.spatch"))
                == Data(contentsOf: URL(fileURLWithPath: folder + "/two.spatch")))
    }

    @Test func theReferenceReaderReproducesApplyAndRevert() throws {
        let folder = try PatchFixtures.scratchFolder()
        let (base, _) = try PatchFixtures.writeRandomPair(seed: 77, fraction: 0.3, structural: true, in: folder)
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/b.safetensors"), tuned: Checkpoint.open(folder + "/t.safetensors"),
            to: folder + "/p.spatch")
        try PatchApplier.run(
            .apply, model: Checkpoint.open(folder + "/b.safetensors"), patches: [PatchFile.open(folder + "/p.spatch")],
            to: folder + "/scalpel.safetensors")

        let applied = try PatchFixtures.runPython([
            PatchFixtures.referenceReader, "apply", folder + "/b.safetensors", folder + "/p.spatch",
            folder + "/python.safetensors",
        ])
        try #require(applied.status == 0, "\(applied.output)")
        let ours = try Checkpoint.open(folder + "/scalpel.safetensors")
        let theirs = try Checkpoint.open(folder + "/python.safetensors")
        #expect(Set(ours.tensors.map(\.name)) == Set(theirs.tensors.map(\.name)))
        for entry in ours.tensors {
            #expect(try theirs.view(named: entry.name).isBitwiseEqual(to: ours.view(entry)), "\(entry.name)")
        }

        let reverted = try PatchFixtures.runPython([
            PatchFixtures.referenceReader, "revert", folder + "/scalpel.safetensors", folder + "/p.spatch",
            folder + "/python-reverted.safetensors",
        ])
        try #require(reverted.status == 0, "\(reverted.output)")
        #expect(try PatchFixtures.matches(folder + "/python-reverted.safetensors", base))

        let info = try PatchFixtures.runPython([PatchFixtures.referenceReader, "info", folder + "/p.spatch"])
        #expect(info.output.contains(try PatchFile.open(folder + "/p.spatch").id))
    }
}
