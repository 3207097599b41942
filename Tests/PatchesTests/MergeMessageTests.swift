import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

/// What a refused merge tells the user: the input patches and tensors concerned, and what to
/// run instead; never the output, which it did not write.
struct MergeMessageTests {
    @Test func theOverlapRefusalNamesThePatchesCountsAndEveryCombiningMethod() throws {
        let s = try MergeTests.setUp(first: [0, 1, 2], second: [2, 3, 1])
        let output = s.folder + "/merged.spatch"
        #expect {
            try PatchMerger.merge(
                [PatchFile.open(s.p1), PatchFile.open(s.p2)], base: Checkpoint.open(s.base), method: .disjoint,
                metadata: [], to: output)
        } throws: { error in
            let message = "\(error)"
            let lines = message.split(separator: "\n").map(String.init)
            return lines.first
                == "\(s.p1) and \(s.p2) change some of the same elements (2 in 1 tensor), which --method disjoint, the default, refuses:"
                && lines.contains("  a  2 elements")
                && lines.contains("Methods that combine overlapping changes (--method):")
                && [MergeMethod.priority, .sum, .mean, .ties, .dare, .dareTies].allSatisfy { method in
                    lines.contains { $0.hasPrefix("  \(method.rawValue) ") && $0.hasSuffix("  \(method.meaning)") }
                }
                && !lines.contains { $0.hasPrefix("  disjoint") }
                && lines.last == "Merge again with one of them, for example mean."
                && !message.contains(output)
        }
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func everyMethodButDisjointHasAMeaningOfOneLine() {
        for method in MergeMethod.allCases {
            #expect(!method.meaning.isEmpty && !method.meaning.contains("\n"), "\(method)")
        }
        #expect(Set(MergeMethod.allCases.map(\.meaning)).count == MergeMethod.allCases.count)
    }

    /// A base of 13 F32 tensors "t00" ... "t12" of 16 elements and "x", and three patches: the
    /// first changes the first i + 1 elements of "tNN" (i = NN), the third all 16 of each, the
    /// second only "x"; and an I32 tensor "ids" that only the second changes.
    static func manyTensors(integer: Bool, _ label: String = #function) throws -> (
        folder: String, base: String, patches: [String]
    ) {
        let folder = try PatchFixtures.scratchFolder(label)
        let names = (0..<13).map { "t" + ($0 < 10 ? "0" : "") + String($0) }
        func model(_ changed: (Int) -> Int, x: Float, id: UInt8) -> PatchFixtures.Model {
            var tensors = names.enumerated().map { i, name in
                (name, ArithmeticMergeTests.floats((0..<16).map { $0 < changed(i) ? Float($0) + 0.5 : Float($0) }))
            }
            tensors.append(("x", ArithmeticMergeTests.floats([x])))
            if integer { tensors.append(("ids", PatchFixtures.tensor(.i32, [1], [id, 0, 0, 0]))) }
            return tensors
        }
        try PatchFixtures.write(model({ _ in 0 }, x: 0, id: 1), to: folder + "/base.safetensors")
        try PatchFixtures.write(model({ $0 + 1 }, x: 0, id: 1), to: folder + "/t1.safetensors")
        try PatchFixtures.write(model({ _ in 0 }, x: 1, id: 2), to: folder + "/t2.safetensors")
        try PatchFixtures.write(model({ _ in 16 }, x: 0, id: 1), to: folder + "/t3.safetensors")
        let base = try Checkpoint.open(folder + "/base.safetensors")
        for i in 1...3 {
            _ = try PatchCreator.create(
                base: base, tuned: Checkpoint.open(folder + "/t\(i).safetensors"), to: folder + "/p\(i).spatch")
        }
        return (folder, folder + "/base.safetensors", (1...3).map { folder + "/p\($0).spatch" })
    }

