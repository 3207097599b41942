import Foundation
import Patches
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// The knowledge-aware scores from the command line, on the tiny BERT: `mask --score` and
/// `continual --method` spu-mas-ratio and spu-mas-exclude, with their generic text.
struct KnowledgeAwareCommandTests {
    /// Generic text in the tiny model's vocabulary (w4 … w99), apart from the tasks' and the
    /// control set's words (TinyContinualRun: w4–w72, prompts w34 … w95).
    static func genericText(
        in root: String, named name: String = "generic.txt",
        _ lines: [String] = ["w76 w77", "w80 w81 w82", "w90", "w78 w79 w83", "w96 w97"]
    ) throws -> String {
        let path = root + "/" + name
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func sha256(_ path: String) throws -> String {
        try TextFile.contents(path).withUnsafeBytes { Fingerprint.sha256($0) }
    }

    @Test func continualRunsBothMethodsAndRecordsTheGenericText() throws {
        let s = try TinyContinualRun.setUp(#function)
        let generic = try Self.genericText(in: s.root)
        func continual(_ method: String, _ run: String, _ extra: [String] = []) throws -> CLI.Result {
            try CLI.run(
                ["continual", s.model, "--tasks"] + s.tasks + [
                    "--control", s.control, "-o", run, "--rate", "0.2", "--batch", "8",
                    "--lr", "5e-3", "--epochs", "1", "--method", method, "--generic-text", generic,
                    "--generic-examples", "4",
                ] + extra)
        }
        for (method, parameter) in [
            ("spu-mas-ratio", ("importance floor", "0.1")), ("spu-mas-exclude", ("protected-fraction", "0.1")),
        ] {
            let run = s.root + "/" + method
            let result = try continual(method, run)
            #expect(result.status == 0, "\(method): \(result.stderr)")
            let report = try JSONValue.parse(contentsOf: run + "/report.json")
            #expect(report["method"]?.stringValue == method)
            let settings = report["settings"]
            #expect(settings?["generic text"]?.stringValue == String(try Self.sha256(generic).prefix(16)))
            #expect(settings?["generic-examples"]?.stringValue == "4")
            #expect(settings?[parameter.0]?.stringValue == parameter.1, "\(method)")
            for k in 1...2 {
                let mask = try JSONValue.parse(try CLI.run(["audit", run + "/task\(k)-mask.spatch", "--json"]).stdout)
                #expect(mask["metadata"]?["mask.score"]?.stringValue == method)
                #expect(mask["metadata"]?["mask.generic_text.sha256"]?.stringValue == (try Self.sha256(generic)))
                // SPU's mask size: 20 % of each 64 × 32 first-MLP weight, its bias whole.
                for entry in try #require(mask["entries"]?.arrayValue) {
                    let name = entry["name"]?.stringValue ?? ""
                    #expect(
                        entry["elements_selected"]?.intValue == (name.hasSuffix("weight") ? 410 : 64),
                        "\(method) task \(k): \(name)")
                }
            }
        }
        // Other generic text is another run: resuming is refused, naming the setting.
        let other = try Self.genericText(in: s.root, named: "other.txt", ["w76 w77", "w80", "w90 w91", "w86", "w87"])
        let refused = try CLI.run(
            ["continual", s.model, "--tasks"] + s.tasks + [
                "--control", s.control, "-o", s.root + "/spu-mas-exclude",
                "--rate", "0.2", "--batch", "8", "--lr", "5e-3", "--epochs", "1", "--method", "spu-mas-exclude",
                "--generic-text", other, "--generic-examples", "4",
            ])
        #expect(refused.status != 0 && refused.stderr.contains("\n  generic text: "), "\(refused.stderr)")
        // spu records none of it.
        let spu = try continual("spu", s.root + "/spu")
        #expect(spu.status == 0, "\(spu.stderr)")
        #expect(try JSONValue.parse(contentsOf: s.root + "/spu/report.json")["settings"]?["generic text"] == nil)
    }

