/// How patches are combined. The exact methods move bits; the arithmetic ones compute on the
/// values the patches encode (δᵢ = tunedᵢ − base per element, zero where a patch does not
/// touch the element), in double precision, and round once into the base dtype.
public enum MergeMethod: String, CaseIterable, Sendable {
    /// Refuses any element that two patches both change; otherwise the union. Exact.
    case disjoint
    /// Where patches overlap, the later one wins. Exact.
    case priority
    /// Task arithmetic: base + λ · Σ wᵢ · δᵢ (Ilharco et al., "Editing Models with Task
    /// Arithmetic", ICLR 2023).
    case sum
    /// The weighted mean of the deltas of the patches that change each element.
    case mean
    /// TIES (mergekit `ties`): trim each δᵢ to its top `density` by magnitude, elect the sign
    /// of Σ wᵢ·δᵢ per element, and take the weighted mean of the agreeing wᵢ·δᵢ, times λ
    /// (Yadav et al., "TIES-Merging: Resolving Interference When Merging Models", NeurIPS 2023).
    case ties
    /// DARE (the paper's and PEFT's definition): drop each element of each δᵢ with probability
    /// `drop`, rescale the kept ones by 1 / (1 − drop), then sum as `sum` does (Yu et al.,
    /// "Language Models are Super Mario: Absorbing Abilities from Homologous Models as a Free
    /// Lunch", ICML 2024).
    case dare
    /// DARE's drop and rescale, then the TIES sign election and weighted mean (no trim).
    case dareTies = "dare-ties"

    /// What the method does with an element several patches change, in one line (the
    /// overlap refusal lists these).
    public var meaning: String {
        switch self {
        case .disjoint: "refuses the element"
        case .priority: "the later patch on the command line wins, bit for bit"
        case .sum: "adds the deltas: base + λ·Σ wᵢ·δᵢ (task arithmetic)"
        case .mean: "averages the deltas of the patches that change the element"
        case .ties:
            """
            elects the sign of the summed deltas and averages the deltas of that sign (--density D trims each \
            delta first)
            """
        case .dare:
            "drops each delta element with probability --drop P (required), divides the rest by 1 − P, adds them"
        case .dareTies: "the dare drop (--drop P, required), then the ties sign election and average"
        }
    }

    /// Computes on values (needs floating-point tensors) rather than moving bits.
    public var isArithmetic: Bool { self != .disjoint && self != .priority }

    /// Elects a sign per element and averages the agreeing deltas.
    var electsSign: Bool { self == .ties || self == .dareTies }

    /// Drops delta elements at random (seeded).
    var drops: Bool { self == .dare || self == .dareTies }
}

/// The parameters of a merge; each applies to some methods only and is refused by the others,
/// so that a command line never carries a setting that silently does nothing.
public struct MergeParameters: Sendable, Equatable {
    /// One weight per patch (default 1 each): sum, mean, ties, dare, dare-ties.
    public var weights: [Double]?
    /// The scale of the merged delta: sum, ties, dare, dare-ties.
    public var lambda: Double
    /// ties: the fraction of each tensor's elements kept per patch (mergekit's `density`).
    public var density: Double?
    /// dare, dare-ties: the probability of dropping each delta element.
    public var drop: Double?
    /// dare, dare-ties: the seed of the drop; ties with a density below 1: the seed of the
    /// order that breaks equal magnitudes at the trim's cut.
    public var seed: UInt64?

    /// Parameters as `scalpel merge` takes them (`PatchMerger` refuses one its method ignores).
    public init(
        weights: [Double]? = nil, lambda: Double = 1, density: Double? = nil, drop: Double? = nil, seed: UInt64? = nil
    ) {
        self.weights = weights
        self.lambda = lambda
        self.density = density
        self.drop = drop
        self.seed = seed
    }

    /// Why these parameters do not fit `method` and `patchCount` patches, or nil when they do.
    public func problem(for method: MergeMethod, patchCount: Int) -> String? {
        if let weights {
            if !method.isArithmetic {
                return "--weights applies to sum, mean, ties, dare and dare-ties, not \(method.rawValue)"
            }
            if weights.count != patchCount {
                return "\(weights.count) weights for \(patchCount) patches: give one weight per patch"
            }
            if weights.contains(where: { !$0.isFinite }) { return "the weights must be finite numbers" }
        }
        if lambda != 1 {
            if !method.isArithmetic || method == .mean {
                return "--lambda applies to sum, ties, dare and dare-ties, not \(method.rawValue)"
            }
            if !lambda.isFinite { return "--lambda must be a finite number" }
        }
        if let density {
            if method != .ties { return "--density applies to ties, not \(method.rawValue)" }
            if !(density > 0 && density <= 1) { return "--density must be in (0, 1] (got \(density))" }
        }
        if let drop {
            if !method.drops { return "--drop applies to dare and dare-ties, not \(method.rawValue)" }
            if !(drop >= 0 && drop < 1) { return "--drop must be in [0, 1) (got \(drop))" }
        }
        if seed != nil, !usesSeed(method) {
            return method == .ties
                ? "--seed with ties orders the elements tied at the trim's cut, so it needs --density below 1"
                : "--seed applies to dare, dare-ties and ties (with --density below 1), not \(method.rawValue)"
        }
        if method.drops, drop == nil {
            return "\(method.rawValue) needs --drop P, the probability of dropping each delta element"
        }
        return nil
    }

    /// The parameters as recorded in the merged patch's metadata.
    func metadata(for method: MergeMethod, patchCount: Int) -> [(String, String)] {
        guard method.isArithmetic else { return [] }
        var out = [
            (
                "merge.weights",
                (weights ?? Array(repeating: 1, count: patchCount)).map { "\($0)" }.joined(separator: ",")
            )
        ]
        if method != .mean { out.append(("merge.lambda", "\(lambda)")) }
        if method == .ties { out.append(("merge.density", "\(density ?? 1)")) }
        if method.drops { out.append(("merge.drop", "\(drop ?? 0)")) }
        if usesSeed(method) { out.append(("merge.seed", "\(seed ?? 0)")) }
        return out
    }

    /// Whether `method` with these parameters draws on the seed: the drop always, the trim
    /// when it cuts (a density of 1 keeps every delta, so nothing is tied at a cut).
    private func usesSeed(_ method: MergeMethod) -> Bool {
        method.drops || (method == .ties && (density ?? 1) < 1)
    }
}
