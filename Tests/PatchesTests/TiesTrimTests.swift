import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

/// TIES' trim where many deltas share the magnitude at its cut (bf16 deltas are whole ulps):
/// exactly k kept, the tied ones chosen in a seeded order that favours no position.
struct TiesTrimTests {
    /// How many of `positions` fall in each quarter of 0..<count.
    static func perQuarter(_ positions: [Int], count: Int) -> [Int] {
        var quarters = [0, 0, 0, 0]
        for position in positions { quarters[position * 4 / count] += 1 }
        return quarters
    }

    /// 40,000 deltas: every 20th of magnitude 2 (2,000), the others ±1 (38,000). Density 0.25
    /// keeps 10,000: the 2,000 of magnitude 2 and 8,000 of the 38,000 tied at 1.
    static func tiedDelta() -> MergeArithmetic.Delta {
        let values = (0..<40_000).map { i in i % 20 == 0 ? 2.0 : (i % 3 == 0 ? -1.0 : 1.0) }
        return MergeArithmetic.Delta(positions: Array(0..<40_000), values: values, weight: 1)
    }

    @Test func tiesAtTheCutAreKeptEvenlyAndExactly() {
        let delta = Self.tiedDelta()
        let trimmed = MergeArithmetic.trim(
            delta, density: 0.25, elementCount: 40_000,
            ties: SeededStream(seed: 0, patch: 0, tensor: "w"))
        #expect(trimmed.positions.count == 10_000)
        #expect(trimmed.positions == trimmed.positions.sorted())
        #expect(zip(trimmed.positions, trimmed.values).allSatisfy { delta.values[$0] == $1 })
        #expect(trimmed.positions.filter { $0 % 20 == 0 }.count == 2_000)
        // The 8,000 tied elements kept, per quarter of the tensor (9,500 tied in each): a
        // hypergeometric count of mean 2,000 and standard deviation 34; allow five of them.
        // Keeping the lower positions would put all 8,000 in the first quarter.
        let tied = trimmed.positions.filter { $0 % 20 != 0 }
        for (quarter, count) in Self.perQuarter(tied, count: 40_000).enumerated() {
            #expect(abs(count - 2_000) <= 170, "quarter \(quarter): \(count) of 8,000")
        }
        // The same seed keeps the same elements; another seed, patch or tensor others.
        let again = MergeArithmetic.trim(
            delta, density: 0.25, elementCount: 40_000, ties: SeededStream(seed: 0, patch: 0, tensor: "w"))
        #expect(again.positions == trimmed.positions)
        for other in [
            SeededStream(seed: 1, patch: 0, tensor: "w"), SeededStream(seed: 0, patch: 1, tensor: "w"),
            SeededStream(seed: 0, patch: 0, tensor: "v"),
        ] {
            let kept = MergeArithmetic.trim(delta, density: 0.25, elementCount: 40_000, ties: other).positions
            #expect(kept.count == 10_000 && kept != trimmed.positions)
        }
    }

    @Test func theTiedElementsKeptAreThoseOfLowestRank() {
        let delta = Self.tiedDelta()
        let stream = SeededStream(seed: 7, patch: 2, tensor: "w")
        let trimmed = MergeArithmetic.trim(delta, density: 0.25, elementCount: 40_000, ties: stream)
        let tied = (0..<40_000).filter { $0 % 20 != 0 }
        let expected = tied.sorted { stream.rank($0) < stream.rank($1) }.prefix(8_000).sorted()
        #expect(trimmed.positions.filter { $0 % 20 != 0 } == expected)
    }

    @Test func withoutTiesTheTrimKeepsTheLargestMagnitudesAsBefore() {
        // Distinct float32 magnitudes: the k largest are one set, whatever breaks ties.
        var random = RandomSource(seed: 3)
        let positions = Array(Set((0..<3_000).map { _ in random.below(10_000) })).sorted()
        // Magnitudes 1/1024, 2/1024, ... in a random order, with random signs.
        var magnitudes = (1...positions.count).map { Float($0) / 1024 }
        for i in magnitudes.indices.reversed() { magnitudes.swapAt(i, random.below(i + 1)) }
        let values = magnitudes.map { Double(random.below(2) == 0 ? -$0 : $0) }
        let delta = MergeArithmetic.Delta(positions: positions, values: values, weight: 1)
        let expected = zip(positions, values).sorted { abs($0.1) > abs($1.1) }.prefix(1_000).map(\.0).sorted()
        for seed: UInt64 in [0, 1] {
            let trimmed = MergeArithmetic.trim(
                delta, density: 0.1, elementCount: 10_000, ties: SeededStream(seed: seed, patch: 0, tensor: "w"))
            #expect(trimmed.positions == expected)
        }
    }

