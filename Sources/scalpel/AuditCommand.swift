import ArgumentParser
import Checkpoints
import Foundation
import Patches
import Tensors

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Inspect a patch or mask and check every byte of it.",
        discussion: """
            Shows the header, the metadata and every entry (operation, tensor, positions, \
            density, index encoding, stored size), and checks each entry's checksum, frames \
            and positions. With --base, also checks the base's fingerprints and gives per \
            tensor the L2 norm, largest absolute value and sign balance of the changes. \
            --report writes a self-contained HTML page showing where the patch lives. \
            Exit status 1 when any check fails.
            """)

    @Argument(help: "The .spatch file (patch or mask).")
    var patch: String
    @Option(name: .long, help: "The base checkpoint to verify against.")
    var base: String?
    @Option(name: .long, help: "Write an HTML report here.")
    var report: String?
    @OptionGroup var overwriteOption: OverwriteOption
    @OptionGroup var outputOptions: OutputOptions

    var json: Bool { outputOptions.json }

    func validate() throws {
        try ArgumentRoles.check(
            model: base, patches: [patch], usage: "scalpel audit PATCH [--base BASE] [--report REPORT.html]")
    }

    func run() throws {
        if let report { try overwriteOption.prepare(outputs: [report], inputs: [patch] + (base.map { [$0] } ?? [])) }
        let file = try PatchFile.open(patch)
        let model = try base.map { try Checkpoint.open($0) }
        // Counted in elements: the entries' sizes, whatever their dtypes.
        let progress = ProgressDisplay.counting(
            "audit", total: file.entries.reduce(0) { $0 + $1.elementCount }, unit: .elements, outputOptions)
        let audits = PatchAuditor.audit(file, base: model)
        progress.finish()
        if json {
            print(ResultJSON.object("audit", AuditReport.json(file, audits, base: model, report: report)).pretty())
        } else {
            print(AuditReport.text(file, audits, base: model), terminator: "")
        }
        if let report {
            TemporaryFiles.removeOnSignals()
            let html = AuditHTML.page(file, audits, base: model)
            let output = try AtomicFile(path: report)
            try output.write(Array(html.utf8))
            try output.commit()
            if !json { print("report written to \(report)") }
        }
        let failures = audits.filter {
            $0.integrityProblem != nil || ($0.fingerprint != nil && $0.fingerprint != .matches)
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }
}

enum AuditReport {
    static func describe(_ state: TensorState?) -> String { state?.typeDescription ?? "-" }

    static func text(_ file: PatchFile, _ audits: [EntryAudit], base: Checkpoint?) -> String {
        let header = file.header
        // Names, metadata and problems quote the patch: shown escaped (`DisplayText`), here
        // and in the table (`Format.table`).
        var out = "\(DisplayText.escaped(file.path))\n"
        var rows: [(String, String)] = [
            ("kind", "\(header.kind.rawValue) (spatch version \(header.version))"),
            ("id", file.id),
            ("size", Format.bytes(file.fileSize)),
            ("entries", Format.count(header.entries.count)),
            ("positions", Format.count(header.entries.map(\.nnz).saturatingSum())),
        ]
        for (key, value) in header.metadata { rows.append(("metadata", "\(key) = \(value)")) }
        if let base { rows.append(("base", base.path)) }
        let width = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows { out += "  " + key.padding(width) + "  " + DisplayText.escaped(value) + "\n" }
        out += "\n"
        var table: [[String]] = [["tensor", "op", "dtype / shape", "positions", "density", "index", "stored", "check"]]
        if base != nil { table[0] += ["base", "L2 Δ", "‖Δ‖/‖W‖", "max |Δ|", "Δ > 0"] }
        for audit in audits {
            let e = audit.entry
            var row = [
                e.name, e.operation.rawValue, describe(e.before ?? e.after), Format.count(e.nnz),
                Format.fixed(e.density * 100, 2) + " %", e.indexEncoding?.rawValue ?? "-", Format.bytes(e.storedBytes),
                audit.integrityProblem == nil ? "ok" : "FAILED",
            ]
            if base != nil {
                switch audit.fingerprint {
                case .matches?: row.append("matches")
                case .mismatch?: row.append("MISMATCH")
                case nil: row.append("-")
                }
                row += [
                    DiffReport.number(audit.delta?.l2), DiffReport.number(audit.delta?.relativeL2),
                    DiffReport.number(audit.delta?.maxAbs),
                    audit.delta?.positiveShare.map { Format.fixed($0 * 100, 1) + " %" } ?? "-",
                ]
            }
            table.append(row)
        }
        out += Format.table(table, rightAligned: base != nil ? [3, 4, 6, 9, 10, 11, 12] : [3, 4, 6])
        var problems: [String] = []
        for audit in audits {
            if let problem = audit.integrityProblem { problems.append("\(audit.entry.name): \(problem)") }
            if case .mismatch(let reason)? = audit.fingerprint { problems.append("\(audit.entry.name): \(reason)") }
        }
        out += "\n"
        if problems.isEmpty {
            out +=
                "all \(Format.plural(audits.count, "entry").replacingOccurrences(of: "entrys", with: "entries")) sound"
                + (base == nil ? "" : ", every fingerprint matches the base") + "\n"
        } else {
            out +=
                "\(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
                + problems.map { "  " + DisplayText.escaped($0) + "\n" }.joined()
        }
        return out
    }

