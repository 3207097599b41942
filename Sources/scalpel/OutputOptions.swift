import ArgumentParser
import Checkpoints
import Foundation
import Patches

/// `--json` and `--quiet`, the same on every command that produces a result.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the result as one JSON object on stdout (Manual/json.md has the schema).")
    var json = false

    @Flag(
        name: [.customShort("q"), .long],
        help: "No progress display on stderr (it shows only when stderr is a terminal).")
    var quiet = false

    /// Prints the result: `members` as one JSON object led by the command's name with `--json`,
    /// else `text` (already escaped where it quotes files) for a person.
    func emit(_ command: String, _ members: [(String, JSONValue)], text: @autoclosure () -> String) {
        if json {
            print(ResultJSON.object(command, members).pretty())
        } else {
            let lines = text()
            print(lines, terminator: lines.hasSuffix("\n") ? "" : "\n")
        }
    }
}

/// The shared vocabulary of every command's JSON result (Manual/json.md): the same key for
/// the same thing, whichever command prints it.
enum ResultJSON {
    /// `{"command": NAME, ...members}`.
    static func object(_ command: String, _ members: [(String, JSONValue)]) -> JSONValue {
        .object([("command", .string(command))] + members)
    }

    /// A patch or mask file: `{"path": …, "id": …}` (the id is the SHA-256 of its header).
    static func patch(_ file: PatchFile) -> JSONValue {
        .object([("path", .string(file.path)), ("id", .string(file.id))])
    }

    /// The patch just written: its id, read back from the file's header.
    static func writtenPatchID(_ path: String) -> JSONValue {
        (try? PatchFile.open(path)).map { .string($0.id) } ?? .null
    }

    /// A size in bytes of the file at `path`, or null when it cannot be read.
    static func fileBytes(_ path: String) -> JSONValue {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int).map { .integer($0) } ?? .null
    }

    /// An accuracy, a fraction in [0, 1] as computed, as a percentage (the one unit of every
    /// accuracy in Scalpel's JSON), or null when there was nothing to score.
    static func percent(_ fraction: Double?) -> JSONValue {
        guard let fraction, fraction.isFinite else { return .null }
        return .number(fraction * 100)
    }
}
