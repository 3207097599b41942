import Checkpoints
import Foundation
import Patches
import Tensors

/// The audit report's map of a model: one grid cell per tensor, blocks down (`encoder.layer
/// 3`), tensor kinds across (`intermediate.dense.weight`), in two views, the relative size of
/// the change and its density. With the base, every tensor of the model is on the map and
/// the untouched ones are grey; without it, only the patch's entries are known.
struct AuditMap {
    /// One tensor on the map: its name, "F32 [1536, 384]", and the patch's entry for it.
    struct Tensor {
        let name: String
        let type: String
        let audit: EntryAudit?
    }

    /// The two views of one tensor.
    enum View { case change, density }

    /// "encoder.layer 3" rows, in the order the model lists them; each row's tensors by kind.
    private(set) var rows: [(label: String, cells: NameMap<Tensor>)] = []
    /// Tensor kinds, in first-seen order.
    private(set) var kinds: [String] = []
    /// Tensors outside numbered blocks (embeddings, heads, final norms).
    private(set) var others: [Tensor] = []
    let scale: DecadeScale
    let hasBase: Bool
    /// Whether there are sizes of changes to show: with a base, for a patch (a mask has
    /// positions only).
    let showsChange: Bool

    /// The map of `base`'s tensors (with entries for the touched ones, and the patch's
    /// entries the base lacks at the end), or of the patch's entries alone without a base.
    init(_ audits: [EntryAudit], base: Checkpoint?) {
        var byName = NameMap<EntryAudit>()
        for audit in audits { byName[audit.entry.name] = audit }
        var tensors: [Tensor] = []
        if let base {
            var listed = NameSet()
            for entry in base.tensors {
                tensors.append(
                    Tensor(
                        name: entry.name, type: "\(entry.dtype.rawValue) \(Shape.describe(entry.shape))",
                        audit: byName[entry.name]))
                listed.insert(entry.name)
            }
            for audit in audits where !listed.contains(audit.entry.name) {
                tensors.append(
                    Tensor(
                        name: audit.entry.name, type: AuditReport.describe(audit.entry.before ?? audit.entry.after),
                        audit: audit))
            }
        } else {
            tensors = audits.map {
                Tensor(name: $0.entry.name, type: AuditReport.describe($0.entry.before ?? $0.entry.after), audit: $0)
            }
        }
        hasBase = base != nil
        showsChange = base != nil && audits.contains { $0.entry.operation != .mask }
        scale = DecadeScale(fitting: audits.compactMap { $0.delta?.relativeL2 })

        var rowIndex = NameMap<Int>()  // by group and layer
        var kindSet = NameSet()
        for tensor in tensors {
            guard let (group, layer, kind) = AuditHTML.layerParts(tensor.name) else {
                others.append(tensor)
                continue
            }
            let key = "\(group)\u{0}\(layer)"
            if rowIndex[key] == nil {
                rowIndex[key] = rows.count
                rows.append(("\(group) \(layer)", NameMap()))
            }
            rows[rowIndex[key]!].cells[kind] = tensor
            if kindSet.insert(kind) { kinds.append(kind) }
        }
    }

    /// The cell's fill and what it says on hover.
    private func paint(_ tensor: Tensor, _ view: View) -> (fill: String, title: String) {
        let head = AuditHTML.escape(tensor.name) + " — " + AuditHTML.escape(tensor.type)
        guard let audit = tensor.audit else { return (AuditColors.untouched, head + ": untouched") }
        let e = audit.entry
        var title = head + ": " + e.operation.rawValue
        if let problem = AuditHTML.problem(audit) { title += ", FAILED: " + AuditHTML.escape(problem) }
        switch e.operation {
        case .add, .remove, .replace:
            return (view == .change ? AuditColors.whole : AuditColors.density(1), title + " (whole tensor)")
        case .xor, .mask:
            title +=
                """
                , \(Format.count(e.nnz)) of \(Format.count(e.elementCount)) elements changed \
                (\(AuditHTML.percent(e.density)))
                """
            if let d = audit.delta {
                title += ", ‖Δ‖ \(DiffReport.number(d.l2)), ‖W‖ \(DiffReport.number(d.baseL2))"
                if let relative = d.relativeL2 { title += ", ‖Δ‖/‖W‖ \(AuditHTML.percent(relative))" }
            }
            switch view {
            case .density: return (AuditColors.density(e.density), title)
            case .change: return (audit.delta?.relativeL2.map(scale.color) ?? AuditColors.unknown, title)
            }
        }
    }

