import Foundation
import Patches
import Tensors
import Testing

@testable import Checkpoints

/// The picture of `audit --report`: every tensor of the base, untouched ones grey, shaded by
/// the relative size of the change, and the spread of the changes over rows and columns.
struct AuditReportTests {
    static func floats(_ shape: [Int], _ values: [Float]) -> TensorView {
        TensorView.make(dtype: .f32, shape: shape) { buffer in values.withUnsafeBytes { buffer.copyMemory(from: $0) } }
    }

    /// A base of five tensors (one named with markup) and a patch that changes four elements
    /// of the 4 × 4 matrix of ones `encoder.layer.0.intermediate.dense.weight` by ±0.5:
    /// ‖Δ‖ = 1, ‖W‖ = 4; positions 0, 3, 9, 15 are rows 0 0 2 3, columns 0 3 1 3.
    static func patchedModel(in folder: String) throws -> (base: String, patch: String) {
        let ones = [Float](repeating: 1, count: 16)
        var tuned = ones
        for (position, change) in [(0, 0.5), (3, 0.5), (9, -0.5), (15, 0.5)] as [(Int, Float)] {
            tuned[position] += change
        }
        func model(_ weight: [Float]) -> [OutputTensor] {
            [
                OutputTensor(
                    name: "embeddings.word_embeddings.weight", view: floats([3, 4], [Float](repeating: 0.5, count: 12))),
                OutputTensor(name: "encoder.layer.0.intermediate.dense.bias", view: floats([4], [1, 2, 3, 4])),
                OutputTensor(name: "encoder.layer.0.intermediate.dense.weight", view: floats([4, 4], weight)),
                OutputTensor(name: "encoder.layer.1.<b>odd</b>", view: floats([4], [1, 1, 1, 1])),
                OutputTensor(name: "encoder.layer.1.intermediate.dense.weight", view: floats([4, 4], ones)),
            ]
        }
        try SafetensorsWriter.write(model(ones), metadata: [("format", "pt")], to: folder + "/base.safetensors")
        try SafetensorsWriter.write(model(tuned), metadata: [("format", "pt")], to: folder + "/tuned.safetensors")
        let patch = folder + "/task.spatch"
        let create = try CLI.run(["create", folder + "/base.safetensors", folder + "/tuned.safetensors", "-o", patch])
        #expect(create.status == 0, "\(create.stderr)")
        return (folder + "/base.safetensors", patch)
    }

