import ArgumentParser
import Checkpoints
import Foundation
import Patches

struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Make the patch that turns BASE into TUNED.",
        discussion: """
            Every element whose bits differ goes into the patch, stored as the XOR of the old \
            and new bits, so apply and revert are exact for every dtype. Tensors added, removed, \
            or changed in dtype or shape are stored whole. With --mask, only the mask's positions \
            may differ; any other difference is an error naming the tensor and the count.
            """)

    @Argument(help: "The base checkpoint.")
    var base: String
    @Argument(help: "The tuned checkpoint (same tensors, some values changed).")
    var tuned: String
    @Option(name: .shortAndLong, help: "The patch file to write (.spatch).")
    var output: String
    @Option(name: .long, help: "A mask (.spatch of kind mask): only its positions may change.")
    var mask: String?
    @Option(name: .long, help: "Task name, recorded in the patch's metadata.")
    var task: String?
    @Option(name: .long, parsing: .singleValue, help: "Extra metadata, key=value (repeatable).")
    var meta: [String] = []
    @OptionGroup var overwriteOption: OverwriteOption
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        try ArgumentRoles.check(model: base, patches: [], usage: Self.usage)
        try ArgumentRoles.check(model: tuned, patches: [], usage: Self.usage)
        for item in meta where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--meta takes key=value (got \"\(item)\")")
        }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        try overwriteOption.prepare(outputs: [output], inputs: [base, tuned] + (mask.map { [$0] } ?? []))
        let baseModel = try Checkpoint.open(base)
        let tunedModel = try Checkpoint.open(tuned)
        var metadata: [(String, String)] = []
        if let task { metadata.append(("task", task)) }
        metadata += [
            ("tool", "scalpel \(Scalpel.version)"),
            ("created", PatchMetadata.creationTime()),
            ("base", URL(fileURLWithPath: base).lastPathComponent),
            ("tuned", URL(fileURLWithPath: tuned).lastPathComponent),
        ]
        for item in meta {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            metadata.removeAll { $0.0.hasSameBytes(as: key) }
            metadata.append((key, value))
        }
        let options = PatchCreator.Options(mask: try mask.map(PatchFile.open), metadata: metadata)
        let progress = ProgressDisplay.counting("create", total: baseModel.tensorByteCount, outputOptions)
        let summary: PatchCreator.Summary
        do {
            defer { progress.finish() }
            summary = try PatchCreator.create(base: baseModel, tuned: tunedModel, options: options, to: output)
        }
        let share =
            baseModel.parameterCount == 0 ? 0 : Double(summary.changedElements) / Double(baseModel.parameterCount)
        outputOptions.emit(
            "create",
            [
                ("output", .string(output)), ("patch_id", ResultJSON.writtenPatchID(output)),
                ("base", .string(base)), ("tuned", .string(tuned)), ("mask", mask.map { .string($0) } ?? .null),
                ("tensors_touched", .integer(summary.entryCount)),
                ("elements_changed", .integer(summary.changedElements)),
                ("parameter_count", .integer(baseModel.parameterCount)), ("bytes", .integer(summary.patchBytes)),
            ],
            text:
                """
                wrote \(output): \(Format.plural(summary.entryCount, "tensor")) touched, \
                \(Format.count(summary.changedElements)) elements changed (\(Format.fixed(share * 100, 3)) % of \
                the base's \(Format.count(baseModel.parameterCount)) parameters), \
                \(Format.bytes(summary.patchBytes))
                """
        )
    }

    static let usage = "scalpel create BASE TUNED -o PATCH"
}

enum PatchMetadata {
    /// ISO 8601 UTC; `SOURCE_DATE_EPOCH` (the reproducible-builds convention) fixes it, so
    /// the same inputs can give the same patch bytes.
    static func creationTime() -> String {
        let date: Date
        if let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"], let seconds = TimeInterval(epoch) {
            date = Date(timeIntervalSince1970: seconds)
        } else {
            date = Date()
        }
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
