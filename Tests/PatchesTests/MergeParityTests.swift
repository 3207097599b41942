import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Patches

/// Scalpel's arithmetic merges against the reference implementations: results that
/// Tests/Fixtures/make_merge_fixtures.py made with mergekit-yaml (task_arithmetic, ties) and
/// PEFT's merge_utils (dare_linear, dare_ties, with Scalpel's seeded drop) on a tiny BERT.
struct MergeParityTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/merge"

    static let methods: [(reference: String, method: MergeMethod)] = [
        ("task_arithmetic", .sum), ("ties", .ties), ("dare_linear", .dare), ("dare_ties", .dareTies),
    ]

    static func parameters(_ reference: String) throws -> MergeParameters {
        let text = try String(contentsOfFile: fixtures + "/parameters.json", encoding: .utf8)
        guard let entry = try JSONValue.parse(text)["methods"]?[reference] else {
            throw PatchError(fixtures + "/parameters.json", "has no parameters for \(reference)")
        }
        func number(_ key: String) -> Double? {
            switch entry[key] {
            case .number(let value)?: return value
            case .integer(let value)?: return Double(value)
            default: return nil
            }
        }
        let weights = entry["weights"]?.arrayValue?.compactMap { value -> Double? in
            if case .number(let number) = value { return number }
            return value.intValue.map(Double.init)
        }
        return MergeParameters(
            weights: weights, lambda: number("lambda") ?? 1, density: number("density"),
            drop: number("drop"), seed: entry["seed"]?.intValue.map(UInt64.init))
    }

    @Test func theTiesFixtureHasNoEqualMagnitudesAtATrimCut() throws {
        // mergekit keeps equal magnitudes at the cut in torch.argsort's order, Scalpel in its
        // seeded one: the exact parity of the kept deltas needs a cut no two deltas share.
        let density = try Self.parameters("ties").density ?? 1
        let base = try Checkpoint.open(Self.fixtures + "/base.safetensors")
        var cuts = 0
        for i in 1...3 {
            let tuned = try Checkpoint.open(Self.fixtures + "/t\(i).safetensors")
            for tensor in base.tensors {
                let old = base.view(tensor).floatValues()
                let new = try tuned.view(named: tensor.name).floatValues()
                let magnitudes = zip(new, old).map { abs(Double($0) - Double($1)) }.filter { $0 != 0 }
                let keep = max(1, Int(density * Double(old.count)))
                guard magnitudes.count > keep else { continue }
                let cut = magnitudes.sorted(by: >)[keep - 1]
                #expect(magnitudes.filter { $0 == cut }.count == 1, "t\(i) \(tensor.name)")
                cuts += 1
            }
        }
        // Each fine-tune's two intermediate.dense.weight and its one bias are trimmed.
        #expect(cuts == 9)
    }

    @Test(arguments: methods.map(\.reference))
    func mergeMatchesTheReference(_ reference: String) throws {
        let method = Self.methods.first { $0.reference == reference }!.method
        let folder = try PatchFixtures.scratchFolder("parity-\(reference)")
        let base = try Checkpoint.open(Self.fixtures + "/base.safetensors")
        let patches = try (1...3).map { i in
            _ = try PatchCreator.create(
                base: base, tuned: Checkpoint.open(Self.fixtures + "/t\(i).safetensors"), to: folder + "/p\(i).spatch")
            return try PatchFile.open(folder + "/p\(i).spatch")
        }
        _ = try PatchMerger.merge(
            patches, base: base, method: method, parameters: Self.parameters(reference),
            metadata: [], to: folder + "/merged.spatch")
        try PatchApplier.run(
            .apply, model: base, patches: [PatchFile.open(folder + "/merged.spatch")],
            to: folder + "/merged.safetensors")
        let ours = try Checkpoint.open(folder + "/merged.safetensors")
        let expected = try Checkpoint.open(Self.fixtures + "/\(reference).safetensors")
        #expect(ours.tensors.map(\.name).sorted() == expected.tensors.map(\.name).sorted())
        var compared = 0
        var changed = 0
        for tensor in expected.tensors {
            let want = expected.view(tensor).floatValues()
            let got = try ours.view(named: tensor.name).floatValues()
            let old = try base.view(named: tensor.name).floatValues()
            for i in want.indices {
                // The references compute in F32, Scalpel in F64 rounded once: a few ulps apart.
                #expect(
                    abs(got[i] - want[i]) <= 2e-7 + 1e-6 * abs(want[i]), "\(tensor.name)[\(i)]: \(got[i]) vs \(want[i])"
                )
                compared += 1
                if want[i] != old[i] { changed += 1 }
            }
        }
        #expect(compared > 6_000 && changed > 500, "\(changed) of \(compared) elements changed")
    }
}
