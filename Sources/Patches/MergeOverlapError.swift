import Tensors

/// The refusal of `disjoint` (the default method) when patches change some of the same
/// elements: which patches, which tensors and how many elements, and the methods that would
/// combine them, so that the message alone tells the user what to run instead.
public struct MergeOverlapError: Error, CustomStringConvertible, Sendable {
    /// One tensor's overlap.
    public struct Tensor: Sendable {
        /// The tensor's name.
        public let name: String
        /// Elements that more than one patch changes.
        public let elements: Int
        /// The patches that change some of those elements (0-based command-line places).
        public let patches: [Int]
    }

    /// Every input patch's path, in command-line order.
    public let patches: [String]
    /// The overlapping tensors, most shared elements first (equal counts: by name, UTF-8 bytes).
    public let tensors: [Tensor]
    /// The method the message proposes: `mean`, or `priority` when a patch changes a tensor
    /// that the arithmetic methods refuse (an integer one).
    public let suggestion: MergeMethod
    /// The command line that reruns the merge with `suggestion`, as the caller would type it
    /// (the command line sets it; a library caller has none).
    public var rerun: String?

    /// The tensors listed by name before the rest are summed up in one line.
    static let listedTensors = 10

    init(patches: [PatchFile], tensors: [Tensor]) {
        self.patches = patches.map(\.path)
        self.tensors = tensors.sorted {
            $0.elements != $1.elements
                ? $0.elements > $1.elements : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }
        let arithmeticRefuses = patches.contains { patch in
            patch.entries.contains { $0.operation == .xor && $0.before.map { !$0.dtype.isFloatingPoint } ?? false }
        }
        suggestion = arithmeticRefuses ? .priority : .mean
    }

    /// The refusal as the command shows it: the patches, the tensors with counts, the methods.
    public var description: String {
        let concerned = Array(Set(tensors.flatMap(\.patches))).sorted().map { patches[$0] }
        let total = tensors.reduce(0) { $0 + $1.elements }
        var lines = [
            """
            \(PatchMerger.list(concerned)) change some of the same elements (\(total) in \
            \(Self.plural(tensors.count, "tensor"))), which --method disjoint, the default, refuses:
            """
        ]
        let width = tensors.prefix(Self.listedTensors).map(\.name.count).max() ?? 0
        for tensor in tensors.prefix(Self.listedTensors) {
            let padding = String(repeating: " ", count: width - tensor.name.count)
            // With two patches every overlap is between both; with more, say which.
            let which = patches.count > 2 ? "  (\(tensor.patches.map { patches[$0] }.joined(separator: ", ")))" : ""
            lines.append(
                "  \(tensor.name)\(padding)  \(tensor.elements) element\(tensor.elements == 1 ? "" : "s")\(which)")
        }
        if tensors.count > Self.listedTensors {
            let rest = tensors.dropFirst(Self.listedTensors)
            lines.append(
                """
                  and \(Self.plural(rest.count, "more tensor")) (\(rest.reduce(0) { $0 + $1.elements }) elements; \
                --plan --per-tensor lists them all)
                """
            )
        }
        lines.append("Methods that combine overlapping changes (--method):")
        let combining = MergeMethod.allCases.filter { $0 != .disjoint }
        let methodWidth = combining.map(\.rawValue.count).max() ?? 0
        for method in combining {
            lines.append(
                """
                  \(method.rawValue)\(String(repeating: " ", count: methodWidth - method.rawValue.count))  \
                \(method.meaning)
                """
            )
        }
        if let rerun {
            lines.append("Rerun with one of them, for example:")
            lines.append("  \(rerun)")
        } else {
            lines.append("Merge again with one of them, for example \(suggestion.rawValue).")
        }
        // Names and paths come from files and the command line: shown escaped, one per line.
        return lines.map(DisplayText.escaped).joined(separator: "\n")
    }

    static func plural(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
}

extension MergeOverlapError.Tensor {
    /// The overlap within `union` of the lists of patches `places` (command-line places).
    init(name: String, union: PositionUnion, places: [Int]) {
        var holders = [Int32](repeating: 0, count: union.positions.count)
        for slots in union.slots { for slot in slots { holders[slot] += 1 } }
        self.name = name
        elements = holders.reduce(0) { $0 + ($1 > 1 ? 1 : 0) }
        patches = union.slots.indices.filter { i in union.slots[i].contains { holders[$0] > 1 } }.map { places[$0] }
    }
}