    /// Whether a cell needs the red frame of a failed check.
    static func failed(_ tensor: Tensor) -> Bool { tensor.audit.map { AuditHTML.problem($0) != nil } ?? false }

    static let cell = 22

    /// The grid of one view, as SVG.
    func grid(_ view: View) -> String {
        let cell = Self.cell
        // Column labels are written at 55°: they need about 0.82 × their length above the
        // grid and 0.57 × their length to the right of their column.
        let longest = Double(kinds.map(\.count).max() ?? 0) * 6.2
        let labelWidth = Int(Double(rows.map(\.label.count).max() ?? 0) * 6.6) + 12
        let headerHeight = Int(longest * 0.82) + 16
        let width = labelWidth + kinds.count * cell + Int(longest * 0.57) + 10
        let height = headerHeight + rows.count * cell + 4
        var svg =
            """
            <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" \
            font-family=\"sans-serif\" font-size=\"11\">
            """
        for (c, kind) in kinds.enumerated() {
            let x = labelWidth + c * cell + cell / 2
            svg +=
                "<text transform=\"translate(\(x),\(headerHeight - 6)) rotate(-55)\">\(AuditHTML.escape(kind))</text>"
        }
        for (r, row) in rows.enumerated() {
            let y = headerHeight + r * cell
            svg +=
                """
                <text x=\"\(labelWidth - 6)\" y=\"\(y + cell / 2 + 4)\" \
                text-anchor=\"end\">\(AuditHTML.escape(row.label))</text>
                """
            for (c, kind) in kinds.enumerated() {
                let x = labelWidth + c * cell
                guard let tensor = row.cells[kind] else {
                    // This block has no tensor of this kind.
                    svg +=
                        """
                        <rect x=\"\(x + 1)\" y=\"\(y + 1)\" width=\"\(cell - 4)\" height=\"\(cell - 4)\" \
                        fill=\"none\" stroke=\"#eee\"/>
                        """
                    continue
                }
                svg += rect(tensor, view, x: x + 1, y: y + 1, size: cell - 4)
            }
        }
        return svg + "</svg>"
    }

    /// One tensor's square, framed red when a check failed, with a "?" when the size of the
    /// change is unknown.
    func rect(_ tensor: Tensor, _ view: View, x: Int, y: Int, size: Int) -> String {
        let (fill, title) = paint(tensor, view)
        let stroke =
            Self.failed(tensor) ? "stroke=\"#b00020\" stroke-width=\"2.5\"" : "stroke=\"#888\" stroke-width=\"0.5\""
        var svg =
            """
            <g><title>\(title)</title><rect x=\"\(x)\" y=\"\(y)\" width=\"\(size)\" height=\"\(size)\" \
            fill=\"\(fill)\" \(stroke)/>
            """
        if fill == AuditColors.unknown {
            svg += "<text x=\"\(x + size / 2)\" y=\"\(y + size / 2 + 4)\" text-anchor=\"middle\" fill=\"#555\">?</text>"
        }
        return svg + "</g>"
    }