    @Test func manyOverlappingTensorsAreListedLargestFirstAndShortened() throws {
        let s = try Self.manyTensors(integer: false)
        #expect {
            try PatchMerger.merge(
                s.patches.map(PatchFile.open), base: Checkpoint.open(s.base), method: .disjoint, metadata: [],
                to: s.folder + "/m.spatch")
        } throws: { error in
            let lines = "\(error)".split(separator: "\n").map(String.init)
            // The second patch overlaps nothing, so the first line leaves it out; with three
            // patches each tensor says which of them overlap.
            let which = "  (\(s.patches[0]), \(s.patches[2]))"
            let listed = (3...12).reversed().map { i in "  t\(i < 10 ? "0" : "")\(i)  \(i + 1) elements\(which)" }
            return lines.first
                == "\(s.patches[0]) and \(s.patches[2]) change some of the same elements (91 in 13 tensors), which --method disjoint, the default, refuses:"
                && Array(lines[1...10]) == listed
                && lines[11] == "  and 3 more tensors (6 elements; --plan --per-tensor lists them all)"
        }
    }

    @Test func anIntegerTensorMakesTheRefusalSuggestPriority() throws {
        let s = try Self.manyTensors(integer: true)
        #expect {
            try PatchMerger.merge(
                s.patches.map(PatchFile.open), base: Checkpoint.open(s.base), method: .disjoint, metadata: [],
                to: s.folder + "/m.spatch")
        } throws: { error in
            (error as? MergeOverlapError)?.suggestion == .priority && "\(error)".hasSuffix("for example priority.")
        }
        // mean would indeed refuse the I32 tensor the second patch changes.
        #expect {
            try PatchMerger.merge(
                s.patches.map(PatchFile.open), base: Checkpoint.open(s.base), method: .mean, metadata: [],
                to: s.folder + "/m.spatch")
        } throws: { "\($0)".hasPrefix("\(s.patches[1]): tensor \"ids\" is I32") }
        _ = try PatchMerger.merge(
            s.patches.map(PatchFile.open), base: Checkpoint.open(s.base), method: .priority, metadata: [],
            to: s.folder + "/m.spatch")
    }

    @Test func wholeTensorConflictsNameBothPatchesAndWhatEachDoes() throws {
        let folder = try PatchFixtures.scratchFolder()
        try PatchFixtures.write([("a", ArithmeticMergeTests.floats([1, 2]))], to: folder + "/base.safetensors")
        try PatchFixtures.write(
            [("a", ArithmeticMergeTests.floats([1, 2])), ("c", ArithmeticMergeTests.floats([1]))],
            to: folder + "/t1.safetensors")
        try PatchFixtures.write(
            [("a", ArithmeticMergeTests.floats([1, 2])), ("c", ArithmeticMergeTests.floats([2]))],
            to: folder + "/t2.safetensors")
        try PatchFixtures.write([("a", ArithmeticMergeTests.floats([1, 2, 3]))], to: folder + "/t3.safetensors")
        try PatchFixtures.write([("a", ArithmeticMergeTests.floats([1, 5]))], to: folder + "/t4.safetensors")
        let base = try Checkpoint.open(folder + "/base.safetensors")
        for i in 1...4 {
            _ = try PatchCreator.create(
                base: base, tuned: Checkpoint.open(folder + "/t\(i).safetensors"), to: folder + "/p\(i).spatch")
        }
        let p = (1...4).map { folder + "/p\($0).spatch" }
        #expect {
            try PatchMerger.merge(
                [PatchFile.open(p[0]), PatchFile.open(p[1])], base: base, method: .priority, metadata: [],
                to: folder + "/m.spatch")
        } throws: {
            "\($0)"
                == "\(p[0]) and \(p[1]): tensor \"c\": \(p[0]) adds it and \(p[1]) adds it; a whole-tensor change merges only with the very same change, so merge without one of these patches"
        }
        #expect {
            try PatchMerger.merge(
                [PatchFile.open(p[2]), PatchFile.open(p[3])], base: base, method: .priority, metadata: [],
                to: folder + "/m.spatch")
        } throws: {
            "\($0)".hasPrefix(
                "\(p[2]) and \(p[3]): tensor \"a\": \(p[2]) replaces it and \(p[3]) changes some of its elements;")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/m.spatch"))
    }
}
