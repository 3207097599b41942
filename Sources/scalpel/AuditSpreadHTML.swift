import Foundation
import Patches

/// The audit report's strips: for each touched weight matrix, how the changed elements
/// spread over its rows (output neurons of a `[out, in]` linear weight, tokens of an
/// embedding) and its columns (input features), as bar charts of the share of each row or
/// column that changed.
enum AuditSpreadHTML {
    /// Widest strip, in pixels: longer axes are binned so that each bar covers several rows.
    static let stripWidth = 384
    static let barHeight = 34

    /// The section's table, one line per tensor with a spread; nil when there is none.
    static func section(_ audits: [EntryAudit]) -> String? {
        let spread = audits.compactMap { audit in audit.spread.map { (audit, $0) } }
        guard !spread.isEmpty else { return nil }
        var html =
            """
            <table class=\"spread\"><tr><th>tensor</th><th>rows (dim 0: output neurons)</th><th>columns (dim 1: \
            input features)</th></tr>
            """
        for (audit, s) in spread {
            let e = audit.entry
            html +=
                "<tr><td><code>\(AuditHTML.escape(e.name))</code><br><small>\(AuditHTML.escape(AuditReport.describe(e.before)))"
            html += "<br>\(AuditHTML.percent(e.density)) of the elements changed"
            if let relative = audit.delta?.relativeL2 { html += "<br>‖Δ‖/‖W‖ \(AuditHTML.percent(relative))" }
            html += "</small></td>"
            html +=
                "<td>"
                + strip(
                    s.changedPerRow, magnitudes: s.magnitudePerRow, slotSize: s.columns * s.cellSize, axis: "row",
                    density: e.density) + "</td>"
            html +=
                "<td>"
                + strip(
                    s.changedPerColumn, magnitudes: s.magnitudePerColumn, slotSize: s.rows * s.cellSize, axis: "column",
                    density: e.density) + "</td></tr>"
        }
        return html + "</table>"
    }

    /// One axis's bar chart and its figures: `counts[i]` changed elements of the `slotSize`
    /// in row (or column) i; `magnitudes[i]` their summed |Δ|, when known.
    static func strip(_ counts: [Int], magnitudes: [Double]?, slotSize: Int, axis: String, density: Double) -> String {
        let n = counts.count
        let binLength = (n + stripWidth - 1) / stripWidth
        let bins = (n + binLength - 1) / binLength
        let barWidth = max(1, min(12, stripWidth / bins))
        var shares: [Double] = []
        for b in 0..<bins {
            let range = (b * binLength)..<min(n, (b + 1) * binLength)
            shares.append(Double(counts[range].reduce(0, +)) / Double(range.count * slotSize))
        }
        let top = max(shares.max() ?? 0, density, 1e-12)
        let height = Double(barHeight)
        func barTop(_ share: Double) -> Double { share > 0 ? height - max(1, share / top * height) : height }

        let width = bins * barWidth
        var svg =
            """
            <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width + 2)\" height=\"\(barHeight + 14)\" \
            font-family=\"sans-serif\" font-size=\"10\">
            """
        svg += "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(barHeight)\" fill=\"#f4f4f4\"/>"
        if barWidth >= 3, binLength == 1 {
            // Wide enough to point at: one bar per row, with its figures on hover.
            for (b, share) in shares.enumerated() where share > 0 {
                var title =
                    """
                    \(axis) \(Format.count(b)): \(Format.count(counts[b])) of \(Format.count(slotSize)) changed \
                    (\(AuditHTML.percent(share)))
                    """
                if let magnitudes { title += ", Σ|Δ| \(DiffReport.number(magnitudes[b]))" }
                let y = barTop(share)
                svg +=
                    """
                    <rect x=\"\(b * barWidth)\" y=\"\(Format.fixed(y, 1))\" width=\"\(barWidth - 1)\" \
                    height=\"\(Format.fixed(height - y, 1))\" fill=\"#3182bd\"><title>\(title)</title></rect>
                    """
            }
        } else {
            // Thousands of rows: one path keeps the page small.
            var path = ""
            for (b, share) in shares.enumerated() where share > 0 {
                let y = barTop(share)
                path += "M\(b * barWidth) \(barHeight)V\(Format.fixed(y, 1))h\(barWidth)V\(barHeight)z"
            }
            svg += "<path d=\"\(path)\" fill=\"#3182bd\"/>"
        }
        // The tensor's density: where every bar would be if the changes were spread evenly.
        let even = Format.fixed(barTop(density), 1)
        svg +=
            """
            <line x1=\"0\" x2=\"\(width)\" y1=\"\(even)\" y2=\"\(even)\" stroke=\"#e6550d\" \
            stroke-dasharray=\"4,2\" stroke-width=\"1.2\"/>
            """
        svg +=
            """
            <text x=\"0\" y=\"\(barHeight + 11)\">0</text><text x=\"\(width)\" y=\"\(barHeight + 11)\" \
            text-anchor=\"end\">\(Format.count(n - 1))</text>
            """
        if binLength > 1 {
            svg +=
                """
                <text x=\"\(width / 2)\" y=\"\(barHeight + 11)\" text-anchor=\"middle\" \
                fill=\"#666\">\(binLength) \(axis)s a bar</text>
                """
        }
        svg += "</svg>"

        let plural = axis + "s"
        var figures = ["\(Format.count(counts.count(where: { $0 > 0 }))) of \(Format.count(n)) \(plural) touched"]
        if let busiest = counts.indices.max(by: { counts[$0] < counts[$1] }), counts[busiest] > 0 {
            figures.append(
                """
                busiest: \(axis) \(Format.count(busiest)), \(Format.count(counts[busiest])) of \
                \(Format.count(slotSize)) changed
                """
            )
        }
        if let half = ChangeSpread.halfShare(counts.map(Double.init)) {
            figures.append("half the changes in \(AuditHTML.percent(half)) of the \(plural)")
        }
        if let magnitudes, let half = ChangeSpread.halfShare(magnitudes) {
            figures.append("half the Σ|Δ| in \(AuditHTML.percent(half))")
        }
        return svg + "<div class=\"figures\">" + figures.joined(separator: " · ") + "</div>"
    }
}
