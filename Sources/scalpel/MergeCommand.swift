import ArgumentParser
import Checkpoints
import Foundation
import Patches
import Tensors

extension MergeMethod: ExpressibleByArgument {}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine patches made against one base into one patch, or show how they overlap.",
        discussion: """
            Exact methods: disjoint (refuses any element two patches both change, listing the \
            tensors and counts; otherwise the result equals applying the patches one after \
            another) and priority (where patches overlap, the later one wins).
            Arithmetic methods, on the deltas δᵢ = tunedᵢ − base, in double precision, rounded \
            once into the base dtype: sum (task arithmetic: base + λ·Σ wᵢ·δᵢ), mean (weighted \
            mean of the deltas of the patches that change each element), ties (mergekit's: \
            trim each δᵢ to its largest --density fraction of the tensor, elect the sign of \
            Σ wᵢ·δᵢ, weighted mean of the agreeing deltas, times λ), dare (drop each delta \
            element with probability --drop, divide the kept ones by 1 − drop, then sum) and \
            dare-ties (the same drop, then the ties election and mean). The drop, and the \
            choice among equal magnitudes at the trim's cut, are seeded (--seed) and \
            reproducible. The result records its parents' ids, the method and \
            its parameters in its metadata. --plan prints the overlap between every pair of \
            patches instead.
            """)

    @Argument(help: "Patches (.spatch), in order.")
    var patches: [String]
    @Option(name: .long, help: "The base the patches were made against.")
    var base: String?
    @Option(name: .shortAndLong, help: "The merged patch to write.")
    var output: String?
    @Option(name: .long, help: "disjoint, priority, sum, mean, ties, dare or dare-ties.")
    var method: MergeMethod = .disjoint
    @Option(name: .long, help: "Arithmetic methods: one weight per patch, comma-separated (default 1 each).")
    var weights: String?
    @Option(name: .long, help: "sum, ties, dare, dare-ties: the scale λ of the merged delta.")
    var lambda: Double = 1
    @Option(
        name: .long, help: "ties: the fraction of each tensor's elements each patch keeps, by magnitude (default 1).")
    var density: Double?
    @Option(name: .long, help: "dare, dare-ties: the probability of dropping each delta element.")
    var drop: Double?
    @Option(
        name: .long,
        help:
            """
            dare, dare-ties: the seed of the drop; ties with --density below 1: of the choice among equal \
            magnitudes at the cut (default 0).
            """
    )
    var seed: UInt64?
    @Flag(name: .long, help: "Show the overlap between the patches; write nothing.")
    var plan = false
    @Flag(name: .long, help: "With --plan: the shared elements per tensor too.")
    var perTensor = false
    @OptionGroup var overwriteOption: OverwriteOption
    @OptionGroup var outputOptions: OutputOptions

    var parameters: MergeParameters {
        MergeParameters(
            weights: weights.map {
                $0.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            },
            lambda: lambda, density: density, drop: drop, seed: seed)
    }

    func validate() throws {
        if patches.count < 2 { throw ValidationError("give at least two patches") }
        try ArgumentRoles.check(model: base, patches: patches, usage: "scalpel merge P1 P2... --base BASE -o MERGED")
        if plan { return }
        if base == nil || output == nil {
            throw ValidationError("merging needs --base BASE and -o OUT (or use --plan)")
        }
        if let weights,
            weights.split(separator: ",").contains(where: { Double($0.trimmingCharacters(in: .whitespaces)) == nil })
        {
            throw ValidationError("--weights takes numbers separated by commas (got \"\(weights)\")")
        }
        if let problem = parameters.problem(for: method, patchCount: patches.count) {
            throw ValidationError("merging \(patches.joined(separator: ", ")): \(problem)")
        }
    }

    func run() throws {
        let files = try patches.map(PatchFile.open)
        if plan {
            let (counts, overlaps) = try PatchMerger.plan(files)
            outputOptions.emit(
                "merge", MergePlanReport.json(files, counts, overlaps),
                text: MergePlanReport.text(files, counts, overlaps, perTensor: perTensor))
            return
        }
        guard let base, let output else { return }
        TemporaryFiles.removeOnSignals()
        try overwriteOption.prepare(outputs: [output], inputs: patches + [base])
        let metadata = [
            ("tool", "scalpel \(Scalpel.version)"), ("created", PatchMetadata.creationTime()),
            (BaseProvenance.nameKey, URL(fileURLWithPath: base).lastPathComponent),
        ]
        let summary: PatchMerger.Summary
        do {
            summary = try PatchMerger.merge(
                files, base: Checkpoint.open(base), method: method, parameters: parameters,
                metadata: metadata, to: output)
        } catch var refusal as MergeOverlapError {
            // Only a disjoint merge overlaps, and disjoint takes no other option: the same
            // inputs with the suggested method are the whole command.
            refusal.rerun =
                (["scalpel", "merge"] + patches + [
                    "--base", base, "-o", output, "--method", refusal.suggestion.rawValue,
                ])
                .map(Format.shellWord).joined(separator: " ")
            throw refusal
        }
        outputOptions.emit(
            "merge",
            [
                ("output", .string(output)), ("patch_id", ResultJSON.writtenPatchID(output)), ("base", .string(base)),
                ("patches", .array(files.map(ResultJSON.patch))), ("method", .string(method.rawValue)),
                ("tensors_touched", .integer(summary.entryCount)),
                ("elements_changed", .integer(summary.changedElements)),
                ("elements_overlapping", .integer(summary.overlappingElements)),
                ("bytes", ResultJSON.fileBytes(output)),
            ],
            text:
                """
                wrote \(output): \(method.rawValue) merge of \(Format.plural(files.count, "patch")), \
                \(Format.plural(summary.entryCount, "tensor")) touched, \(Format.count(summary.changedElements)) \
                elements changed, \(Format.count(summary.overlappingElements)) overlapping
                """
        )
    }
}

