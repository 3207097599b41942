import Foundation
import Tensors
import Testing

@testable import Models
@testable import Relevance

/// The knowledge-aware scores' selection on small cases worked out by hand: exact counts,
/// protected positions never selected, ties broken towards the lower positions.
struct KnowledgeAwareSelectionTests {
    @Test func theRatioDividesRelevanceByImportancePlusAFloorOfTheMean() throws {
        let relevance: [Float] = [4, 1, 2, 0, 3]
        let importance: [Float] = [1, 0, 3, 2, 4]  // mean 2; floor 0.5 gives ε = 1
        let ratio = KnowledgeAwareScores.ratio(relevance: relevance, importance: importance, floor: 0.5)
        #expect(ratio == [2, 1, 0.5, 0, 0.6])
        #expect(try MaskSelection.top(ratio, rate: 0.4) == [0, 1])
        #expect(try MaskSelection.top(relevance, rate: 0.4) == [0, 4])  // SPU alone takes position 4
        // Scale-free: any unit of importance (or of relevance) ranks alike.
        let scaled = KnowledgeAwareScores.ratio(
            relevance: relevance.map { $0 * 7 }, importance: importance.map { $0 * 1000 }, floor: 0.5)
        #expect(try MaskSelection.top(scaled, rate: 0.4) == [0, 1])
        #expect(try MaskSelection.top(scaled, rate: 0.6) == [0, 1, 4])
        // No importance anywhere: the relevance as it is.
        #expect(KnowledgeAwareScores.ratio(relevance: relevance, importance: [0, 0, 0, 0, 0], floor: 0.1) == relevance)
        // Equal ratios at the cut: the lower position.
        // ε = 2: [2/3, 0.8, 2/3, 0.2]
        let tied = KnowledgeAwareScores.ratio(relevance: [2, 4, 2, 1], importance: [1, 3, 1, 3], floor: 1)
        #expect(try MaskSelection.top(tied, rate: 0.5) == [0, 1])
    }

    @Test func exclusionProtectsTheMostImportantAndKeepsTheCount() throws {
        let relevance: [Float] = [5, 4, 3, 2, 1, 0]
        let importance: [Float] = [9, 1, 9, 1, 1, 1]
        #expect(KnowledgeAwareScores.mostImportant(importance, fraction: 0.34) == [0, 2])  // ⌊0.34 · 6⌋ = 2
        let scores = KnowledgeAwareScores.excluding(relevance: relevance, importance: importance, fraction: 0.34)
        #expect(scores == [-.infinity, 4, -.infinity, 2, 1, 0])
        #expect(try MaskSelection.top(scores, rate: 0.5) == [1, 3, 4])  // k = 3, as SPU's mask
        #expect(try MaskSelection.top(relevance, rate: 0.5) == [0, 1, 2])
        // Equal importances at the cut: the lower positions are protected.
        #expect(KnowledgeAwareScores.mostImportant([1, 1, 1, 1], fraction: 0.5) == [0, 1])
        #expect(KnowledgeAwareScores.mostImportant([1, 3, 3, 2], fraction: 0.5) == [1, 2])
        #expect(KnowledgeAwareScores.mostImportant([1, 2, 3], fraction: 0.3).isEmpty)  // ⌊0.9⌋ = 0
        // Equal relevances among the rest: the lower positions are kept.
        let flat = KnowledgeAwareScores.excluding(
            relevance: [1, 1, 1, 1, 1, 1], importance: [0, 5, 0, 5, 0, 0], fraction: 0.34)
        #expect(try MaskSelection.top(flat, rate: 0.5) == [0, 2, 4])
    }

    @Test func exclusionOnATensorWithManyTies() throws {
        var generator = SeededGenerator(seed: 5)
        let relevance = (0..<20_000).map { _ in Float(generator.next() % 50) }
        let importance = (0..<20_000).map { _ in Float(generator.next() % 50) }
        for (rate, fraction) in [(0.1, 0.1), (0.3, 0.7), (0.05, 0.5)] {
            let protected = KnowledgeAwareScores.mostImportant(importance, fraction: fraction)
            #expect(protected.count == Int(fraction * 20_000) && protected == protected.sorted())
            // Every importance above the cut is protected; at the cut, the lower positions.
            let cut = protected.map { importance[$0] }.min()!
            let members = Set(protected)
            #expect(importance.indices.filter { importance[$0] > cut }.allSatisfy(members.contains))
            let atCut = importance.indices.filter { importance[$0] == cut }
            #expect(atCut.filter(members.contains) == Array(atCut.prefix(atCut.filter(members.contains).count)))
            let scores = KnowledgeAwareScores.excluding(
                relevance: relevance, importance: importance, fraction: fraction)
            let top = try MaskSelection.top(scores, rate: rate)
            #expect(top.count == MaskSelection.count(20_000, rate: rate))
            #expect(Set(top).isDisjoint(with: protected))
            // The same mask twice: ties are broken by position, not by chance.
            #expect(
                try MaskSelection.top(
                    KnowledgeAwareScores.excluding(relevance: relevance, importance: importance, fraction: fraction),
                    rate: rate) == top)
        }
    }

    @Test func tooFewSelectablePositionsAreRefusedNotFilledWithProtectedOnes() throws {
        #expect(throws: MaskSelection.Shortage.self) { try MaskSelection.top([-.infinity, -.infinity, 1], rate: 0.7) }
        #expect(try MaskSelection.top([-.infinity, -.infinity, 1], rate: 0.3) == [2])
        var settings = RelevanceScorer.Settings()
        settings.method = .spuMASExclude
        // Settings out of range are the command line's fault (exit status 64), named by option.
        func invalidSetting(_ option: String) -> (any Error) -> Bool {
            { ($0 as? FileError)?.kind == .invalidSetting && ($0 as? FileError)?.path == option }
        }
        #expect(
            performing: { try KnowledgeAwareScores.check(settings, rate: 0.1) },
            throws: invalidSetting("--generic-text"))
        settings.generic.textFile = "generic.txt"
        #expect(throws: Never.self) { try KnowledgeAwareScores.check(settings, rate: 0.5) }
        settings.protectedFraction = 0.2
        #expect(
            performing: { try KnowledgeAwareScores.check(settings, rate: 0.9) },
            throws: invalidSetting("--protected-fraction"))
        settings.protectedFraction = 1
        // The wording of the family: the option, then what it must be.
        #expect { try KnowledgeAwareScores.check(settings, rate: 0.1) } throws: {
            ($0 as? FileError)?.kind == .invalidSetting && "\($0)".contains("--protected-fraction: must be in [0, 1)")
        }
        settings.method = .spu  // the other scores need none of it
        settings.generic.textFile = nil
        #expect(throws: Never.self) { try KnowledgeAwareScores.check(settings, rate: 0.9) }
    }
}
