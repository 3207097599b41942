import ArgumentParser
import Checkpoints
import Patches

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply patches, in order, to a base checkpoint.",
        discussion: """
            Before anything is written, every patch's data is checked against its checksums and \
            every touched tensor against the fingerprint the patch was made for; a mismatch \
            names the tensor and stops, leaving no output. The ids of the applied patches are \
            recorded in the output's metadata (scalpel.patches). With --in-place, only the \
            changed bytes of BASE are rewritten (patches that change values only); the original \
            bytes are journaled first, and a command that finds the journal of an interrupted \
            edit restores them.
            """)

    @Argument(help: "The base checkpoint.")
    var base: String
    @Argument(help: "Patches (.spatch), applied in the order given.")
    var patches: [String]
    @Option(
        name: .shortAndLong,
        help:
            """
            The checkpoint to write: a file, or a folder (ending in /, or an empty one) for a model folder in the \
            base's layout with its other files.
            """
    )
    var output: String?
    @Flag(name: .long, help: "Rewrite only the changed bytes of BASE (a safetensors file), crash-safe.")
    var inPlace = false
    @Flag(name: .long, help: "With --in-place: leave the header as it is (do not record the patch ids).")
    var noRecord = false
    @OptionGroup var overwriteOption: OverwriteOption
    @Flag(
        name: .long,
        help:
            """
            Apply onto a tensor that differs from the patch's base elsewhere, when the elements the patch changes \
            hold the bits it was made against (checked; never an XOR onto other bits).
            """
    )
    var force = false
    @OptionGroup var outputOptions: OutputOptions

    static let usage = "scalpel apply BASE PATCH... -o OUT"

    func validate() throws {
        try ArgumentRoles.check(model: base, patches: patches, usage: Self.usage)
        if noRecord && !inPlace { throw ValidationError("--no-record goes with --in-place") }
        if inPlace == (output != nil) {
            throw ValidationError(
                inPlace ? "--in-place writes BASE itself: do not give -o" : "give -o OUT, or --in-place")
        }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        if let output { try overwriteOption.prepare(outputs: [output], inputs: [base] + patches, folders: true) }
        let files = try patches.map(PatchFile.open)
        let policy: CompositionPolicy = force ? .force : .strict
        let summary: PatchApplier.Summary
        let written: String
        if inPlace {
            do {
                summary = try InPlaceApplier.apply(base, patches: files, policy: policy, record: !noRecord)
            } catch let error as AlreadyAppliedError where error.patches.count == files.count {
                // In place, the file already is what was asked for: nothing to do is success.
                outputOptions.emit(
                    "apply",
                    [
                        ("output", .string(base)), ("base", .string(base)),
                        ("patches", .array(files.map(ResultJSON.patch))),
                        ("already_applied", .bool(true)), ("tensors_touched", .integer(0)),
                        ("elements_changed", .integer(0)),
                    ],
                    text:
                        """
                        \(base) left as it is: \
                        \(error.patches.count == 1 ? "the patch is" : "all \(files.count) patches are") already \
                        applied
                        """
                )
                return
            }
            written = "updated \(base) in place"
        } else {
            guard let output else { return }
            let model = try Checkpoint.open(base)
            let progress = ProgressDisplay.counting("apply", total: model.tensorByteCount, outputOptions)
            defer { progress.finish() }
            summary = try PatchApplier.run(.apply, model: model, patches: files, policy: policy, to: output)
            written = "wrote \(output)"
        }
        Format.notes(summary.notes)
        outputOptions.emit(
            "apply",
            [
                ("output", .string(output ?? base)), ("base", .string(base)),
                ("patches", .array(files.map(ResultJSON.patch))),
                ("already_applied", .bool(false)), ("in_place", .bool(inPlace)),
                ("tensors_touched", .integer(summary.touchedTensors)),
                ("elements_changed", .integer(summary.changedElements)),
            ],
            text:
                """
                \(written): applied \(Format.plural(files.count, "patch")) \
                (\(files.map(\.shortId).joined(separator: ", "))), \
                \(Format.plural(summary.touchedTensors, "tensor")) touched, \
                \(Format.count(summary.changedElements)) elements \
                changed\(files.count > 1 ? " (distinct elements, each counted once)" : "")
                """
        )
    }
}

struct RevertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revert",
        abstract: "Undo a patch exactly: MODEL was made by applying PATCH; write what it was before.",
        discussion: """
            PATCH may be the last patch applied or one further down the model's record. Every \
            tensor it touches must still be the one it produced (its fingerprint), or: with \
            --later, the patches applied after it change none of its elements; with --base, \
            PATCH was made against BASE, so taking it out of base + the recorded patches \
            leaves base + the others. Anything else is refused, with the tensors named, \
            unless --force.
            """)

    @Argument(help: "The patched checkpoint.")
    var model: String
    @Argument(help: "The patch to undo.")
    var patch: String
    @Option(
        name: .shortAndLong,
        help:
            """
            The checkpoint to write: a file, or a folder (ending in /, or an empty one) for a model folder in the \
            model's layout with its other files.
            """
    )
    var output: String
    @Option(name: .long, help: "The base PATCH was made against (for a patch further down the stack).")
    var base: String?
    @Option(
        name: .long, parsing: .upToNextOption,
        help: "The patches applied after PATCH, to check that they touch other elements.")
    var later: [String] = []
    @OptionGroup var overwriteOption: OverwriteOption
    @Flag(
        name: .long,
        help:
            """
            Revert from a tensor that changed elsewhere since, when the elements the patch changed still hold \
            what it left (checked; never an XOR onto other bits).
            """
    )
    var force = false
    @OptionGroup var outputOptions: OutputOptions

    static let usage = "scalpel revert MODEL PATCH -o OUT"

    func validate() throws {
        try ArgumentRoles.check(model: model, patches: [patch] + later, usage: Self.usage)
        if let base {
            try ArgumentRoles.check(model: base, patches: [], usage: "scalpel revert MODEL PATCH --base BASE -o OUT")
        }
        if force, base != nil || !later.isEmpty {
            throw ValidationError(
                """
                --force is a check of its own (the patch's elements hold what it left); it does not combine with \
                --base or --later
                """
            )
        }
    }

    func run() throws {
        TemporaryFiles.removeOnSignals()
        try overwriteOption.prepare(
            outputs: [output], inputs: [model, patch] + (base.map { [$0] } ?? []) + later, folders: true)
        let checkpoint = try Checkpoint.open(model)
        let file = try PatchFile.open(patch)
        let progress = ProgressDisplay.counting("revert", total: checkpoint.tensorByteCount, outputOptions)
        let summary: PatchApplier.Summary
        do {
            defer { progress.finish() }
            summary =
                force
                ? try PatchApplier.run(.revert, model: checkpoint, patches: [file], policy: .force, to: output)
                : try PatchReverter.revert(
                    model: checkpoint, patch: file, base: base.map { try Checkpoint.open($0) },
                    later: later.map(PatchFile.open), to: output)
        }
        Format.notes(summary.notes)
        outputOptions.emit(
            "revert",
            [
                ("output", .string(output)), ("model", .string(model)), ("patches", .array([ResultJSON.patch(file)])),
                ("tensors_touched", .integer(summary.touchedTensors)),
                ("elements_changed", .integer(summary.changedElements)),
            ],
            text:
                "wrote \(output): reverted \(file.shortId), \(Format.plural(summary.touchedTensors, "tensor")) restored"
        )
    }
}
