import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Models
@testable import Training

/// The continual run's figures under both protocols, against hand-computed cases, and the
/// bootstrap intervals' coverage.
struct ContinualMetricsTests {
    static func counts(_ rows: [[(Int, Int)]]) -> [[ItemCount]] {
        rows.map { $0.map { ItemCount(correct: $0.0, total: $0.1) } }
    }

    /// Three tasks of 4, 2 and 4 items; state 0 the base, then after each task.
    static let threeTasks = counts([
        [(2, 4), (1, 2), (1, 4)],
        [(4, 4), (0, 2), (2, 4)],
        [(3, 4), (1, 2), (1, 4)],
        [(1, 4), (1, 2), (4, 4)],
    ])

    @Test func theFiguresOfAHandComputedSequence() {
        let m = ProtocolMetrics(counts: Self.threeTasks)
        #expect(m.accuracyMatrix == [[100], [75, 50], [25, 50, 100]])
        #expect(m.taskAccuracyBase == [50, 50, 25])
        #expect(m.averageAccuracyBase == 40)  // 4 of 10 items
        // Pooled over items, not a mean of the tasks: (3 + 1) / 6 after task 2, 6 / 10 at the end.
        #expect(m.averageAccuracyAfterEachTask.map { ($0 * 1000).rounded() / 1000 } == [100, 66.667, 60])
        #expect(m.averageAccuracy == 60)
        // Task 1: best 100 before the end, 25 at it; task 2: 50 and 50.
        #expect(m.forgetting == 37.5)
        #expect(abs(m.learningAccuracy - 250.0 / 3) < 1e-12)
        // Base: all ten items (4 of 10); after task 1: tasks 2 and 3 (2 of 6); after task 2: task 3 (1 of 4).
        #expect(m.unseenAccuracyAfterEachTask.map { ($0 * 1000).rounded() / 1000 } == [40, 33.333, 25])
        #expect(abs(m.unseenAccuracy! - (100.0 / 3 + 25) / 2) < 1e-12)
    }