enum MergePlanReport {
    static func text(_ files: [PatchFile], _ counts: [Int], _ overlaps: [PatchMerger.Overlap], perTensor: Bool)
        -> String
    {
        var out = ""
        for (i, file) in files.enumerated() {
            // Paths and tasks come from the command line and the patches: shown escaped.
            out +=
                DisplayText.escaped(
                    """
                    P\(i + 1)  \(file.shortId)  \(file.path)  \(Format.count(counts[i])) \
                    elements\(file.header.metadataValue("task").map { "  task \($0)" } ?? "")
                    """
                ) + "\n"
        }
        out += "\n"
        var rows: [[String]] = [["pair", "shared", "Jaccard", "disjoint", "priority", "arithmetic"]]
        for o in overlaps {
            let shared = Format.count(o.shared)
            rows.append([
                "P\(o.first + 1) P\(o.second + 1)", shared, Format.fixed(o.jaccard, 4),
                o.shared == 0 ? "ok" : "refuses", o.shared == 0 ? "union" : "P\(o.second + 1) wins on \(shared)",
                o.shared == 0 ? "union" : "combines \(shared)",
            ])
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

    static func json(_ files: [PatchFile], _ counts: [Int], _ overlaps: [PatchMerger.Overlap]) -> [(String, JSONValue)]
    {
        [
            ("plan", .bool(true)),
            (
                "patches",
                .array(
                    files.enumerated().map { i, file in
                        .object([
                            ("path", .string(file.path)), ("id", .string(file.id)),
                            ("elements_changed", .integer(counts[i])),
                        ])
                    })
            ),
            (
                "overlaps",
                .array(
                    overlaps.map { o in
                        .object([
                            ("first", .integer(o.first + 1)), ("second", .integer(o.second + 1)),
                            ("shared", .integer(o.shared)),
                            ("jaccard", .number(o.jaccard)),
                            ("per_tensor", .object(o.perTensor.map { ($0.0, .integer($0.1)) })),
                        ])
                    })
            ),
        ]
    }
}
