import Foundation
import Models

/// Which tensors a mask may select: named layer groups of the BERT family, or globs over the
/// checkpoint's tensor names.
public enum LayerGroup {
    /// The named groups and the weight tensors each selects, by suffix of
    /// `encoder.layer.N.` names.
    public static let named: [String: [String]] = [
        "first-mlp": ["intermediate.dense.weight"],
        "second-mlp": ["output.dense.weight"],
        "attention": ["attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight", "attention.output.dense.weight"],
    ]

    /// The trainable tensors of `model` that `specification` selects, in forward order:
    /// a comma-separated list of group names and globs (`*` and `?`, as the shell's, over
    /// whole tensor names). A part that selects nothing is an error.
    public static func tensors(_ specification: String, of model: BertModel) throws -> [String] {
        let names = model.parameterNames
        var selected: Set<String> = []
        for part in specification.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let matches: [String]
            if let suffixes = named[part] {
                let layerPrefix = model.configuration.prefix + "encoder.layer."
                matches = names.filter { name in
                    guard name.hasPrefix(layerPrefix) else { return false }
                    let local = name.dropFirst(layerPrefix.count).drop { $0 != "." }.dropFirst()
                    return suffixes.contains(String(local))
                }
            } else {
                matches = names.filter { fnmatch(part, $0, 0) == 0 }
            }
            guard !matches.isEmpty else {
                throw ModelError("--layers", "\"\(part)\" selects no tensor: use \(named.keys.sorted().joined(separator: ", ")) or a glob over names such as \(names.first(where: { $0.contains("encoder.layer.0.") }) ?? names[0])")
            }
            selected.formUnion(matches)
        }
        guard !selected.isEmpty else { throw ModelError("--layers", "is empty") }
        return names.filter(selected.contains)
    }

    /// The bias of a Linear layer whose weight is `weight` (`X.weight` → `X.bias`), if the
    /// model has one and `weight` is a matrix (a LayerNorm's weight has no partner here).
    public static func bias(of weight: String, in model: BertModel) -> String? {
        guard weight.hasSuffix(".weight"), !weight.contains("LayerNorm"), !weight.contains("embeddings.") else { return nil }
        let bias = String(weight.dropLast("weight".count)) + "bias"
        return model.values(of: bias) == nil ? nil : bias
    }
}
