import Foundation
import Models
import Tensors

/// Keeps the control set out of mask selection. The control set measures what a model keeps
/// of its generic knowledge; if its texts were among the generic text that the knowledge-aware
/// scores protect, the measure would be of the data the selection saw, not of what the model
/// knows. The demo's generic text (adjective glosses) never holds noun data; this check holds
/// any generic text file to the same rule.
enum ControlSeparation {
    /// - Throws: `FileError` naming `file` and its first text (counting non-blank lines) that
    ///   is, byte for byte, one of the control set's test texts or class prompts.
    static func check(genericTexts: [String], file: String, control: String) throws {
        let task = try TaskFolder(folder: control)
        var controlTexts = NameSet(task.prompts)
        for case .text(let text) in try task.inputs("test").inputs { controlTexts.insert(text) }
        if let index = genericTexts.firstIndex(where: controlTexts.contains) {
            throw FileError(
                file,
                """
                text \(index + 1) (\"\(genericTexts[index])\") is in the control set \(control), as a test text \
                or a class prompt: the control set's data must stay out of selection, so take it out of the \
                generic text
                """,
                kind: .incompatible)
        }
    }
}