    static func json(_ file: PatchFile, _ audits: [EntryAudit], base: Checkpoint?, report: String?) -> [(
        String, JSONValue
    )] {
        func state(_ s: TensorState?) -> JSONValue {
            guard let s else { return .null }
            return .object([
                ("dtype", .string(s.dtype.rawValue)), ("shape", .array(s.shape.map { .integer($0) })),
                ("sha256", .string(s.sha256)),
            ])
        }
        // A mask changes nothing: its positions are the elements it selects.
        let elementsKey = file.header.kind == .mask ? "elements_selected" : "elements_changed"
        return [
            ("patch", ResultJSON.patch(file)),
            ("kind", .string(file.header.kind.rawValue)),
            ("version", .integer(file.header.version)),
            ("bytes", .integer(file.fileSize)),
            ("metadata", .object(file.header.metadata.map { ($0.0, .string($0.1)) })),
            ("base", base.map { .string($0.path) } ?? .null),
            ("output", report.map { .string($0) } ?? .null),
            (
                "sound",
                .bool(
                    audits.allSatisfy {
                        $0.integrityProblem == nil && ($0.fingerprint == nil || $0.fingerprint == .matches)
                    })
            ),
            ("tensors_touched", .integer(audits.count)),
            (elementsKey, .integer(audits.reduce(0) { $0 + $1.entry.nnz })),
            (
                "entries",
                .array(
                    audits.map { audit in
                        let e = audit.entry
                        var members: [(String, JSONValue)] = [
                            ("name", .string(e.name)), ("op", .string(e.operation.rawValue)),
                            ("before", state(e.before)), ("after", state(e.after)),
                            (elementsKey, .integer(e.nnz)), ("density", .number(e.density)),
                            ("index_encoding", e.indexEncoding.map { .string($0.rawValue) } ?? .null),
                            ("stored_bytes", .integer(e.storedBytes)),
                            ("integrity", audit.integrityProblem.map { .string($0) } ?? .string("ok")),
                        ]
                        if base != nil {
                            switch audit.fingerprint {
                            case .matches?: members.append(("fingerprint", .string("matches")))
                            case .mismatch(let reason)?: members.append(("fingerprint", .string("mismatch: \(reason)")))
                            case nil: break
                            }
                            if let d = audit.delta {
                                members.append(
                                    (
                                        "delta",
                                        .object([
                                            ("l2", .number(d.l2)), ("max_abs", .number(d.maxAbs)),
                                            ("positive_share", d.positiveShare.map { .number($0) } ?? .null),
                                            ("relative", d.relativeL2.map { .number($0) } ?? .null),
                                        ])
                                    ))
                            }
                        }
                        return .object(members)
                    })
            ),
        ]
    }
}
