import Foundation
import Models

/// Scores that weigh SPU's task relevance against what the model being updated knows: its
/// MAS importance on generic data (`GenericImportance`). SPU alone keeps the weights most
/// relevant to the task, some of which the model leans on for everything else; these keep
/// the task's weights that generic inputs depend on least.
///
/// Both work per tensor, as SPU's selection does ("Overcoming Generic Knowledge Loss with
/// Selective Parameter Update", CVPR 2024), and leave the mask's size unchanged; the
/// importance is MAS's (Aljundi et al., ECCV 2018), see `GenericImportance`.
public enum KnowledgeAwareScores {
    /// spu-mas-ratio: R / (Ω + ε) per position, R the task relevance |Σ g| and Ω the generic
    /// importance, with ε = `floor` · mean(Ω) over the tensor.
    ///
    /// ε is scale-free: multiplying R or Ω by a constant (a longer text file, another loss
    /// scale) changes no ranking. With `floor` 0.1, a weight the generic texts barely touch
    /// competes as if its importance were a tenth of the tensor's mean: differences below that
    /// are within the sampling noise of a few hundred texts, and a weight of zero importance
    /// cannot win on a sliver of relevance. A tensor of zero importance everywhere (mean 0)
    /// keeps R, the same ranking any ε would give.
    /// - Parameters: `relevance` and `importance` have one value per position (equal counts).
    public static func ratio(relevance: [Float], importance: [Float], floor: Double) -> [Float] {
        let mean = importance.reduce(0.0) { $0 + Double($1) } / Double(max(importance.count, 1))
        guard mean > 0 else { return relevance }
        let epsilon = Float(floor * mean)
        return zip(relevance, importance).map { $0 / ($1 + epsilon) }
    }

    /// The flat positions, sorted, of the ⌊`fraction` · n⌋ highest importances of a tensor of n
    /// elements; equal importances at the cut are taken from the lower positions (as
    /// `MaskSelection.top` breaks ties), so the set is the same on every run.
    public static func mostImportant(_ importance: [Float], fraction: Double) -> [Int] {
        let count = min(importance.count, Int((fraction * Double(importance.count)).rounded(.down)))
        guard count > 0 else { return [] }
        let order = importance.indices.sorted { a, b in
            importance[a] != importance[b] ? importance[a] > importance[b] : a < b
        }
        return Array(order.prefix(count)).sorted()
    }

    /// spu-mas-exclude: the relevance, with the `fraction` of positions most important on the
    /// generic data (`mostImportant`) scoring −∞, which `MaskSelection.top` never selects.
    public static func excluding(relevance: [Float], importance: [Float], fraction: Double) -> [Float] {
        var scores = relevance
        for position in mostImportant(importance, fraction: fraction) { scores[position] = -.infinity }
        return scores
    }

    /// The refusal of a knowledge-aware score without generic text.
    static func noGenericText(_ method: ScoreMethod) -> ModelError {
        ModelError(
            "--generic-text",
            """
            the \(method.rawValue) score measures importance on generic text: give a file of it, one text per \
            line (Samples/make_generic_text.py writes one)
            """,
            kind: .invalidSetting
        )
    }

    /// Refuses settings under which a knowledge-aware score cannot keep the mask's size.
    /// - Throws: `ModelError` naming the option: no generic text for a score that needs it,
    ///   fewer than one example, a protected fraction outside [0, 1), or one that leaves fewer
    ///   positions than `rate` asks for (rate + protected fraction above 1).
    public static func check(_ settings: RelevanceScorer.Settings, rate: Double) throws {
        guard settings.method.usesGenericImportance else { return }
        guard settings.generic.textFile != nil else { throw noGenericText(settings.method) }
        guard settings.generic.examples >= 1 else {
            throw ModelError(
                "--generic-examples", "must be at least 1, not \(settings.generic.examples)", kind: .invalidSetting)
        }
        guard settings.importanceFloor > 0, settings.importanceFloor.isFinite else {
            throw ModelError(
                "importance floor", "must be positive, not \(settings.importanceFloor)", kind: .invalidSetting)
        }
        if settings.method == .spuMASExclude {
            let q = settings.protectedFraction
            guard q >= 0, q < 1 else {
                throw ModelError("--protected-fraction", "must be in [0, 1), not \(q)", kind: .invalidSetting)
            }
            guard rate + q <= 1 else {
                throw ModelError(
                    "--protected-fraction",
                    """
                    \(q) with --rate \(rate) leaves fewer weights than the mask keeps: rate + protected fraction \
                    must be at most 1
                    """,
                    kind: .invalidSetting
                )
            }
        }
    }
}
