import Tensors

/// Percentile-bootstrap confidence intervals over test items (Efron & Tibshirani, "An
/// Introduction to the Bootstrap", 1993, ch. 13).
///
/// The items are resampled with replacement within their groups (each task's test items, or
/// the control set's), keeping each group's size, and the same resampled items are used in
/// every model state: a figure that compares states (forgetting, the control drop) gets a
/// paired interval. The statistic is recomputed on each of `resamples` resamples; the
/// interval is the (1 − level)/2 and (1 + level)/2 quantiles of those values, interpolated
/// linearly as numpy's default `quantile` does. The draws come from `SeededGenerator` with a
/// fixed seed, so a report's intervals are reproducible, and two runs over the same test items
/// draw the same resamples.
public struct Bootstrap: Sendable {
    /// Resamples drawn (1,000 by default).
    public var resamples = 1000
    /// The interval's coverage, in (0, 1).
    public var level = 0.95
    /// Seeds the draws.
    public var seed: UInt64 = 0

    /// A bootstrap of `resamples` draws and `level` coverage.
    public init(resamples: Int = 1000, level: Double = 0.95, seed: UInt64 = 0) {
        self.resamples = resamples
        self.level = level
        self.seed = seed
    }

    /// `statistic` on each resample of `outcomes[s][g]` (state s, group g: each group's items,
    /// true = correct; every state lists the same groups with the same item counts). The
    /// statistic is given each state's counts per group.
    public func replicates<T>(_ outcomes: [[[Bool]]], _ statistic: ([[ItemCount]]) -> T) -> [T] {
        guard let groups = outcomes.first?.map(\.count) else { return [] }
        var generator = SeededGenerator(seed: seed)
        var drawn = groups.map { [Int](repeating: 0, count: $0) }
        return (0..<resamples).map { _ in
            for g in groups.indices where groups[g] > 0 {
                // Modulo bias is below 2^-50 for any realistic count of items.
                for j in 0..<groups[g] { drawn[g][j] = Int(generator.next() % UInt64(groups[g])) }
            }
            let counts = outcomes.map { state in
                state.indices.map { g in
                    ItemCount(correct: drawn[g].reduce(0) { $0 + (state[g][$1] ? 1 : 0) }, total: groups[g])
                }
            }
            return statistic(counts)
        }
    }

    /// The percentile interval of `values` at this level: nil for no values.
    public func interval(_ values: [Double]) -> ClosedRange<Double>? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let low = Self.quantile(sorted, (1 - level) / 2)
        let high = Self.quantile(sorted, (1 + level) / 2)
        return low...max(low, high)
    }

    /// The q-quantile of sorted values, linear between the closest ranks: position q · (N − 1).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let below = Int(position.rounded(.down))
        let above = min(below + 1, sorted.count - 1)
        return sorted[below] + (sorted[above] - sorted[below]) * (position - Double(below))
    }
}
