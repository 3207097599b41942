import ArgumentParser
import Foundation

/// Two or three examples per command, shown at the end of its help: the argument parser has
/// no place for them there, so the help text it composes gets them appended (`withExamples`).
enum CommandExamples {
    static let byCommand: [String: [String]] = [
        "inspect": [
            "scalpel inspect base/ --summary",
            "scalpel inspect model.safetensors --stats",
            "scalpel inspect base/ --json | jq .parameter_count",
        ],
        "convert": [
            "scalpel convert model.safetensors -o model-bf16.safetensors --dtype bf16",
            "scalpel convert base/ -o sharded/ --shard-size 2GB",
            "scalpel convert pytorch_model.bin -o model.safetensors",
        ],
        "diff": [
            "scalpel diff base/ tuned/ --top 10",
            "scalpel diff base.safetensors tuned.safetensors --json",
        ],
        "create": [
            "scalpel create base/ tuned/ -o task.spatch --task sentiment",
            "scalpel create base/ tuned/ -o task.spatch --mask task-mask.spatch",
        ],
        "apply": [
            "scalpel apply base/ task.spatch -o patched/",
            "scalpel apply base/ t1.spatch t2.spatch -o patched.safetensors",
            "scalpel apply model.safetensors task.spatch --in-place",
        ],
        "revert": [
            "scalpel revert patched/ t2.spatch -o before-task2/",
            "scalpel revert patched/ t1.spatch --base base/ -o without-task1/",
        ],
        "audit": [
            "scalpel audit task.spatch",
            "scalpel audit task.spatch --base base/ --report task.html",
            "scalpel audit task.spatch --json | jq .sound",
        ],
        "merge": [
            "scalpel merge a.spatch b.spatch --plan",
            "scalpel merge a.spatch b.spatch --base base/ -o ab.spatch",
            "scalpel merge a.spatch b.spatch --base base/ -o ab.spatch --method ties",
        ],
        "log": [
            "scalpel log patched/",
            "scalpel log patched/ *.spatch --json",
        ],
        "embed": [
            "scalpel embed base/ --text \"a photo of a cat\" --text \"a dog\"",
            "cat sentences.txt | scalpel embed model/ --text-file - --json",
        ],
        "eval": [
            "scalpel eval base/ --task t1/",
            "scalpel eval base/ t1.spatch t2.spatch --task t1/ --json",
        ],
        "mask": [
            "scalpel mask base/ --task t1/ -o t1-mask.spatch",
            "scalpel mask base/ t1.spatch --task t2/ -o t2-mask.spatch --rate 0.05",
            "scalpel mask base/ --task t1/ -o attn-mask.spatch --layers attention",
        ],
        "train": [
            "scalpel train base/ --task t1/ --mask t1-mask.spatch -o t1.spatch",
            "scalpel train base/ t1.spatch --task t2/ --mask t2-mask.spatch -o t2.spatch",
            "scalpel train base/ --task t1/ --mask all -o full.spatch --lr 2e-5",
        ],
        "continual": [
            "scalpel continual base/ --tasks t1/ t2/ t3/ --control nouns/ -o run/",
            "scalpel continual base/ --tasks t1/ t2/ --control nouns/ -o ft/ --method full",
        ],
    ]

    /// `help` (the text the parser shows for a help request) with the examples of the command
    /// it is for, found from its usage line, at its end.
    private static func withExamples(_ help: String) -> String {
        guard let usage = help.split(separator: "\n").first(where: { $0.hasPrefix("USAGE: scalpel ") }) else {
            return help
        }
        let name = usage.dropFirst("USAGE: scalpel ".count).prefix { $0 != " " }
        guard let examples = byCommand[String(name)] else { return help }
        var trimmed = Substring(help)
        while trimmed.hasSuffix("\n") { trimmed = trimmed.dropLast() }
        return trimmed + "\n\nEXAMPLES:\n" + examples.map { "  " + $0 + "\n" }.joined()
    }

    /// Shows the help `error` requests (`--help`, `-h`, `help COMMAND`) with the command's
    /// examples and exits successfully; returns for any other error.
    static func showHelpIfRequested(_ error: Error) {
        guard Scalpel.exitCode(for: error) == .success else { return }
        let text = Scalpel.fullMessage(for: error)
        guard text.hasPrefix("OVERVIEW:") || text.hasPrefix("USAGE:") else { return }
        print(withExamples(text), terminator: text.hasSuffix("\n") ? "" : "\n")
        Foundation.exit(0)
    }
}
