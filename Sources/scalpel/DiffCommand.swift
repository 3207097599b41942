import ArgumentParser
import Checkpoints
import Patches
import Tensors

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two checkpoints tensor by tensor.",
        discussion: """
            Per changed tensor: the number and fraction of elements whose bits differ, the L2 \
            norm and largest absolute value of B − A, the relative change ‖B − A‖ / ‖A‖ and the \
            cosine similarity of A and B. Also tensors only in A or only in B, and dtype or \
            shape changes. Sorted by relative change, largest first. Statistics are over finite \
            values, computed in double precision. Exit status 0 either way.
            """)

    @Argument(help: "Checkpoint A.")
    var a: String
    @Argument(help: "Checkpoint B.")
    var b: String
    @Option(name: .long, help: "Show at most N changed tensors.")
    var top: Int?
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        let first = try Checkpoint.open(a)
        let second = try Checkpoint.open(b)
        let progress = ProgressDisplay.counting("diff", total: first.tensorByteCount, outputOptions)
        let difference = CheckpointDiff.compare(first, second)
        progress.finish()
        var changed = difference.changedTensors.sorted {
            ($0.relative ?? 0, $0.changed) > ($1.relative ?? 0, $1.changed)
        }
        if let top { changed = Array(changed.prefix(top)) }
        outputOptions.emit(
            "diff", [("a", .string(a)), ("b", .string(b))] + DiffReport.json(difference, shown: changed),
            text: DiffReport.text(difference, shown: changed, a: a, b: b))
    }
}

enum DiffReport {
    static func number(_ value: Double?) -> String {
        guard let value else { return "-" }
        if value == 0 { return "0" }
        if value.isInfinite { return "inf" }
        let magnitude = abs(value)
        if magnitude >= 1e-3 && magnitude < 1e5 { return Format.fixed(value, magnitude >= 100 ? 1 : 4) }
        return String(format: "%.3e", value)
    }

    static func text(_ d: CheckpointDifference, shown: [TensorDifference], a: String, b: String) -> String {
        var out = ""
        if !shown.isEmpty {
            var rows: [[String]] = [
                ["tensor", "dtype", "shape", "changed", "fraction", "L2", "max |Δ|", "relative", "cosine"]
            ]
            for t in shown {
                rows.append([
                    t.name, t.dtype.rawValue, Shape.describe(t.shape), Format.count(t.changed),
                    Format.fixed(t.fraction * 100, 2) + " %", number(t.l2), number(t.maxAbs),
                    number(t.relative), t.cosine.map { String(format: "%.6f", $0) } ?? "-",
                ])
            }
            out += Format.table(rows, rightAligned: [3, 4, 5, 6, 7, 8])
        }
        // Names come from the files: shown escaped (`DisplayText`), as in the table.
        for entry in d.onlyInA {
            out +=
                "only in A: \(DisplayText.escaped(entry.name)) \(entry.dtype.rawValue) \(Shape.describe(entry.shape))\n"
        }
        for entry in d.onlyInB {
            out +=
                "only in B: \(DisplayText.escaped(entry.name)) \(entry.dtype.rawValue) \(Shape.describe(entry.shape))\n"
        }
        for (name, x, y) in d.typeChanges {
            out +=
                """
                changed type: \(DisplayText.escaped(name)) \(x.dtype.rawValue) \(Shape.describe(x.shape)) -> \
                \(y.dtype.rawValue) \(Shape.describe(y.shape))\n
                """
        }
        if d.isIdentical {
            out +=
                """
                identical: \(Format.plural(d.tensors.count, "tensor")), \(Format.count(d.comparedElements)) \
                elements, bit for bit\n
                """
        } else {
            let share = d.comparedElements == 0 ? 0 : Double(d.changedElements) / Double(d.comparedElements) * 100
            out +=
                """
                \(d.changedTensors.count) of \(Format.plural(d.tensors.count, "tensor")) changed, \
                \(Format.count(d.changedElements)) of \(Format.count(d.comparedElements)) elements \
                (\(Format.fixed(share, 3)) %)
                """
            out +=
                """
                ; \(d.onlyInA.count) only in A, \(d.onlyInB.count) only in B, \(d.typeChanges.count) changed \
                dtype or shape\n
                """
        }
        return out
    }

    static func json(_ d: CheckpointDifference, shown: [TensorDifference]) -> [(String, JSONValue)] {
        func optional(_ value: Double?) -> JSONValue {
            value.map { $0.isFinite ? .number($0) : .string("inf") } ?? .null
        }
        func entry(_ e: TensorEntry) -> JSONValue {
            .object([
                ("name", .string(e.name)), ("dtype", .string(e.dtype.rawValue)),
                ("shape", .array(e.shape.map { .integer($0) })),
            ])
        }
        return [
            ("identical", .bool(d.isIdentical)),
            ("tensors_compared", .integer(d.tensors.count)),
            ("tensors_touched", .integer(d.changedTensors.count)),
            ("elements_compared", .integer(d.comparedElements)),
            ("elements_changed", .integer(d.changedElements)),
            (
                "changed",
                .array(
                    shown.map { t in
                        .object([
                            ("name", .string(t.name)), ("dtype", .string(t.dtype.rawValue)),
                            ("shape", .array(t.shape.map { .integer($0) })),
                            ("elements_changed", .integer(t.changed)), ("fraction", .number(t.fraction)),
                            ("l2", optional(t.l2)), ("max_abs", optional(t.maxAbs)), ("relative", optional(t.relative)),
                            ("cosine", optional(t.cosine)),
                        ])
                    })
            ),
            ("only_in_a", .array(d.onlyInA.map(entry))),
            ("only_in_b", .array(d.onlyInB.map(entry))),
            (
                "type_changes",
                .array(
                    d.typeChanges.map { name, x, y in
                        .object([("name", .string(name)), ("a", entry(x)), ("b", entry(y))])
                    })
            ),
        ]
    }
}
