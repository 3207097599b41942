import Foundation
import Testing

/// `--help`, `-h` and `help COMMAND` print the parser's help on stdout and exit 0, for the
/// root command and every subcommand (a help request once came out as an error's description).
struct HelpCommandTests {
    static let commands = [
        "inspect", "convert", "diff", "create", "apply", "revert", "audit", "merge", "log", "embed", "eval", "mask",
        "train", "continual",
    ]

    @Test func theRootsHelpListsEveryCommand() throws {
        for arguments in [["--help"], ["-h"], ["help"]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(arguments): \(result.stderr)")
            #expect(result.stdout.contains("USAGE: scalpel <subcommand>"), "\(arguments)")
            for command in Self.commands { #expect(result.stdout.contains("  \(command)"), "\(arguments): \(command)") }
        }
    }

    @Test(arguments: commands)
    func everyCommandHasItsHelp(_ command: String) throws {
        for arguments in [[command, "--help"], ["help", command]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(arguments): \(result.stderr)")
            #expect(
                result.stdout.contains("USAGE: scalpel \(command)") && result.stdout.contains("OPTIONS:"),
                "\(arguments): \(result.stdout.prefix(200))")
            // It ends with two or three examples of this command; no line shows a backslash
            // (a line continuation of the source) or a default twice.
            let examples = try #require(result.stdout.components(separatedBy: "\n\nEXAMPLES:\n").last)
            let lines = examples.split(separator: "\n")
            #expect(
                (2...3).contains(lines.count)
                    && lines.allSatisfy { $0.hasPrefix("  ") && $0.contains("scalpel \(command) ") && $0.count <= 80 },
                "\(examples)")
            #expect(!result.stdout.contains("\\"), "\(arguments)")
            for line in result.stdout.split(separator: "\n") {
                #expect(line.components(separatedBy: "(default").count <= 2, "\(arguments): \(line)")
            }
        }
    }

    @Test func theRootsHelpTeachesTheWorkflowAndTheExitStatuses() throws {
        let help = try CLI.run(["--help"]).stdout
        let order = [
            "scalpel mask ", "scalpel train ", "scalpel audit ", "scalpel apply ", "scalpel merge ", "scalpel revert ",
        ]
        let positions = order.compactMap { help.range(of: $0)?.lowerBound }
        #expect(positions.count == order.count && positions == positions.sorted(), "\(help)")
        #expect(
            help.contains("EXIT STATUS: 0 success; 1 a check failed") && help.contains("64 the command line is wrong"))
    }

    @Test func continualsHelpNamesTheProtocols() throws {
        let result = try CLI.run(["continual", "--help"])
        #expect(result.stdout.contains("--protocol <protocol>") && result.stdout.contains("class or task"))
    }
}
