import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

struct ChangeSpreadTests {
    static func matrix(_ shape: [Int], _ values: [Float]) -> TensorView {
        TensorView.make(dtype: .f32, shape: shape) { buffer in values.withUnsafeBytes { buffer.copyMemory(from: $0) } }
    }

    @Test func countsEachRowAndColumnOfAMatrix() throws {
        // [3, 4]: positions 0 1 2 | 6 | 9 11 are rows 0 0 0 | 1 | 2 2, columns 0 1 2 | 2 | 1 3.
        let spread = try #require(ChangeSpread.counting([0, 1, 2, 6, 9, 11], shape: [3, 4]))
        #expect(spread.rows == 3 && spread.columns == 4 && spread.cellSize == 1)
        #expect(spread.changedPerRow == [3, 1, 2])
        #expect(spread.changedPerColumn == [1, 2, 2, 1])
        #expect(spread.touchedRows == 3 && spread.touchedColumns == 4)
        #expect(spread.magnitudePerRow == nil && spread.magnitudePerColumn == nil)
    }

    @Test func foldsFurtherAxesIntoTheirColumn() throws {
        // [2, 3, 2], a convolution's [out, in, kernel]: position p is row p / 6, column (p / 2) % 3.
        let spread = try #require(ChangeSpread.counting([1, 4, 5, 7], shape: [2, 3, 2]))
        #expect(spread.cellSize == 2)
        #expect(spread.changedPerRow == [3, 1])
        #expect(spread.changedPerColumn == [2, 0, 2])
        #expect(spread.touchedColumns == 2)
    }

    @Test func vectorsAndEmptyTensorsHaveNoSpread() {
        #expect(ChangeSpread.counting([0, 1], shape: [4]) == nil)
        #expect(ChangeSpread.counting([], shape: [0, 3]) == nil)
        #expect(ChangeSpread.counting([], shape: []) == nil)
    }

    @Test func aShapeNothingVouchesForIsBoundedBeforeAnythingIsAllocated() {
        #expect(ChangeSpread.fits([1_536, 384], slots: 1_920))
        #expect(!ChangeSpread.fits([1_536, 384], slots: 1_919))
        #expect(!ChangeSpread.fits([1 << 40, 2], slots: 65_536))
        #expect(!ChangeSpread.fits([Int.max, 1], slots: Int.max))  // no overflow on the way
        #expect(ChangeSpread.fits([7], slots: 0))  // vectors have no spread to allocate
    }

    @Test func halfShareIsTheFewestSlotsHoldingHalfTheChanges() {
        #expect(ChangeSpread.halfShare([4, 0, 0, 0]) == 0.25)
        #expect(ChangeSpread.halfShare([1, 1, 1, 1]) == 0.5)
        #expect(ChangeSpread.halfShare([1, 3]) == 0.5)
        #expect(ChangeSpread.halfShare([1, 1, 1, 1, 1]) == 0.6)
        #expect(ChangeSpread.halfShare([0, 0]) == nil)
    }

    /// A 4 × 4 matrix of ones, four elements changed by ±0.5: ‖Δ‖ = 1, ‖W‖ = 4.
    static func tunedPair(in folder: String) throws -> (base: Checkpoint, patch: PatchFile) {
        let ones = [Float](repeating: 1, count: 16)
        var tuned = ones
        for (position, change) in [(0, 0.5), (3, 0.5), (9, -0.5), (15, 0.5)] as [(Int, Float)] {
            tuned[position] += change
        }
        try PatchFixtures.write(
            [("w", matrix([4, 4], ones)), ("b", matrix([4], [1, 2, 3, 4]))], to: folder + "/a.safetensors")
        try PatchFixtures.write(
            [("w", matrix([4, 4], tuned)), ("b", matrix([4], [1, 2, 3, 4]))], to: folder + "/b.safetensors")
        let base = try Checkpoint.open(folder + "/a.safetensors")
        _ = try PatchCreator.create(
            base: base, tuned: Checkpoint.open(folder + "/b.safetensors"), to: folder + "/p.spatch")
        return (base, try PatchFile.open(folder + "/p.spatch"))
    }

    @Test func auditGivesTheRelativeChangeAndTheSpreadWithMagnitudes() throws {
        let (base, patch) = try Self.tunedPair(in: try PatchFixtures.scratchFolder())
        let audits = PatchAuditor.audit(patch, base: base)
        #expect(audits.count == 1)  // the bias is untouched
        let w = try #require(audits.first { $0.entry.name == "w" })
        #expect(w.delta?.l2 == 1 && w.delta?.baseL2 == 4)
        #expect(w.delta?.relativeL2 == 0.25)
        // Positions 0, 3 | 9 | 15: rows 0 0 | 2 | 3, columns 0 3 | 1 | 3.
        let spread = try #require(w.spread)
        #expect(spread.changedPerRow == [2, 0, 1, 1])
        #expect(spread.changedPerColumn == [1, 1, 0, 2])
        #expect(spread.magnitudePerRow == [1, 0, 0.5, 0.5])
        #expect(spread.magnitudePerColumn == [0.5, 0.5, 0, 1])

        // Without the base the positions still give the counts, but not the sizes.
        let alone = try #require(PatchAuditor.audit(patch, base: nil).first)
        #expect(alone.delta == nil)
        #expect(alone.spread?.changedPerRow == [2, 0, 1, 1] && alone.spread?.magnitudePerRow == nil)
    }

    @Test func aCorruptEntryHasNoSpread() throws {
        let folder = try PatchFixtures.scratchFolder()
        _ = try Self.tunedPair(in: folder)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/p.spatch"))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: folder + "/corrupt.spatch"))
        let audit = try #require(PatchAuditor.audit(try PatchFile.open(folder + "/corrupt.spatch"), base: nil).first)
        #expect(audit.integrityProblem != nil && audit.spread == nil)
    }
}