    @Test func partialAndSingleTaskRuns() {
        let partial = ProtocolMetrics(counts: Array(Self.threeTasks.prefix(2)))
        #expect(partial.accuracyMatrix == [[100]] && partial.forgetting == 0 && partial.learningAccuracy == 100)
        #expect(partial.averageAccuracy == 100 && partial.unseenAccuracyAfterEachTask.count == 2)
        let base = ProtocolMetrics(counts: Array(Self.threeTasks.prefix(1)))
        #expect(base.accuracyMatrix.isEmpty && base.averageAccuracy == 40 && base.unseenAccuracy == nil)
        let single = ProtocolMetrics(counts: Self.counts([[(1, 2)], [(2, 2)]]))
        #expect(single.unseenAccuracyAfterEachTask == [50] && single.unseenAccuracy == nil && single.forgetting == 0)
        let control = ControlMetrics(counts: [
            ItemCount(correct: 5, total: 10), ItemCount(correct: 4, total: 10), ItemCount(correct: 3, total: 10),
        ])
        #expect(
            control.accuracyBase == 50 && control.accuracyAfterEachTask == [40, 30] && control.accuracy == 30
                && control.drop == 20)
    }

    /// An encoder whose embeddings are given per text, to place items and prompts exactly.
    struct PlacedEncoder: ZeroShotEncoder {
        let place: [String: [Float]]
        var architecture: String { "test" }
        var dimension: Int { 2 }
        func embed(texts: [String]) throws -> [[Float]] { texts.map { place[$0]! } }
        func embed(images: [[Float]]) throws -> [[Float]] { throw ModelError("test", "no images") }
    }

    static func task(_ folder: String, classes: [(String, String)], test: [(String, String)]) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try classes.map { "\($0.0)\t\($0.1)\n" }.joined().write(
            toFile: folder + "/classes.txt", atomically: true, encoding: .utf8)
        try test.map { JSONValue.object([("text", .string($0.0)), ("label", .string($0.1))]).serialized + "\n" }
            .joined()
            .write(toFile: folder + "/test.jsonl", atomically: true, encoding: .utf8)
    }

    /// Task 1 (a, b) and task 2 (c, d; c's prompt lies nearest task 1's first item), task 3
    /// (a with a's prompt again: the same class; b with another prompt: another class).
    @Test func eachProtocolClassifiesAmongItsCandidates() throws {
        let root = NSTemporaryDirectory() + "scalpel-protocols-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.task(root + "/t1", classes: [("a", "pa"), ("b", "pb")], test: [("x1", "a"), ("x2", "b")])
        try Self.task(root + "/t2", classes: [("c", "pc"), ("d", "pd")], test: [("y1", "c"), ("y2", "d")])
        try Self.task(root + "/t3", classes: [("a", "pa"), ("b", "pb3")], test: [("z1", "a"), ("z2", "b")])
        try Self.task(root + "/control", classes: [("n1", "q1"), ("n2", "q2")], test: [("w1", "n1"), ("w2", "n1")])
        let encoder = PlacedEncoder(place: [
            "pa": [1, 0], "pb": [0, 1], "pc": [0.9, 0.1], "pd": [-1, 0], "pb3": [0.6, 0.8],
            // Dot products with pa, pb, pc, pd, pb3 in the comments.
            "x1": [0.8, 0.2],  // .8 .2 .74 -.8 .64: a, right everywhere
            "x2": [0.1, 0.9],  // .1 .9 .18 -.1 .78: b, right everywhere
            "y1": [0.95, 0.0],  // .95 0 .855 -.95 .57: c among t2's classes, a wherever a is a candidate
            "y2": [-0.5, 0.1],  // -.5 .1 -.44 .5 -.22: d, right everywhere
            "z1": [0.7, 0.7],  // .7 .7 .7 -.7 .98: pb3 always, wrong
            "z2": [0.0, 1.0],  // 0 1 .1 0 .8: pb3 among t3's or the unseen classes, t1's b among all
            "q1": [1, 0], "q2": [0, 1], "w1": [1, 0], "w2": [0, 1],
        ])
        let evaluator = try ContinualEvaluator(
            tasks: ["t1", "t2", "t3"].map { root + "/" + $0 }, control: root + "/control")
        #expect(evaluator.unionIndex == [[0, 1], [2, 3], [0, 4]])
        // The base: every task unseen, all five classes together.
        let base = try evaluator.outcomes(encoder, seen: 0)
        #expect(base.taskIncremental == [[true, true], [true, true], [false, true]])
        #expect(base.classIncremental == [[true, true], [false, true], [false, false]])
        #expect(base.control == [true, false])
        // After task 1: t1 among its own; t2 and t3 (unseen) among c, d, a, b(pb3).
        let one = try evaluator.outcomes(encoder, seen: 1)
        #expect(one.classIncremental == [[true, true], [false, true], [false, true]])
        #expect(one.taskIncremental == base.taskIncremental)
        // After task 3: everything among all five classes.
        let three = try evaluator.outcomes(encoder, seen: 3)
        #expect(three.classIncremental == base.classIncremental)
    }

    /// Ties go to the earliest class; predictions are the largest dot product.
    @Test func predictionsTakeTheLargestDotProductAndTheEarliestOfATie() {
        let classes: [[Float]] = [[1, 0], [0, 1], [1, 0]]
        #expect(
            ZeroShot.predictions([[0.5, 0.5], [0.2, 0.9], [0.9, 0.2], [-1, -1]], among: classes) == [0, 1, 0, 0])
        #expect(ZeroShot.predictions([], among: classes).isEmpty)
    }

    /// The percentile interval covers the true accuracy about 95 % of the time: 300 samples of
    /// 200 Bernoulli(0.7) items, each with its own 400-resample interval. The coverage of 300
    /// trials has a standard error of about 1.3 points; the percentile bootstrap of a
    /// proportion runs slightly under nominal at this size, so 90–98 % is accepted.
    @Test func theBootstrapIntervalCoversTheTruthAtAboutItsLevel() {
        var generator = SeededGenerator(seed: 11)
        var covered = 0
        let trials = 300
        for trial in 0..<trials {
            let items = (0..<200).map { _ in generator.next() % 10 < 7 }
            let bootstrap = Bootstrap(resamples: 400, seed: UInt64(trial))
            let values = bootstrap.replicates([[items]]) { $0[0][0].percent }
            let range = bootstrap.interval(values)!
            if range.contains(70) { covered += 1 }
        }
        let coverage = Double(covered) / Double(trials)
        #expect(coverage >= 0.90 && coverage <= 0.98, "coverage \(coverage)")
    }

    /// Paired resampling: a statistic comparing two states on the same items has the interval
    /// of the differences, narrower than unpaired when the states agree on most items.
    @Test func resamplesArePairedAcrossStatesAndQuantilesInterpolate() {
        let before = (0..<100).map { $0 % 2 == 0 }
        var after = before
        after[1] = true  // one item more right, nothing else changes
        let bootstrap = Bootstrap(resamples: 300)
        let differences = bootstrap.replicates([[before], [after]]) { $0[1][0].percent - $0[0][0].percent }
        // Every resample draws item 1 zero to a few times: the difference is 0, 1, 2, … points, never negative.
        #expect(differences.allSatisfy { $0 >= 0 && $0 == $0.rounded() })
        #expect(
            Bootstrap.quantile([1, 2, 3, 4], 0.5) == 2.5 && Bootstrap.quantile([1, 2, 3, 4], 0) == 1
                && Bootstrap.quantile([1, 2, 3, 4], 1) == 4)
        #expect(Bootstrap.quantile([0, 10], 0.975) == 9.75)
    }
}
