import ArgumentParser
import Foundation
import Checkpoints
import Patches

extension MergeMethod: ExpressibleByArgument {}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine patches made against one base into one patch, or show how they overlap.",
        discussion: """
            Methods: disjoint (refuses any element two patches both change, listing the \
            tensors and counts; otherwise the result equals applying the patches one after \
            another) and priority (where patches overlap, the later one wins), both exact; \
            sum (task arithmetic: base + λ·Σ wᵢ·δᵢ) and mean (weighted mean of the deltas of \
            the patches that change each element), computed in double precision and rounded \
            once into the base dtype. The result records its parents' ids, the method and its \
            parameters in its metadata. --plan prints the overlap between every pair of \
            patches instead.
            """)

    @Argument(help: "Patches (.spatch), in order.") var patches: [String]
    @Option(name: .long, help: "The base the patches were made against.") var base: String?
    @Option(name: .shortAndLong, help: "The merged patch to write.") var output: String?
    @Option(name: .long, help: "disjoint, priority, sum or mean.") var method: MergeMethod = .disjoint
    @Option(name: .long, help: "sum / mean: one weight per patch, comma-separated (default 1 each).") var weights: String?
    @Option(name: .long, help: "sum: the scale λ of the summed deltas (default 1).") var lambda: Double = 1
    @Flag(name: .long, help: "Show the overlap between the patches; write nothing.") var plan = false
    @Flag(name: .long, help: "With --plan: the shared elements per tensor too.") var perTensor = false
    @Flag(name: .long, help: "With --plan: machine-readable JSON on stdout.") var json = false

    func validate() throws {
        if patches.count < 2 { throw ValidationError("give at least two patches") }
        if !plan, base == nil || output == nil { throw ValidationError("merging needs --base BASE and -o OUT (or use --plan)") }
        if let weights {
            let parsed = weights.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            if parsed.contains(where: { $0 == nil }) { throw ValidationError("--weights takes numbers separated by commas (got \"\(weights)\")") }
            if parsed.count != patches.count { throw ValidationError("--weights has \(parsed.count) values for \(patches.count) patches") }
        }
    }

    func run() throws {
        let files = try patches.map(PatchFile.open)
        if plan {
            let (counts, overlaps) = try PatchMerger.plan(files)
            print(json ? MergePlanReport.json(files, counts, overlaps).pretty() : MergePlanReport.text(files, counts, overlaps, perTensor: perTensor),
                  terminator: json ? "\n" : "")
            return
        }
        guard let base, let output else { return }
        TemporaryFiles.removeOnSignals()
        let metadata = [("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime())]
        let parsedWeights = weights.map { $0.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
        let summary = try PatchMerger.merge(files, base: Checkpoint.open(base), method: method, weights: parsedWeights,
                                            lambda: lambda, metadata: metadata, to: output)
        print("wrote \(output): \(method.rawValue) merge of \(Format.plural(files.count, "patch")), \(Format.plural(summary.entryCount, "tensor")) touched, \(Format.count(summary.changedElements)) elements changed, \(Format.count(summary.overlappingElements)) overlapping")
    }
}

enum MergePlanReport {
    static func text(_ files: [PatchFile], _ counts: [Int], _ overlaps: [PatchMerger.Overlap], perTensor: Bool) -> String {
        var out = ""
        for (i, file) in files.enumerated() {
            out += "P\(i + 1)  \(file.shortId)  \(file.path)  \(Format.count(counts[i])) elements\(file.header.metadataValue("task").map { "  task \($0)" } ?? "")\n"
        }
        out += "\n"
        var rows: [[String]] = [["pair", "shared", "Jaccard", "disjoint", "priority"]]
        for o in overlaps {
            rows.append(["P\(o.first + 1) P\(o.second + 1)", Format.count(o.shared), Format.fixed(o.jaccard, 4),
                         o.shared == 0 ? "ok" : "refuses", o.shared == 0 ? "union" : "P\(o.second + 1) wins on \(Format.count(o.shared))"])
        }
        out += Format.table(rows, rightAligned: [1, 2])
        if perTensor {
            for o in overlaps where !o.perTensor.isEmpty {
                out += "\nP\(o.first + 1) P\(o.second + 1) shared, per tensor:\n"
                out += Format.table(o.perTensor.map { ["  " + $0.0, Format.count($0.1)] }, rightAligned: [1])
            }
        }
        return out
    }

    static func json(_ files: [PatchFile], _ counts: [Int], _ overlaps: [PatchMerger.Overlap]) -> JSONValue {
        .object([
            ("patches", .array(files.enumerated().map { i, file in
                .object([("path", .string(file.path)), ("id", .string(file.id)), ("elements", .integer(counts[i]))])
            })),
            ("overlaps", .array(overlaps.map { o in
                .object([
                    ("first", .integer(o.first + 1)), ("second", .integer(o.second + 1)), ("shared", .integer(o.shared)),
                    ("jaccard", .number(o.jaccard)),
                    ("per_tensor", .object(o.perTensor.map { ($0.0, .integer($0.1)) })),
                ])
            })),
        ])
    }
}
