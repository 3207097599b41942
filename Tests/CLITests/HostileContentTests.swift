import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Names, metadata and shapes chosen to attack the user's terminal are shown escaped in every
/// human output and error, and exactly in `--json`.
struct HostileContentTests {
    /// Clears the screen, retitles the terminal, rings the bell, returns to the line's start,
    /// starts red text through an 8-bit CSI, and reverses what follows.
    static let name = "evil\u{1B}[2J\u{1B}]0;pwned\u{07}\rname\u{9B}31m\u{202E}x"
    static let shownName = #"evil\x1b[2J\x1b]0;pwned\x07\rname\u{9b}31m\u{202e}x"#
    static let key = "note\u{1B}[31m"
    static let value = "red\u{1B}[0m\rX\u{7F}"

    /// JSON text of `string` with every control character as \u00XX.
    static func json(_ string: String) -> String { JSONValue.string(string).serialized }

    /// A safetensors file: the hostile tensor (F32 [2] holding `first`, 1), a tensor of 10,000
    /// dimensions, the hostile metadata, and `extra` tensors (F32 [1]).
    static func model(_ path: String, first: Float, extra: [String] = []) throws {
        let deep = "[" + [String](repeating: "1", count: 10_000).joined(separator: ",") + "]"
        var members = [
            #""__metadata__":{\#(json(key)):\#(json(value))}"#,
            #"\#(json(name)):{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#,
            #""deep":{"dtype":"F32","shape":\#(deep),"data_offsets":[8,12]}"#,
        ]
        var data = [first, 1, 2].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }
        for (i, tensor) in extra.enumerated() {
            members.append(
                #"\#(json(tensor)):{"dtype":"F32","shape":[1],"data_offsets":[\#(12 + 4 * i),\#(16 + 4 * i)]}"#)
            data += [0, 0, 0, 0]
        }
        let header = Array(("{" + members.joined(separator: ",") + "}").utf8)
        var length = UInt64(header.count).littleEndian
        try Data(withUnsafeBytes(of: &length) { Array($0) } + header + data).write(to: URL(fileURLWithPath: path))
    }

    /// Whether `text` holds nothing a terminal acts on but line feeds.
    static func isTerminalSafe(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == "\n" || !DisplayText.needsEscape($0) }
    }

    static func expectSafe(_ result: CLI.Result, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            isTerminalSafe(result.stdout), "\(label) stdout: \(result.stdout.debugDescription)",
            sourceLocation: sourceLocation)
        #expect(
            isTerminalSafe(result.stderr), "\(label) stderr: \(result.stderr.debugDescription)",
            sourceLocation: sourceLocation)
    }

    static func parsed(_ result: CLI.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    @Test func inspectDiffAuditLogAndMergePlanShowHostileContentEscaped() throws {
        let folder = try CLI.scratchFolder()
        let a = folder + "/a.safetensors"
        let b = folder + "/b.safetensors"
        let c = folder + "/c.safetensors"
        try Self.model(a, first: 0)
        try Self.model(b, first: 3, extra: ["only\u{1B}[8mB"])
        try Self.model(c, first: 5)

        let inspect = try CLI.run(["inspect", a])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        Self.expectSafe(inspect, "inspect")
        #expect(inspect.stdout.contains(Self.shownName + "  F32"))
        #expect(inspect.stdout.contains(#"note\x1b[31m = red\x1b[0m\rX\x7f"#))
        #expect(inspect.stdout.contains("[1, 1, 1, 1, 1, 1, 1, 1, … 9992 more]"))
        let inspectJSON = try Self.parsed(try CLI.run(["inspect", a, "--json"]))
        let names = try #require(inspectJSON["tensors"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(names.contains { Array($0.utf8) == Array(Self.name.utf8) })
        let metadata = try #require(inspectJSON["metadata"] as? [String: String])
        #expect(
            metadata.contains {
                Array($0.key.utf8) == Array(Self.key.utf8) && Array($0.value.utf8) == Array(Self.value.utf8)
            })
        let deep = try #require(inspectJSON["tensors"] as? [[String: Any]]).first { $0["name"] as? String == "deep" }
        #expect((deep?["shape"] as? [Int])?.count == 10_000)

        let diff = try CLI.run(["diff", a, b])
        #expect(diff.status == 0, "\(diff.stderr)")
        Self.expectSafe(diff, "diff")
        #expect(diff.stdout.contains(Self.shownName) && diff.stdout.contains(#"only in B: only\x1b[8mB F32 [1]"#))
        let diffJSON = try Self.parsed(try CLI.run(["diff", a, b, "--json"]))
        let changed = try #require(diffJSON["changed"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(changed.map { Array($0.utf8) } == [Array(Self.name.utf8)])

        let patch = folder + "/p.spatch"
        let other = folder + "/q.spatch"
        #expect(try CLI.run(["create", a, b, "-o", patch, "--task", "task\u{1B}[5m"]).status == 0)
        #expect(try CLI.run(["create", a, c, "-o", other]).status == 0)
        let audit = try CLI.run(["audit", patch, "--base", a])
        #expect(audit.status == 0, "\(audit.stderr)")
        Self.expectSafe(audit, "audit")
        #expect(audit.stdout.contains(Self.shownName) && audit.stdout.contains(#"task = task\x1b[5m"#))
        let auditJSON = try Self.parsed(try CLI.run(["audit", patch, "--json"]))
        let entries = try #require(auditJSON["entries"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(entries.contains { Array($0.utf8) == Array(Self.name.utf8) })

        let out = folder + "/out.safetensors"
        let apply = try CLI.run(["apply", a, patch, "-o", out])
        #expect(apply.status == 0, "\(apply.stderr)")
        let log = try CLI.run(["log", out, patch])
        #expect(log.status == 0 && log.stdout.contains(#"task task\x1b[5m"#), "\(log.stdout)")
        Self.expectSafe(log, "log")
        let plan = try CLI.run(["merge", "--plan", "--per-tensor", patch, other])
        #expect(plan.status == 0, "\(plan.stderr)")
        Self.expectSafe(plan, "merge --plan")
        #expect(plan.stdout.contains("  " + Self.shownName) && plan.stdout.contains(#"task task\x1b[5m"#))

        // An error that names the tensor: the patch does not fit c.
        let refused = try CLI.run(["apply", c, patch, "-o", folder + "/x.safetensors"])
        #expect(refused.status != 0)
        Self.expectSafe(refused, "apply refusal")
        #expect(refused.stderr.contains("\"\(Self.shownName)\""), "\(refused.stderr)")
    }
}
