import Checkpoints
import Foundation
import Tensors

/// The refusals `PatchComposition` gives that must tell the user what to run instead.
extension PatchComposition {
    /// The refusal of sibling patches that change the same elements, with the command that
    /// combines them.
    static func overlapError(_ overlaps: [Overlap], model: Checkpoint) -> PatchError {
        var pairs: [(String, String)] = []
        for overlap in overlaps where !pairs.contains(where: { $0 == (overlap.earlier.path, overlap.later.path) }) {
            pairs.append((overlap.earlier.path, overlap.later.path))
        }
        var lines: [String] = []
        for (earlier, later) in pairs {
            let found = overlaps.filter { $0.earlier.path == earlier && $0.later.path == later }
            let total = found.reduce(0) { $0 + $1.shared }
            lines.append(
                """
                \(earlier) and \(later): \(total) shared element\(total == 1 ? "" : "s") in \(found.count) \
                tensor\(found.count == 1 ? "" : "s")
                """
            )
            for overlap in found.prefix(8) { lines.append("  \"\(overlap.tensor)\": \(overlap.shared)") }
            if found.count > 8 { lines.append("  … and \(found.count - 8) more tensors") }
        }
        var patches: [String] = []
        for (earlier, later) in pairs {
            for path in [earlier, later] where !patches.contains(path) { patches.append(path) }
        }
        let quoted = patches.map(shellQuoted).joined(separator: " ")
        let combining = MergeMethod.allCases.filter { $0 != .disjoint }
        let width = combining.map(\.rawValue.count).max() ?? 0
        let methods = combining.map {
            "  \($0.rawValue)\(String(repeating: " ", count: width - $0.rawValue.count))  \($0.meaning)"
        }
        return PatchError(
            model.path,
            """
            these patches were made against the same tensors and change some of the same elements, so applying \
            one after the other would not give either patch's values there:
            """,
            details: lines.map { "  " + $0 } + [
                "Combine them into one patch first, choosing how shared elements are resolved:",
                "  scalpel merge \(quoted) --base \(shellQuoted(model.path)) --method METHOD -o merged.spatch",
                "  scalpel apply \(shellQuoted(model.path)) merged.spatch -o OUT",
                "where METHOD is one of:",
            ] + methods, kind: .overlappingSiblings)
    }

    /// `text` as one shell word.
    private static func shellQuoted(_ text: String) -> String {
        let plain = text.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || "-_./=:+,@%".utf8.contains(byte)
        }
        return plain && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
