import Checkpoints
import Foundation
import Patches
import Tensors

/// The self-contained HTML page of `audit --report`: summary, metadata, a heat map of where
/// the patch lives (layers × tensor kinds, shaded by density), and the entry table. No
/// scripts, no external resources: it opens from a file in any browser.
enum AuditHTML {
    /// Splits "encoder.layer.3.intermediate.dense.weight" into ("encoder.layer", 3,
    /// "intermediate.dense.weight"), for the names that number their blocks.
    static func layerParts(_ name: String) -> (group: String, layer: Int, kind: String)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let blockWords: Set<String> = ["layer", "layers", "resblocks", "blocks", "block", "h"]
        for i in 0..<(parts.count - 1) where blockWords.contains(parts[i]) {
            if let layer = Int(parts[i + 1]), i + 2 < parts.count {
                return (parts[0...i].joined(separator: "."), layer, parts[(i + 2)...].joined(separator: "."))
            }
        }
        return nil
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// White at 0, deep red at 1; densities are spread on a square-root scale so 1 % and
    /// 10 % stay distinguishable.
    static func color(_ density: Double) -> String {
        let t = min(1, max(0, density)).squareRoot()
        let r = Int(255 - t * (255 - 165)), g = Int(255 - t * 255), b = Int(255 - t * (255 - 38))
        return String(format: "#%02x%02x%02x", r, g, b)
    }

