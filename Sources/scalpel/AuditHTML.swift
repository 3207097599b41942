import Checkpoints
import Foundation
import Patches
import Tensors

/// The self-contained HTML page of `audit --report`: summary, metadata, a map of the model
/// (blocks × tensor kinds, shaded by the relative size of the change and, second, by
/// density; see `AuditMap`), how the changes spread over each weight matrix's rows and
/// columns (`AuditSpreadHTML`), and the entry table. No scripts, no external resources: it
/// opens from a file in any browser.
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

    /// `share` (0.0123) as a percentage with about three significant digits ("1.23 %"),
    /// scientific below 0.001 %.
    static func percent(_ share: Double) -> String {
        let p = share * 100
        if p == 0 { return "0 %" }
        if p >= 10 { return Format.fixed(p, 1) + " %" }
        if p >= 1 { return Format.fixed(p, 2) + " %" }
        if p >= 0.001 { return Format.fixed(p, 3) + " %" }
        return String(format: "%.2e %%", p)
    }

    /// A legend's round percentage: 0.001 → "0.1 %", 0.25 → "25 %".
    static func roundPercent(_ share: Double) -> String {
        var text = Format.fixed(share * 100, 4)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + " %"
    }

    /// The entry's failed check, if any: integrity first, then the base's fingerprint.
    static func problem(_ audit: EntryAudit) -> String? {
        if let problem = audit.integrityProblem { return problem }
        if case .mismatch(let reason)? = audit.fingerprint { return reason }
        return nil
    }

    static func page(_ file: PatchFile, _ audits: [EntryAudit], base: Checkpoint?) -> String {
        let header = file.header
        let sound = audits.allSatisfy {
            $0.integrityProblem == nil && ($0.fingerprint == nil || $0.fingerprint == .matches)
        }
        var html = """
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
            <title>Scalpel audit: \(escape(URL(fileURLWithPath: file.path).lastPathComponent))</title>
            <style>
            body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}
            td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
            .ok{color:#176f2c}.bad{color:#b00020;font-weight:bold}code{font-size:12px}p{max-width:60em}
            .views{display:flex;flex-wrap:wrap;gap:1em 3em}figure{margin:0}figcaption{font-weight:bold;margin-bottom:.3em}
            table.spread td,table.others td{vertical-align:top}.figures{font-size:12px;color:#444;max-width:384px}
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
        if let base {
            html += "<tr><th>audited against</th><td>\(escape(base.path))</td></tr>"
            // How much of the model the patch reaches: positions over the base's parameters.
            let positions = header.entries.filter { base.entry(named: $0.name) != nil }.map(\.nnz).saturatingSum()
            let inPatch = NameSet(header.entries.map(\.name))
            let touched = base.tensors.count(where: { inPatch.contains($0.name) })
            html +=
                "<tr><th>of the model</th><td>\(Format.count(touched)) of \(Format.count(base.tensors.count)) tensors, "
            html +=
                """
                \(Format.count(positions)) of \(Format.count(base.parameterCount)) elements \
                (\(percent(Double(positions) / Double(max(1, base.parameterCount)))))</td></tr>
                """
        }
        html += "</table>" + mapSection(audits, base: base)
        if let spread = AuditSpreadHTML.section(audits) {
            html +=
                "<h2>How the changes spread over neurons</h2><p>For each changed weight matrix, the share of each row "
            html +=
                """
                (output neuron of a <code>[out, in]</code> linear weight; token of an embedding) and of each \
                column (input feature) 
                """
            html +=
                """
                that the patch changes, scaled to the busiest; the orange dashed line is the tensor's density, \
                where every bar would be 
                """
            html +=
                """
                if the changes were spread evenly. Gaps are rows or columns left alone. “Half the changes in x % \
                of the rows” 
                """
            html +=
                """
                says how concentrated they are: 50 % when even, small when a few neurons take most. Vectors \
                (biases, norms) have no rows and columns.</p>
                """
            html += spread
        }
        if !header.metadata.isEmpty {
            html += "<h2>Metadata</h2><table>"
            for (key, value) in header.metadata { html += "<tr><th>\(escape(key))</th><td>\(escape(value))</td></tr>" }
            html += "</table>"
        }
        html +=
            """
            <h2>Entries</h2><table><tr><th>tensor</th><th>op</th><th>dtype / \
            shape</th><th>positions</th><th>density</th><th>index</th><th>stored</th><th>check</th>
            """
        if base != nil { html += "<th>base</th><th>L2 Δ</th><th>‖Δ‖/‖W‖</th><th>max |Δ|</th><th>Δ &gt; 0</th>" }
        html += "</tr>"
        for audit in audits {
            let e = audit.entry
            html +=
                "<tr><td><code>\(escape(e.name))</code></td><td>\(e.operation.rawValue)</td><td>\(escape(AuditReport.describe(e.before ?? e.after)))</td>"
            html +=
                """
                <td class=\"n\">\(Format.count(e.nnz))</td><td class=\"n\">\(Format.fixed(e.density * 100, 2)) \
                %</td><td>\(e.indexEncoding?.rawValue ?? "-")</td><td \
                class=\"n\">\(Format.bytes(e.storedBytes))</td>
                """
            html += audit.integrityProblem.map { "<td class=\"bad\">\(escape($0))</td>" } ?? "<td class=\"ok\">ok</td>"
            if base != nil {
                switch audit.fingerprint {
                case .matches?: html += "<td class=\"ok\">matches</td>"
                case .mismatch(let reason)?: html += "<td class=\"bad\">\(escape(reason))</td>"
                case nil: html += "<td>-</td>"
                }
                html +=
                    """
                    <td class=\"n\">\(DiffReport.number(audit.delta?.l2))</td><td \
                    class=\"n\">\(audit.delta?.relativeL2.map(percent) ?? "-")</td>
                    """
                html += "<td class=\"n\">\(DiffReport.number(audit.delta?.maxAbs))</td>"
                html +=
                    "<td class=\"n\">\(audit.delta?.positiveShare.map { Format.fixed($0 * 100, 1) + " %" } ?? "-")</td>"
            }
            html += "</tr>"
        }
        html += "</table><p><small>Written by scalpel \(Scalpel.version).</small></p></body></html>\n"
        return html
    }

    /// The map of the model in its two views, the tensors outside numbered blocks, and what
    /// the shades mean.
    private static func mapSection(_ audits: [EntryAudit], base: Checkpoint?) -> String {
        let map = AuditMap(audits, base: base)
        var html = "<h2>Where the patch lives</h2>"
        if base != nil {
            html += "<p>Every tensor of the base, by block (rows) and kind (columns); grey: untouched. "
        } else {
            html += "<p>The entries by block (rows) and kind (columns). Give <code>--base</code> for the full picture: "
            html += "every tensor of the model, untouched ones in grey, shaded by the relative size of the change. "
        }
        if map.showsChange {
            html +=
                """
                <b>Relative change</b> is ‖Δ‖/‖W‖, the L2 norm of the change over the L2 norm of the base tensor \
                (log scale); 
                """
        }
        html +=
            """
            <b>\(map.showsChange ? "density" : "Density")</b> is the share of the tensor's elements changed \
            (whole-tensor entries count as 100 %). 
            """
        html += "Hover a square for its figures; a red frame marks a failed check.</p>"
        if map.rows.isEmpty {
            html += "<p>No tensor belongs to a numbered block.</p>"
        } else {
            html += "<div class=\"views\">"
            if map.showsChange {
                html +=
                    "<figure><figcaption>Relative change ‖Δ‖/‖W‖</figcaption>" + map.grid(.change) + "<div>"
                    + map.legend(.change) + "</div></figure>"
            }
            html +=
                "<figure><figcaption>Density (changed elements / elements)</figcaption>" + map.grid(.density) + "<div>"
                + map.legend(.density) + "</div></figure>"
            html += "</div>"
        }
        if !map.others.isEmpty {
            html += "<h3>Outside numbered blocks</h3>" + map.othersTable()
            if map.rows.isEmpty { html += map.views.map { "<div>" + map.legend($0) + "</div>" }.joined() }
        }
        return html
    }
}
