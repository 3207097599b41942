import Foundation
import Patches
import TestSupport
import Testing

@testable import Checkpoints

/// `scalpel continual` on the tiny BERT: a finished run with other settings is refused, not
/// "resumed" under a report that would describe patches it did not make; --restart retrains.
struct ContinualCommandTests {
    @Test func resumingIsRefusedUnderOtherSettingsAndRestartRetrains() throws {
        let s = try TinyContinualRun.setUp(#function)
        let run = s.root + "/run"
        func continual(_ extra: [String]) throws -> CLI.Result {
            try CLI.run(
                ["continual", s.model, "--tasks"] + s.tasks + [
                    "--control", s.control, "-o", run, "--rate", "0.2", "--batch", "8", "--lr", "5e-3",
                ] + extra)
        }
        func setting(_ name: String) throws -> String? {
            try JSONValue.parse(contentsOf: run + "/report.json")["settings"]?[name]?.stringValue
        }
        let first = try continual(["--epochs", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try setting("epochs") == "1")
        let markdown = try String(contentsOfFile: run + "/report.md", encoding: .utf8)
        #expect(
            markdown.contains("\n| setting | value |\n| --- | --- |\n") && markdown.contains("\n| epochs | 1 |\n")
                && markdown.contains("\n| lr | 0.005 |\n"))
        try "mine".write(toFile: run + "/notes.txt", atomically: true, encoding: .utf8)

        // Three epochs after one: refused, each setting named with both values; nothing rewritten.
        let other = try continual(["--epochs", "3"])
        #expect(
            other.status != 0 && other.stderr.contains("\n  epochs: 1 → 3\n") && other.stderr.contains("--restart"),
            "\(other.stderr)")
        #expect(!other.stderr.contains("[continual]"))
        #expect(try String(contentsOfFile: run + "/report.md", encoding: .utf8) == markdown)

        // --restart retrains with the new settings, and the report says so; the user's file stays.
        let restarted = try continual(["--epochs", "3", "--restart"])
        #expect(restarted.status == 0, "\(restarted.stderr)")
        #expect(
            restarted.stderr.contains(
                "[continual] restart: removed report.json, report.md, report.svg, state.json, task1-mask.spatch, task1.spatch, task2-mask.spatch, task2.spatch\n"
            ))
        #expect(try setting("epochs") == "3")
        #expect(try String(contentsOfFile: run + "/report.md", encoding: .utf8).contains("\n| epochs | 3 |\n"))
        for k in 1...2 {
            #expect(try PatchFile.open(run + "/task\(k).spatch").header.metadataValue("train.epochs") == "3")
        }
        #expect(try String(contentsOfFile: run + "/notes.txt", encoding: .utf8) == "mine")

        // The class-incremental protocol by default; both protocols in report.json.
        let report = try JSONValue.parse(contentsOf: run + "/report.json")
        #expect(report["protocol"]?.stringValue == "class")
        #expect(
            try String(contentsOfFile: run + "/report.md", encoding: .utf8).contains(
                "Protocol: class-incremental (after task k every seen task's"))
        for key in ["class_incremental", "task_incremental"] {
            #expect(
                report[key]?["accuracy_matrix"]?.arrayValue?.count == 2
                    && report[key]?["forgetting_interval"]?.arrayValue?.count == 2, "\(key)")
        }

        // The same settings again, under the task protocol: resumed after the last task,
        // nothing trained (the protocol changes no patch), the headline task-incremental.
        let patch = FileManager.default.contents(atPath: run + "/task2.spatch")
        let same = try continual(["--epochs", "3", "--protocol", "task"])
        #expect(same.status == 0 && same.stderr == "[continual] resuming after task 2\n", "\(same.stderr)")
        #expect(FileManager.default.contents(atPath: run + "/task2.spatch") == patch)
        #expect(try same.stdout == String(contentsOfFile: run + "/report.md", encoding: .utf8))
        #expect(
            same.stdout.contains(
                "Protocol: task-incremental (each task's test items are classified among its own classes)"))
        let again = try JSONValue.parse(contentsOf: run + "/report.json")
        #expect(again["protocol"]?.stringValue == "task" && again["outcomes"] == report["outcomes"])
        let wrong = try continual(["--epochs", "3", "--protocol", "domain"])
        #expect(wrong.status != 0 && wrong.stderr.contains("--protocol"), "\(wrong.stderr)")
    }
}
