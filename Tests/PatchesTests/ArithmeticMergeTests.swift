import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

/// The arithmetic merges on small hand-computed cases (every expected value is exact in F32).
struct ArithmeticMergeTests {
    typealias Setup = (folder: String, base: Checkpoint, patches: [PatchFile])

    static func floats(_ values: [Float]) -> TensorView {
        TensorView.make(dtype: .f32, shape: [values.count]) { buffer in
            values.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
    }

    /// A base with tensor "a" = `base` (and an I32 tensor no patch touches), and one patch per
    /// tuned version of "a".
    static func setUp(base: [Float], tuned: [[Float]], _ label: String = #function) throws -> Setup {
        let folder = try PatchFixtures.scratchFolder(label)
        let ids = PatchFixtures.tensor(.i32, [2], [1, 0, 0, 0, 2, 0, 0, 0])
        try PatchFixtures.write([("a", floats(base)), ("ids", ids)], to: folder + "/b.safetensors")
        let baseCheckpoint = try Checkpoint.open(folder + "/b.safetensors")
        var patches: [PatchFile] = []
        for (i, values) in tuned.enumerated() {
            try PatchFixtures.write([("a", floats(values)), ("ids", ids)], to: folder + "/t\(i).safetensors")
            _ = try PatchCreator.create(
                base: baseCheckpoint, tuned: Checkpoint.open(folder + "/t\(i).safetensors"),
                to: folder + "/p\(i).spatch")
            patches.append(try PatchFile.open(folder + "/p\(i).spatch"))
        }
        return (folder, baseCheckpoint, patches)
    }

    /// base a = [1, 2, 3, 4]; t1 moves a[1] by +0.5; t2 moves a[1] by +1 and a[3] by +1.
    static func twoPatches(_ label: String = #function) throws -> Setup {
        try setUp(base: [1, 2, 3, 4], tuned: [[1, 2.5, 3, 4], [1, 3, 3, 5]], label)
    }

    /// Deltas: t1 (+1, +2, −1, 0), t2 (+3, −3, 0, +1), t3 (−1, −0.5, 0, 0) on a base 1…6.
    static func threePatches(_ label: String = #function) throws -> Setup {
        try setUp(
            base: [1, 2, 3, 4, 5, 6], tuned: [[2, 4, 2, 4, 5, 6], [4, -1, 3, 5, 5, 6], [0, 1.5, 3, 4, 5, 6]], label)
    }

    static func result(
        _ s: Setup, _ method: MergeMethod, _ parameters: MergeParameters = MergeParameters(),
        name: String = "m"
    ) throws -> [Float] {
        let merged = s.folder + "/\(name).spatch"
        _ = try PatchMerger.merge(
            s.patches, base: s.base, method: method, parameters: parameters, metadata: [], to: merged)
        try PatchApplier.run(
            .apply, model: s.base, patches: [PatchFile.open(merged)], to: s.folder + "/\(name).safetensors")
        return try Checkpoint.open(s.folder + "/\(name).safetensors").view(named: "a").floatValues()
    }

    @Test func sumIsTaskArithmetic() throws {
        let s = try Self.twoPatches()
        #expect(try Self.result(s, .sum) == [1, 3.5, 3, 5])
        // λ = 0.5, w = (2, 1): a[1] = 2 + 0.5 · (2 · 0.5 + 1) = 3; a[3] = 4 + 0.5 · 1 = 4.5.
        #expect(try Self.result(s, .sum, MergeParameters(weights: [2, 1], lambda: 0.5)) == [1, 3, 3, 4.5])
    }

    @Test func meanAveragesOverThePatchesThatTouchEachElement() throws {
        let s = try Self.twoPatches()
        #expect(try Self.result(s, .mean) == [1, 2.75, 3, 5])
    }

    @Test func tiesElectsTheSignAndAveragesTheAgreeingDeltas() throws {
        let s = try Self.threePatches()
        // a[0]: +1, +3, −1 → Σ = 3, agreeing +1 and +3 → +2. a[1]: +2, −3, −0.5 → Σ = −1.5,
        // agreeing −3 and −0.5 → −1.75. a[2], a[3]: one patch each.
        #expect(try Self.result(s, .ties) == [3, 0.25, 2, 5, 5, 6])
        // w = (2, 1, 1), λ = 0.5. a[0]: 2, 3, −1 → (2 + 3) / (2 + 1) · 0.5; a[1]: 4, −3, −0.5 →
        // Σ = 0.5 ≥ 0, only 4 agrees → 4 / 2 · 0.5 = 1; a[2]: −2 / 2 · 0.5; a[3]: 1 / 1 · 0.5.
        let weighted = try Self.result(s, .ties, MergeParameters(weights: [2, 1, 1], lambda: 0.5), name: "w")
        #expect(weighted == [Float(1 + 5.0 / 3.0 * 0.5), 3, 2.5, 4.5, 5, 6])
    }

    @Test func tiesTrimsEachDeltaToItsLargestElements() throws {
        let s = try Self.threePatches()
        // density 0.34 of 6 elements keeps k = 2 per patch: t1 keeps +2 (a[1]) and one of its two
        // magnitudes 1 (a[0] or a[2], the lower rank in the seeded order); t2 keeps ±3; t3 keeps
        // both of its two. Keeping a[0]: a[0] = 1 + (1 + 3) / 2, a[2] stays 3; keeping a[2]:
        // a[0] = 1 + 3 (t3's −1 disagrees), a[2] = 3 − 1.
        func keepsFirst(_ seed: UInt64) -> Bool {
            let stream = SeededStream(seed: seed, patch: 0, tensor: "a")
            return stream.rank(0) < stream.rank(2)
        }
        let seeds = (0..<10).map { UInt64($0) }
        guard let first = seeds.first(where: keepsFirst), let second = seeds.first(where: { !keepsFirst($0) }) else {
            Issue.record("ten seeds all order a[0] and a[2] alike")
            return
        }
        #expect(
            try Self.result(s, .ties, MergeParameters(density: 0.34, seed: first), name: "first") == [
                3, 0.25, 3, 4, 5, 6,
            ])
        #expect(
            try Self.result(s, .ties, MergeParameters(density: 0.34, seed: second), name: "second") == [
                4, 0.25, 2, 4, 5, 6,
            ])
        // No --seed is seed 0.
        #expect(
            try Self.result(s, .ties, MergeParameters(density: 0.34), name: "default")
                == Self.result(s, .ties, MergeParameters(density: 0.34, seed: 0), name: "zero"))
    }

    @Test func dareDropsAtTheRequestedRateAndRescalesTheRest() throws {
        let count = 20_000
        let base = (0..<count).map { Float($0 % 97) }
        let s = try Self.setUp(base: base, tuned: [base.map { $0 + 0.25 }, base])
        let drop = 0.3
        let merged = try Self.result(s, .dare, MergeParameters(drop: drop, seed: 11))
        var kept = 0
        for (value, old) in zip(merged, base) {
            if value == old { continue }
            kept += 1
            #expect(value == Float(Double(old) + 0.25 / (1 - drop)))
        }
        // Binomial(20 000, 0.7): the standard deviation is 65 elements; allow five.
        #expect(abs(kept - Int(Double(count) * (1 - drop))) < 5 * 65, "kept \(kept)")
        // The same seed drops the same elements; another seed others.
        #expect(try Self.result(s, .dare, MergeParameters(drop: drop, seed: 11), name: "again") == merged)
        #expect(try Self.result(s, .dare, MergeParameters(drop: drop, seed: 12), name: "other") != merged)
    }

    @Test func dareWithoutDropIsSumAndDareTiesWithoutDropIsTies() throws {
        let s = try Self.threePatches()
        #expect(try Self.result(s, .dare, MergeParameters(drop: 0), name: "d") == Self.result(s, .sum, name: "s"))
        #expect(try Self.result(s, .dareTies, MergeParameters(drop: 0), name: "dt") == Self.result(s, .ties, name: "t"))
    }

    @Test func parametersAMethodDoesNotUseAreRefused() throws {
        let s = try Self.twoPatches()
        let refused: [(MergeMethod, MergeParameters, String)] = [
            (.sum, MergeParameters(weights: [1]), "1 weights for 2 patches"),
            (.priority, MergeParameters(lambda: 2), "--lambda applies to"),
            (.mean, MergeParameters(lambda: 2), "--lambda applies to"),
            (.sum, MergeParameters(density: 0.5), "--density applies to ties"),
            (.ties, MergeParameters(density: 0), "--density must be in (0, 1]"),
            (.ties, MergeParameters(drop: 0.5), "--drop applies to dare"),
            (.dare, MergeParameters(), "dare needs --drop"),
            (.dareTies, MergeParameters(drop: 1), "--drop must be in [0, 1)"),
            (.priority, MergeParameters(seed: 3), "--seed applies to"),
            (
                .ties, MergeParameters(seed: 3),
                "--seed with ties orders the elements tied at the trim's cut, so it needs --density below 1"
            ),
            (.ties, MergeParameters(density: 1, seed: 3), "needs --density below 1"),
            (.disjoint, MergeParameters(weights: [1, 1]), "--weights applies to"),
        ]
        for (method, parameters, message) in refused {
            do {
                _ = try PatchMerger.merge(
                    s.patches, base: s.base, method: method, parameters: parameters, metadata: [],
                    to: s.folder + "/x.spatch")
                Issue.record("\(method) accepted \(parameters)")
            } catch {
                // The message names the input patches, not the output the merge did not write.
                #expect(
                    "\(error)".contains(message)
                        && "\(error)".hasPrefix("\(s.patches[0].path) and \(s.patches[1].path): "), "\(error)")
                #expect(!"\(error)".contains("x.spatch"), "\(error)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: s.folder + "/x.spatch"))
    }

    @Test func integerTensorsAreRefusedByArithmeticMethods() throws {
        let folder = try PatchFixtures.scratchFolder()
        let ids = { (v: UInt8) in PatchFixtures.tensor(.i32, [2], [v, 0, 0, 0, 2, 0, 0, 0]) }
        try PatchFixtures.write([("ids", ids(1))], to: folder + "/b.safetensors")
        let base = try Checkpoint.open(folder + "/b.safetensors")
        var patches: [PatchFile] = []
        for v: UInt8 in [5, 6] {
            try PatchFixtures.write([("ids", ids(v))], to: folder + "/t\(v).safetensors")
            _ = try PatchCreator.create(
                base: base, tuned: Checkpoint.open(folder + "/t\(v).safetensors"), to: folder + "/p\(v).spatch")
            patches.append(try PatchFile.open(folder + "/p\(v).spatch"))
        }
        #expect {
            try PatchMerger.merge(patches, base: base, method: .sum, metadata: [], to: folder + "/m.spatch")
        } throws: {
            "\($0)".hasPrefix("\(patches[0].path) and \(patches[1].path): tensor \"ids\" is I32")
                && "\($0)".contains("priority")
        }
    }

    @Test func selectionFindsTheKthLargest() {
        var random = RandomSource(seed: 5)
        for trial in 0..<200 {
            let count = 1 + random.below(300)
            // Few distinct values, so that equal values straddle the pivot.
            let values = (0..<count).map { _ in Double(random.below(trial % 2 == 0 ? 7 : 1_000_000)) }
            let k = 1 + random.below(count)
            var scratch = values
            #expect(Selection.kthLargest(&scratch, k) == values.sorted(by: >)[k - 1])
        }
    }

    @Test func positionUnionMatchesASetUnion() {
        var random = RandomSource(seed: 9)
        for _ in 0..<50 {
            let lists = (0..<(1 + random.below(5))).map { _ in
                Array(Set((0..<random.below(60)).map { _ in random.below(100) })).sorted()
            }
            let union = PositionUnion(lists)
            #expect(union.positions == Array(Set(lists.flatMap { $0 })).sorted())
            #expect(PositionUnion.count(lists) == union.positions.count)
            for (i, list) in lists.enumerated() {
                #expect(union.slots[i].map { union.positions[$0] } == list)
            }
        }
    }

    @Test func theSeededStreamIsPinned() {
        // The documented algorithm (Manual, merge page), as the Python of
        // Tests/Fixtures/make_merge_fixtures.py computes it: these values must never change, or
        // seeded merges would stop reproducing.
        let stream = SeededStream(seed: 42, patch: 0, tensor: "encoder.layer.0.intermediate.dense.weight")
        #expect(
            (0..<3).map { stream.rank($0) } == [0xb17f_6218_5e11_ae86, 0x1bd1_87f1_3baf_fac7, 0xbbca_8fa1_303f_1871])
        #expect((0..<3).map { stream.uniform($0) } == [0.6933499631396162, 0.10866593970757765, 0.7335595863844414])
        #expect(
            SeededStream(seed: 43, patch: 0, tensor: "x").uniform(0)
                != SeededStream(seed: 42, patch: 0, tensor: "x").uniform(0))
        #expect(
            SeededStream(seed: 42, patch: 1, tensor: "x").uniform(0)
                != SeededStream(seed: 42, patch: 0, tensor: "x").uniform(0))
    }
}
