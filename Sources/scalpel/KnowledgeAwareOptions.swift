import ArgumentParser
import Relevance

/// The options of the knowledge-aware scores (spu-mas-ratio, spu-mas-exclude), which `mask`
/// and `continual` share: the generic text MAS importance is measured on, and the protected
/// fraction. Checked once and put into the scorer's settings in one place.
struct KnowledgeAwareOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            spu-mas-*: unlabeled generic text, UTF-8, one text per line (the demo's: \
            .cache/tasks/wordnet/generic-adjectives.txt).
            """,
            valueName: "file"))
    var genericText: String?
    @Option(
        name: .long,
        help:
            """
            spu-mas-*: how many of its texts (from the first) MAS importance is measured on, one forward and \
            backward pass each.
            """
    )
    var genericExamples: Int = 256
    @Option(
        name: .long,
        help:
            """
            spu-mas-exclude: the fraction of each eligible tensor, highest generic importance first, that the \
            mask may not select; in [0, 1), at most 1 - rate.
            """
    )
    var protectedFraction: Double = 0.1

    /// Refuses options that no score could use: `score` (nil: no mask) needs the generic text
    /// when it is a knowledge-aware score, and the protected fraction must leave room for `rate`.
    func validate(score: ScoreMethod?, rate: Double) throws {
        if genericExamples < 1 { throw ValidationError("--generic-examples must be at least 1") }
        if !(protectedFraction >= 0 && protectedFraction < 1) {
            throw ValidationError("--protected-fraction must be in [0, 1), got \(protectedFraction)")
        }
        guard let score, score.usesGenericImportance else { return }
        if genericText == nil {
            throw ValidationError(
                """
                --score/--method \(score.rawValue) measures importance on generic text: give it with \
                --generic-text FILE
                """
            )
        }
        if score == .spuMASExclude, rate + protectedFraction > 1 {
            throw ValidationError(
                """
                --rate \(rate) and --protected-fraction \(protectedFraction) add up to more than 1: the mask \
                could not keep its size
                """
            )
        }
    }

    /// `settings` with these options.
    func applied(to settings: RelevanceScorer.Settings) -> RelevanceScorer.Settings {
        var settings = settings
        settings.generic.textFile = genericText
        settings.generic.examples = genericExamples
        settings.protectedFraction = protectedFraction
        return settings
    }
}
