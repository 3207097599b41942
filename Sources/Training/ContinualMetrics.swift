/// Correct and total test items of one task (or of the control set) in one model state.
public struct ItemCount: Sendable, Equatable {
    /// Items classified correctly.
    public var correct: Int
    /// Items.
    public var total: Int

    /// A count of `correct` out of `total`.
    public init(correct: Int, total: Int) {
        self.correct = correct
        self.total = total
    }

    /// The counts of a list of outcomes (true = correct).
    public init(_ outcomes: [Bool]) {
        self.init(correct: outcomes.reduce(0) { $0 + ($1 ? 1 : 0) }, total: outcomes.count)
    }

    /// Accuracy in percent (0 for no items).
    public var percent: Double { total == 0 ? 0 : 100 * Double(correct) / Double(total) }

    /// The items of several tasks pooled: their correct items over all their items.
    public static func pooled<S: Sequence>(_ counts: S) -> ItemCount where S.Element == ItemCount {
        counts.reduce(ItemCount(correct: 0, total: 0)) {
            ItemCount(correct: $0.correct + $1.correct, total: $0.total + $1.total)
        }
    }
}

/// A continual run's figures under one protocol (`EvaluationProtocol`), all in percent, as
/// the method's paper and the continual-learning literature define them (Chaudhry et al.,
/// "Riemannian Walk for Incremental Learning", ECCV 2018, for forgetting; Riemer et al.,
/// ICLR 2019, for learning accuracy). Tasks T1…Tn, state 0 the base, state k after task k;
/// A[k][i] the accuracy on Ti's test items in state k.
public struct ProtocolMetrics: Sendable, Equatable {
    /// Row k−1, for each finished task k: A[k][1…k], the seen tasks' accuracies in state k.
    public var accuracyMatrix: [[Double]]
    /// For each finished task k: the seen tasks' test items pooled (correct / all, not a
    /// mean of the tasks' accuracies) in state k.
    public var averageAccuracyAfterEachTask: [Double]
    /// Every task's items pooled in state 0 (under the class protocol, among every task's classes).
    public var averageAccuracyBase: Double
    /// A[0][i] for each task.
    public var taskAccuracyBase: [Double]
    /// Mean over the earlier tasks i < m (m the last finished) of max over k in i…m−1 of
    /// A[k][i], minus A[m][i]; 0 with fewer than two finished tasks.
    public var forgetting: Double
    /// Mean over the finished tasks of A[i][i]: each task right after it was learned.
    public var learningAccuracy: Double
    /// For each state k = 0… before the last task: the items of the tasks not yet learned,
    /// Tk+1…Tn, pooled (zero-shot; the paper's "unseen").
    public var unseenAccuracyAfterEachTask: [Double]
    /// The mean of `unseenAccuracyAfterEachTask` over the states after at least one task
    /// (k ≥ 1); nil when there is none (a single task, or none finished).
    public var unseenAccuracy: Double?

    /// The final (last finished state's) average accuracy; the base's when none is finished.
    public var averageAccuracy: Double { averageAccuracyAfterEachTask.last ?? averageAccuracyBase }

    /// The figures of `counts[s][i]`: task i's items in state s, for s = 0 (the base) and
    /// each finished task; every state lists every task (seen or not).
    public init(counts: [[ItemCount]]) {
        let n = counts.first?.count ?? 0
        let finished = max(counts.count - 1, 0)
        taskAccuracyBase = (counts.first ?? []).map(\.percent)
        averageAccuracyBase = ItemCount.pooled(counts.first ?? []).percent
        let matrix = (0..<finished).map { r in counts[r + 1].prefix(r + 1).map(\.percent) }
        accuracyMatrix = matrix
        averageAccuracyAfterEachTask = (0..<finished).map { r in ItemCount.pooled(counts[r + 1].prefix(r + 1)).percent }
        if finished > 1 {
            let last = matrix[finished - 1]
            let drops = (0..<(finished - 1)).map { i in
                (i..<(finished - 1)).map { matrix[$0][i] }.max()! - last[i]
            }
            forgetting = drops.reduce(0, +) / Double(drops.count)
        } else {
            forgetting = 0
        }
        learningAccuracy = finished == 0 ? 0 : (0..<finished).map { matrix[$0][$0] }.reduce(0, +) / Double(finished)
        unseenAccuracyAfterEachTask = (0..<min(counts.count, n)).map { s in ItemCount.pooled(counts[s][s...]).percent }
        let afterLearning = unseenAccuracyAfterEachTask.dropFirst()
        unseenAccuracy = afterLearning.isEmpty ? nil : afterLearning.reduce(0, +) / Double(afterLearning.count)
    }
}

/// The control set's figures, in percent: its accuracy in each state and its drop.
public struct ControlMetrics: Sendable, Equatable {
    /// The base model's accuracy.
    public var accuracyBase: Double
    /// The accuracy after each finished task.
    public var accuracyAfterEachTask: [Double]
    /// The last finished state's accuracy (the base's when none is finished).
    public var accuracy: Double { accuracyAfterEachTask.last ?? accuracyBase }
    /// Base minus final: what the run lost of the control set (negative: it gained).
    public var drop: Double { accuracyBase - accuracy }

    /// From the control's counts in state 0 (the base) and each finished task's state.
    public init(counts: [ItemCount]) {
        accuracyBase = counts.first?.percent ?? 0
        accuracyAfterEachTask = counts.dropFirst().map(\.percent)
    }
}