    /// Legend of one view: its scale (for the change, a continuous bar with the decades
    /// marked), then the states it shows apart from it.
    func legend(_ view: View) -> String {
        var x = 0
        var svg = ""
        var items: [(String, String)] = []  // (fill, label)
        switch view {
        case .change:
            // The ramp's stops, evenly spaced as `DecadeScale.position` spreads them.
            let decade = 60
            let width = decade * (scale.high - scale.low)
            svg += "<defs><linearGradient id=\"change-scale\">"
            for i in AuditColors.change.indices {
                let t = Double(i) / Double(AuditColors.change.count - 1)
                svg +=
                    "<stop offset=\"\(Format.fixed(t, 2))\" stop-color=\"\(AuditColors.ramp(t, AuditColors.change))\"/>"
            }
            svg += "</linearGradient></defs>"
            // Room on the left for half the first label, which is centred on its tick.
            svg +=
                """
                <rect x=\"18\" y=\"3\" width=\"\(width)\" height=\"12\" fill=\"url(#change-scale)\" \
                stroke=\"#888\" stroke-width=\"0.5\"/>
                """
            for (i, value) in scale.decades.enumerated() {
                let tick = 18 + i * decade
                svg += "<line x1=\"\(tick)\" x2=\"\(tick)\" y1=\"15\" y2=\"19\" stroke=\"#555\"/>"
                svg += "<text x=\"\(tick)\" y=\"29\" text-anchor=\"middle\">\(AuditHTML.roundPercent(value))</text>"
            }
            x = width + 46
        case .density:
            items = [0.001, 0.01, 0.1, 0.25, 0.5, 1].map { (AuditColors.density($0), AuditHTML.roundPercent($0)) }
        }
        if hasBase { items.append((AuditColors.untouched, "untouched")) }
        let all = rows.flatMap { $0.cells.values } + others
        if view == .change {
            if all.contains(where: { $0.audit.map { [.add, .remove, .replace].contains($0.entry.operation) } ?? false })
            {
                items.append((AuditColors.whole, "whole tensor (add, remove, replace)"))
            }
            if all.contains(where: { $0.audit != nil && paint($0, .change).fill == AuditColors.unknown }) {
                items.append((AuditColors.unknown, "changed, size unknown"))
            }
        }
        for (fill, label) in items {
            svg +=
                """
                <rect x=\"\(x)\" y=\"3\" width=\"14\" height=\"14\" fill=\"\(fill)\" stroke=\"#888\" \
                stroke-width=\"0.5\"/>
                """
            svg += "<text x=\"\(x + 18)\" y=\"14\">\(AuditHTML.escape(label))</text>"
            x += 18 + Int(Double(label.count) * 6.2) + 14
        }
        return
            """
            <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(x)\" height=\"32\" font-family=\"sans-serif\" \
            font-size=\"11\">\(svg)</svg>
            """
    }

    /// The views there are: the size of the change needs the base.
    var views: [View] { showsChange ? [.change, .density] : [.density] }

    /// The tensors outside numbered blocks, one line each with each view's square.
    func othersTable() -> String {
        var html = "<table class=\"others\"><tr><th>tensor</th><th>dtype / shape</th>"
        html += (showsChange ? "<th>change</th>" : "") + "<th>density</th><th></th></tr>"
        for tensor in others {
            html +=
                "<tr><td><code>\(AuditHTML.escape(tensor.name))</code></td><td>\(AuditHTML.escape(tensor.type))</td>"
            for view in views {
                html +=
                    """
                    <td><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"18\" \
                    height=\"18\">\(rect(tensor, view, x: 1, y: 1, size: 16))</svg></td>
                    """
            }
            html += "<td>\(summary(tensor))</td></tr>"
        }
        return html + "</table>"
    }

    /// A tensor's figures in words, for the list outside the grid.
    func summary(_ tensor: Tensor) -> String {
        guard let audit = tensor.audit else { return "untouched" }
        let e = audit.entry
        var text = e.operation.rawValue
        if e.operation == .xor || e.operation == .mask { text += ", \(AuditHTML.percent(e.density)) of the elements" }
        if let relative = audit.delta?.relativeL2 { text += ", ‖Δ‖/‖W‖ \(AuditHTML.percent(relative))" }
        if let problem = AuditHTML.problem(audit) {
            text += ", <span class=\"bad\">\(AuditHTML.escape(problem))</span>"
        }
        return text
    }
}
