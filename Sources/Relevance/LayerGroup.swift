import Foundation
import Models

/// Which tensors a mask may select: named layer groups (`first-mlp`, `second-mlp`,
/// `attention`, as the architecture defines them), or globs over the checkpoint's names of the
/// tensors the runtime can train.
public enum LayerGroup {
    /// The trainable tensors of `encoder` that `specification` selects, in forward order:
    /// a comma-separated list of group names and globs (`*` and `?`, as the shell's, over
    /// whole tensor names). A part that selects nothing is an error.
    public static func tensors(_ specification: String, of encoder: any TrainableEncoder) throws -> [String] {
        let names = encoder.trainableNames
        var selected: Set<String> = []
        for part in specification.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
        where !part.isEmpty {
            let matches = try encoder.layerGroup(part) ?? names.filter { fnmatch(part, $0, 0) == 0 }
            guard !matches.isEmpty else {
                let groups = LayerGroupName.allCases.map(\.rawValue).joined(separator: ", ")
                throw ModelError(
                    "--layers",
                    """
                    \"\(part)\" selects no tensor: use \(groups) or a glob over the \(encoder.architecture) \
                    model's trainable tensors, such as \(names.first(where: { $0.contains(".0.") }) ?? names[0])
                    """,
                    kind: .invalidSetting
                )
            }
            selected.formUnion(matches)
        }
        guard !selected.isEmpty else { throw ModelError("--layers", "is empty", kind: .invalidSetting) }
        return names.filter(selected.contains)
    }

    /// The bias of a Linear layer whose weight is `weight` (`X.weight` → `X.bias`), if the
    /// encoder trains one and `weight` is a matrix (a LayerNorm's weight has no partner here).
    public static func bias(of weight: String, in encoder: any TrainableEncoder) -> String? {
        guard weight.hasSuffix(".weight"), !weight.contains("LayerNorm"), !weight.contains("embeddings.") else {
            return nil
        }
        let bias = String(weight.dropLast("weight".count)) + "bias"
        guard let biasCount = encoder.values(of: bias)?.count, let weightCount = encoder.values(of: weight)?.count,
            weightCount > biasCount
        else { return nil }
        return bias
    }
}
