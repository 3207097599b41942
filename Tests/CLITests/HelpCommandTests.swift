import Foundation
import Testing

/// `--help`, `-h` and `help COMMAND` print the parser's help on stdout and exit 0, for the
/// root command and every subcommand (a help request once came out as an error's description).
struct HelpCommandTests {
    static let commands = ["inspect", "convert", "diff", "create", "apply", "revert", "audit", "merge", "log", "embed", "eval", "mask", "train", "continual"]

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
            #expect(result.stdout.contains("USAGE: scalpel \(command)") && result.stdout.contains("OPTIONS:"), "\(arguments): \(result.stdout.prefix(200))")
        }
    }

    @Test func continualsHelpNamesTheProtocols() throws {
        let result = try CLI.run(["continual", "--help"])
        #expect(result.stdout.contains("--protocol <protocol>") && result.stdout.contains("class or task"))
    }
}