    static func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    @Test func withTheBaseTheReportMapsEveryTensorAndTheRelativeChange() throws {
        let folder = try CLI.scratchFolder()
        let (base, patch) = try Self.patchedModel(in: folder)
        let report = folder + "/report.html"
        let audit = try CLI.run(["audit", patch, "--base", base, "--report", report])
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
        let html = try String(contentsOfFile: report, encoding: .utf8)

        #expect(html.contains("<tr><th>of the model</th><td>1 of 5 tensors, 4 of 52 elements (7.69 %)</td></tr>"))
        // Both views: four untouched tensors in each (three in the grid, one outside the
        // numbered blocks), and the legends' "untouched" swatch.
        #expect(
            html.contains("<figcaption>Relative change ‖Δ‖/‖W‖</figcaption>") && html.contains("<figcaption>Density"))
        #expect(Self.occurrences("fill=\"#d4d4d4\"", in: html) == 2 * 4 + 2)
        #expect(html.contains("<title>encoder.layer.1.intermediate.dense.weight — F32 [4, 4]: untouched</title>"))
        #expect(html.contains("<title>encoder.layer.0.intermediate.dense.bias — F32 [4]: untouched</title>"))
        #expect(html.contains("<title>embeddings.word_embeddings.weight — F32 [3, 4]: untouched</title>"))
        // The touched matrix: ‖Δ‖/‖W‖ = 1/4, on its square, in the spread table and the entry table.
        #expect(
            html.contains(
                "<title>encoder.layer.0.intermediate.dense.weight — F32 [4, 4]: xor, 4 of 16 elements changed (25.0 %), ‖Δ‖ 1.0000, ‖W‖ 4.0000, ‖Δ‖/‖W‖ 25.0 %</title>"
            ))
        #expect(html.contains("<td class=\"n\">1.0000</td><td class=\"n\">25.0 %</td>"))
        // The spread, per row and per column, with the summed |Δ|.
        #expect(html.contains("<title>row 0: 2 of 4 changed (50.0 %), Σ|Δ| 1.0000</title>"))
        #expect(html.contains("<title>row 2: 1 of 4 changed (25.0 %), Σ|Δ| 0.5000</title>"))
        #expect(html.contains("<title>row 3: 1 of 4 changed (25.0 %), Σ|Δ| 0.5000</title>"))
        #expect(!html.contains("<title>row 1:"))
        #expect(html.contains("<title>column 3: 2 of 4 changed (50.0 %), Σ|Δ| 1.0000</title>"))
        #expect(html.contains("<title>column 1: 1 of 4 changed (25.0 %), Σ|Δ| 0.5000</title>"))
        #expect(
            html.contains(
                "3 of 4 rows touched · busiest: row 0, 2 of 4 changed · half the changes in 25.0 % of the rows · half the Σ|Δ| in 25.0 %"
            ))
        #expect(
            html.contains(
                "3 of 4 columns touched · busiest: column 3, 2 of 4 changed · half the changes in 25.0 % of the columns"
            ))
        // Names from the file are escaped, in the grid's columns as everywhere.
        #expect(html.contains("&lt;b&gt;odd&lt;/b&gt;") && !html.contains("<b>odd"))
        #expect(!html.contains("<script"))
    }

    @Test func withoutTheBaseTheReportShowsThePatchAndSaysWhatTheBaseWouldAdd() throws {
        let folder = try CLI.scratchFolder()
        let (_, patch) = try Self.patchedModel(in: folder)
        let report = folder + "/report.html"
        #expect(try CLI.run(["audit", patch, "--report", report]).status == 0)
        let html = try String(contentsOfFile: report, encoding: .utf8)
        #expect(html.contains("Give <code>--base</code> for the full picture"))
        #expect(!html.contains("fill=\"#d4d4d4\"") && !html.contains("Relative change ‖Δ‖/‖W‖</figcaption>"))
        #expect(
            html.contains(
                "<title>encoder.layer.0.intermediate.dense.weight — F32 [4, 4]: xor, 4 of 16 elements changed (25.0 %)</title>"
            ))
        // The positions alone give the spread's counts, not the sizes.
        #expect(html.contains("<title>row 0: 2 of 4 changed (50.0 %)</title>"))
        #expect(
            html.contains(
                "3 of 4 rows touched · busiest: row 0, 2 of 4 changed · half the changes in 25.0 % of the rows</div>"))
    }

    @Test func aFailedCheckIsFramedRedAndItsSizeIsUnknown() throws {
        let folder = try CLI.scratchFolder()
        let (_, patch) = try Self.patchedModel(in: folder)
        let report = folder + "/report.html"
        // Against the tuned model the matrix's fingerprint does not match: the report is
        // still written, and says so on the square.
        let audit = try CLI.run(["audit", patch, "--base", folder + "/tuned.safetensors", "--report", report])
        #expect(audit.status == 1)
        let html = try String(contentsOfFile: report, encoding: .utf8)
        #expect(
            html.contains(
                "<title>encoder.layer.0.intermediate.dense.weight — F32 [4, 4]: xor, FAILED: base tensor differs from the one the patch was made for, 4 of 16 elements changed (25.0 %)</title>"
            ))
        #expect(Self.occurrences("stroke=\"#b00020\" stroke-width=\"2.5\"", in: html) == 2)  // one square per view
        #expect(html.contains(">?</text>") && html.contains("changed, size unknown"))
    }

    @Test func aMaskIsMappedByDensityOnly() throws {
        let folder = try CLI.scratchFolder()
        let (base, _) = try Self.patchedModel(in: folder)
        let mask = folder + "/task.mask.spatch"
        try MaskWriter.write(
            positions: [("encoder.layer.0.intermediate.dense.weight", [0, 3, 9, 15])],
            base: try Checkpoint.open(base), metadata: [], to: mask)
        let report = folder + "/report.html"
        #expect(try CLI.run(["audit", mask, "--base", base, "--report", report]).status == 0)
        let html = try String(contentsOfFile: report, encoding: .utf8)
        #expect(!html.contains("Relative change ‖Δ‖/‖W‖</figcaption>") && html.contains("<figcaption>Density"))
        #expect(Self.occurrences("fill=\"#d4d4d4\"", in: html) == 4 + 1)  // one view, its legend
        #expect(
            html.contains(
                "3 of 4 rows touched · busiest: row 0, 2 of 4 changed · half the changes in 25.0 % of the rows</div>"))
    }
}
