import ArgumentParser
import Checkpoints
import Patches
import Tensors

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "List the patches recorded in a model, oldest first.",
        discussion: """
            `apply` records the id of every patch it applies in the model's metadata \
            (scalpel.patches). Give the patch files too, and each recorded id is matched to its \
            file and shown with its task and metadata.
            """)

    @Argument(help: "The model.")
    var model: String
    @Argument(help: "Patch files to match against the recorded ids.")
    var patches: [String] = []
    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        try ArgumentRoles.check(model: model, patches: patches, usage: "scalpel log MODEL [PATCH...]")
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(model)
        let ids = AppliedPatches.read(checkpoint.metadata)
        var known: [String: PatchFile] = [:]
        for path in patches {
            let file = try PatchFile.open(path)
            known[file.id] = file
        }
        if outputOptions.json {
            print(
                ResultJSON.object(
                    "log",
                    [
                        ("model", .string(model)),
                        (
                            "patches",
                            .array(
                                ids.enumerated().map { index, id in
                                    var members: [(String, JSONValue)] = [
                                        ("position", .integer(index + 1)), ("id", .string(id)),
                                    ]
                                    if let file = known[id] {
                                        members.append(("path", .string(file.path)))
                                        members.append(
                                            ("metadata", .object(file.header.metadata.map { ($0.0, .string($0.1)) })))
                                    }
                                    return .object(members)
                                })
                        ),
                    ]
                ).pretty())
            return
        }
        // Recorded ids, paths and metadata come from files: each line is shown escaped.
        func show(_ line: String) { print(DisplayText.escaped(line)) }
        guard !ids.isEmpty else {
            show("\(model): no patches recorded (scalpel.patches is absent)")
            return
        }
        show("\(model): \(Format.plural(ids.count, "patch")) applied, oldest first")
        for (index, id) in ids.enumerated() {
            guard let file = known[id] else {
                show("\(index + 1). \(id.prefix(12))")
                continue
            }
            let task = file.header.metadataValue("task").map { "  task \($0)" } ?? ""
            show("\(index + 1). \(id.prefix(12))  \(file.path)\(task)")
            for (key, value) in file.header.metadata where key != "task" {
                show("     \(key) = \(value)")
            }
        }
        let unmatched = known.keys.filter { !ids.contains($0) }
        for id in unmatched.sorted() {
            if let file = known[id] { show("not in this model: \(file.path) (\(id.prefix(12)))") }
        }
    }
}