    /// A BF16 base of 128 x 128 elements, all 1.5, and a patch moving every element by whole
    /// ulps (2⁻⁷ at 1.5): every 8th by +2 ulps, the others by ±1; a second patch changes
    /// only tensor "b".
    static func bf16Patches(_ label: String = #function) throws -> (
        folder: String, base: Checkpoint, patches: [PatchFile]
    ) {
        let folder = try PatchFixtures.scratchFolder(label)
        func bf16(_ bits: [UInt16]) -> [UInt8] { bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }
        let count = 128 * 128
        let base = bf16(Array(repeating: 0x3FC0, count: count))
        let tuned = bf16((0..<count).map { i in i % 8 == 0 ? 0x3FC2 : (i % 3 == 0 ? 0x3FBF : 0x3FC1) })
        let b = bf16([0x3F80, 0x3F80])
        let tunedB = bf16([0x3F80, 0x4000])
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.bf16, [128, 128], base)), ("b", PatchFixtures.tensor(.bf16, [2], b))],
            to: folder + "/base.safetensors")
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.bf16, [128, 128], tuned)), ("b", PatchFixtures.tensor(.bf16, [2], b))],
            to: folder + "/t1.safetensors")
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.bf16, [128, 128], base)), ("b", PatchFixtures.tensor(.bf16, [2], tunedB))],
            to: folder + "/t2.safetensors")
        let checkpoint = try Checkpoint.open(folder + "/base.safetensors")
        var patches: [PatchFile] = []
        for i in 1...2 {
            _ = try PatchCreator.create(
                base: checkpoint, tuned: Checkpoint.open(folder + "/t\(i).safetensors"), to: folder + "/p\(i).spatch")
            patches.append(try PatchFile.open(folder + "/p\(i).spatch"))
        }
        return (folder, checkpoint, patches)
    }

    @Test func aBF16TiesMergeSpreadsTheKeptChangesOverTheMatrix() throws {
        let s = try Self.bf16Patches()
        func merge(_ seed: UInt64?, _ name: String) throws -> (positions: [Int], bytes: Data, seed: String?) {
            let path = s.folder + "/\(name).spatch"
            _ = try PatchMerger.merge(
                s.patches, base: s.base, method: .ties, parameters: MergeParameters(density: 0.25, seed: seed),
                metadata: [("created", "fixed")], to: path)
            let merged = try PatchFile.open(path)
            guard let entry = merged.entries.first(where: { $0.name == "a" }) else { return ([], Data(), nil) }
            return (
                try merged.positions(entry), try Data(contentsOf: URL(fileURLWithPath: path)),
                merged.header.metadataValue("merge.seed")
            )
        }
        let first = try merge(5, "first")
        // k = 16,384 / 4 = 4,096: the 2,048 deltas of 2 ulps and 2,048 of the 14,336 tied at 1 ulp.
        #expect(first.positions.count == 4_096)
        #expect(first.positions.filter { $0 % 8 == 0 }.count == 2_048)
        #expect(first.seed == "5")
        // Kept tied elements per quarter of the rows (3,584 tied in each): mean 512, standard
        // deviation 18; allow five. The lower-positions rule kept them all in rows 0 to 18.
        let tied = first.positions.filter { $0 % 8 != 0 }
        for (quarter, count) in Self.perQuarter(tied, count: 128 * 128).enumerated() {
            #expect(abs(count - 512) <= 90, "rows \(quarter * 32)..<\(quarter * 32 + 32): \(count) of 2,048")
        }
        // The same seed gives the same bytes; another seed keeps other elements, as many.
        #expect(try merge(5, "again").bytes == first.bytes)
        let other = try merge(6, "other")
        #expect(other.positions.count == 4_096 && other.positions != first.positions)
        // No seed is seed 0, and is recorded as such.
        let unseeded = try merge(nil, "unseeded")
        let zero = try merge(0, "zero")
        #expect(unseeded.seed == "0" && unseeded.positions == zero.positions)
    }
}