    @Test func continualRefusesAKnowledgeAwareMethodWithoutUsableGenericText() throws {
        let s = try TinyContinualRun.setUp(#function)
        let base = ["continual", s.model, "--tasks"] + s.tasks + ["--control", s.control, "--batch", "8"]
        let none = try CLI.run(base + ["-o", s.root + "/a", "--method", "spu-mas-ratio"])
        #expect(none.status != 0 && none.stderr.contains("--generic-text FILE"), "\(none.stderr)")
        let missing = s.root + "/no-such-generic.txt"
        let absent = try CLI.run(
            base + ["-o", s.root + "/b", "--method", "spu-mas-exclude", "--generic-text", missing])
        #expect(absent.status != 0 && absent.stderr.contains(missing + ": "), "\(absent.stderr)")
        let short = try CLI.run(
            base + [
                "-o", s.root + "/c", "--method", "spu-mas-ratio", "--generic-text", try Self.genericText(in: s.root),
            ])
        #expect(
            short.status != 0 && short.stderr.contains("generic.txt: holds 5 texts, fewer than the 256"),
            "\(short.stderr)")
        let tooMuch = try CLI.run(
            base + [
                "-o", s.root + "/d", "--method", "spu-mas-exclude", "--generic-text", try Self.genericText(in: s.root),
                "--rate", "0.5", "--protected-fraction", "0.6",
            ])
        #expect(
            tooMuch.status != 0 && tooMuch.stderr.contains("--protected-fraction 0.6 add up to more than 1"),
            "\(tooMuch.stderr)")
        // A control text among the generic texts: the control set would be part of the selection.
        let leaking = try Self.genericText(
            in: s.root, named: "leaking.txt", ["w76 w77", "w80", "w56 w57", "w86", "w87"])
        let leaked = try CLI.run(
            base + [
                "-o", s.root + "/e", "--method", "spu-mas-exclude", "--generic-text", leaking, "--generic-examples",
                "5",
            ])
        #expect(
            leaked.status != 0 && leaked.stderr.contains(leaking + ": text 3 (\"w56 w57\") is in the control set"),
            "\(leaked.stderr)")
        for run in ["a", "b", "c", "d", "e"] {
            #expect(!FileManager.default.fileExists(atPath: s.root + "/\(run)/state.json"), "\(run)")
        }
    }

    @Test func maskWritesAKnowledgeAwareMaskOfSPUsSize() throws {
        let s = try TinyContinualRun.setUp(#function)
        let generic = try Self.genericText(in: s.root)
        func mask(_ score: String, _ output: String, _ extra: [String] = []) throws -> CLI.Result {
            try CLI.run(
                [
                    "mask", s.model, "--task", s.tasks[0], "-o", output, "--rate", "0.1", "--batch", "8", "--score",
                    score,
                    "--generic-examples", "5",
                ] + extra)
        }
        var positions: [String: [String: [Int]]] = [:]
        for score in ["spu", "spu-mas-ratio", "spu-mas-exclude"] {
            let output = s.root + "/\(score).spatch"
            let result = try mask(score, output, ["--generic-text", generic])
            #expect(
                result.status == 0 && result.stdout.contains("\(score) mask of 4 tensors, 538 of 4,224"),
                "\(result.stdout) \(result.stderr)")
            let file = try PatchFile.open(output)
            positions[score] = Dictionary(
                uniqueKeysWithValues: try file.entries.map { ($0.name, try file.positions($0).sorted()) })
            let recorded = file.header.metadataValue("mask.generic_examples")
            #expect(recorded == (score == "spu" ? nil : "5"), "\(score)")
        }
        #expect(positions["spu-mas-ratio"] != positions["spu"] && positions["spu-mas-exclude"] != positions["spu"])
        #expect(
            try PatchFile.open(s.root + "/spu-mas-exclude.spatch").header.metadataValue("mask.protected_fraction")
                == "0.1")
        #expect(
            try PatchFile.open(s.root + "/spu-mas-ratio.spatch").header.metadataValue("mask.importance_floor") == "0.1")

        let empty = s.root + "/empty.txt"
        try "".write(toFile: empty, atomically: true, encoding: .utf8)
        let refused = try mask("spu-mas-exclude", s.root + "/x.spatch", ["--generic-text", empty])
        #expect(refused.status != 0 && refused.stderr.contains(empty + ": holds no text"), "\(refused.stderr)")
        let none = try mask("spu-mas-ratio", s.root + "/y.spatch")
        #expect(none.status != 0 && none.stderr.contains("--generic-text"), "\(none.stderr)")
        for output in ["x", "y"] { #expect(!FileManager.default.fileExists(atPath: s.root + "/\(output).spatch")) }
    }
}