    static func heatMap(_ audits: [EntryAudit]) -> String {
        var rows: [String] = []  // "group layer" labels, in first-seen order
        var columns: [String] = []
        var cells = NameMap<EntryAudit>()  // by name bytes
        var others: [EntryAudit] = []
        for audit in audits {
            guard let (group, layer, kind) = layerParts(audit.entry.name) else { others.append(audit); continue }
            let row = "\(group) \(layer)"
            if !rows.contains(row) { rows.append(row) }
            if !columns.contains(kind) { columns.append(kind) }
            cells[row + "|" + kind] = audit
        }
        // Column labels are written at 55°: they need about 0.82 × their length above the
        // grid and 0.57 × their length to the right of their column.
        let longest = Double(columns.map(\.count).max() ?? 0) * 6.2
        let cell = 26, labelWidth = 200, headerHeight = Int(longest * 0.82) + 16
        let width = labelWidth + columns.count * cell + Int(longest * 0.57) + 20
        let height = headerHeight + rows.count * cell + 10
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">"
        for (c, kind) in columns.enumerated() {
            let x = labelWidth + c * cell + cell / 2
            svg += "<text transform=\"translate(\(x),\(headerHeight - 6)) rotate(-55)\">\(escape(kind))</text>"
        }
        for (r, row) in rows.enumerated() {
            let y = headerHeight + r * cell
            svg += "<text x=\"\(labelWidth - 6)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"end\">\(escape(row))</text>"
            for (c, kind) in columns.enumerated() {
                let x = labelWidth + c * cell
                if let audit = cells[row + "|" + kind] {
                    let e = audit.entry
                    let density = e.operation == .xor || e.operation == .mask ? e.density : 1
                    svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell - 2)\" height=\"\(cell - 2)\" fill=\"\(color(density))\" stroke=\"#999\">"
                    svg += "<title>\(escape(e.name)): \(e.operation.rawValue), \(Format.count(e.nnz)) positions, \(Format.fixed(density * 100, 2)) %</title></rect>"
                } else {
                    svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell - 2)\" height=\"\(cell - 2)\" fill=\"none\" stroke=\"#eee\"/>"
                }
            }
        }
        svg += "</svg>"
        var html = rows.isEmpty ? "<p>No entry belongs to a numbered block.</p>" : svg + "<div>" + legend() + "</div>"
        if !others.isEmpty {
            html += "<h3>Outside numbered blocks</h3><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"\(others.count * 20 + 10)\" font-family=\"sans-serif\" font-size=\"11\">"
            for (i, audit) in others.enumerated() {
                let e = audit.entry
                let density = e.operation == .xor || e.operation == .mask ? e.density : 1
                let y = i * 20 + 4
                html += "<text x=\"0\" y=\"\(y + 12)\">\(escape(e.name))</text>"
                html += "<rect x=\"330\" y=\"\(y)\" width=\"\(max(1, Int(density * 200)))\" height=\"14\" fill=\"\(color(max(density, 0.3)))\"><title>\(Format.fixed(density * 100, 2)) %</title></rect>"
                html += "<text x=\"540\" y=\"\(y + 12)\">\(e.operation.rawValue) \(Format.fixed(density * 100, 2)) %</text>"
            }
            html += "</svg>"
        }
        return html
    }

    /// Swatches for the density scale.
    static func legend() -> String {
        let stops: [Double] = [0.001, 0.01, 0.1, 0.25, 0.5, 1]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(stops.count * 70 + 60)\" height=\"34\" font-family=\"sans-serif\" font-size=\"11\">"
        svg += "<text x=\"0\" y=\"14\">density</text>"
        for (i, stop) in stops.enumerated() {
            let x = 60 + i * 70
            svg += "<rect x=\"\(x)\" y=\"2\" width=\"18\" height=\"18\" fill=\"\(color(stop))\" stroke=\"#999\"/>"
            svg += "<text x=\"\(x + 22)\" y=\"15\">\(Format.fixed(stop * 100, stop < 0.01 ? 1 : 0)) %</text>"
        }
        return svg + "</svg>"
    }

    static func page(_ file: PatchFile, _ audits: [EntryAudit], base: Checkpoint?) -> String {
        let header = file.header
        let sound = audits.allSatisfy { $0.integrityProblem == nil && ($0.fingerprint == nil || $0.fingerprint == .matches) }
        var html = """
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
            <title>Scalpel audit: \(escape(URL(fileURLWithPath: file.path).lastPathComponent))</title>
            <style>
            body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}
            td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
            .ok{color:#176f2c}.bad{color:#b00020;font-weight:bold}code{font-size:12px}
            </style></head><body>
            <h1>\(escape(URL(fileURLWithPath: file.path).lastPathComponent))</h1>
            <p class="\(sound ? "ok" : "bad")">\(sound ? "Every entry is sound" + (base == nil ? "." : " and matches the base.") : "Problems found: see the table.")</p>
            <table>
            <tr><th>kind</th><td>\(header.kind.rawValue), spatch version \(header.version)</td></tr>
            <tr><th>id</th><td><code>\(file.id)</code></td></tr>
            <tr><th>size</th><td>\(Format.bytes(file.fileSize))</td></tr>
            <tr><th>entries</th><td>\(Format.count(header.entries.count))</td></tr>
            <tr><th>positions</th><td>\(Format.count(header.entries.map(\.nnz).saturatingSum()))</td></tr>
            """
        for (key, value) in header.metadata { html += "<tr><th>\(escape(key))</th><td>\(escape(value))</td></tr>" }
        if let base { html += "<tr><th>audited against</th><td>\(escape(base.path))</td></tr>" }
        html += "</table><h2>Where the patch lives</h2><p>Density of each entry (share of the tensor's elements it changes; whole-tensor entries count as 1). Hover a cell for details.</p>"
        html += heatMap(audits)
        html += "<h2>Entries</h2><table><tr><th>tensor</th><th>op</th><th>dtype / shape</th><th>positions</th><th>density</th><th>index</th><th>stored</th><th>check</th>"
        if base != nil { html += "<th>base</th><th>L2 Δ</th><th>max |Δ|</th><th>Δ &gt; 0</th>" }
        html += "</tr>"
        for audit in audits {
            let e = audit.entry
            html += "<tr><td><code>\(escape(e.name))</code></td><td>\(e.operation.rawValue)</td><td>\(escape(AuditReport.describe(e.before ?? e.after)))</td>"
            html += "<td class=\"n\">\(Format.count(e.nnz))</td><td class=\"n\">\(Format.fixed(e.density * 100, 2)) %</td><td>\(e.indexEncoding?.rawValue ?? "-")</td><td class=\"n\">\(Format.bytes(e.storedBytes))</td>"
            html += audit.integrityProblem.map { "<td class=\"bad\">\(escape($0))</td>" } ?? "<td class=\"ok\">ok</td>"
            if base != nil {
                switch audit.fingerprint {
                case .matches?: html += "<td class=\"ok\">matches</td>"
                case let .mismatch(reason)?: html += "<td class=\"bad\">\(escape(reason))</td>"
                case nil: html += "<td>-</td>"
                }
                html += "<td class=\"n\">\(DiffReport.number(audit.delta?.l2))</td><td class=\"n\">\(DiffReport.number(audit.delta?.maxAbs))</td>"
                html += "<td class=\"n\">\(audit.delta?.positiveShare.map { Format.fixed($0 * 100, 1) + " %" } ?? "-")</td>"
            }
            html += "</tr>"
        }
        html += "</table><p><small>Written by scalpel \(Scalpel.version).</small></p></body></html>\n"
        return html
    }
}
