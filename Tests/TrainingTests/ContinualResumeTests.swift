import Foundation
import Patches
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Training

/// A run folder resumes only under the settings its patches were made with; --restart removes
/// the run's files, and only those, and starts over.
struct ContinualResumeTests {
    typealias Setup = (model: String, tasks: [String], control: String, root: String)

    static func run(
        _ s: Setup, _ folder: String, options: ContinualRunner.Options = ContinualRunnerTests.options(),
        tasks: [String]? = nil,
        base: String? = nil, restart: Bool = false, lines: inout [String]
    ) throws -> ContinualRunner.Report {
        var collected: [String] = []
        defer { lines = collected }
        return try ContinualRunner.run(
            base: base ?? s.model, tasks: tasks ?? s.tasks, control: s.control, folder: folder, options: options,
            restart: restart
        ) { collected.append($0) }
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test func aFinishedRunResumedWithTheSameSettingsTrainsNothing() throws {
        let s = try TinyContinualRun.setUp(#function)
        let folder = s.root + "/run"
        var lines: [String] = []
        let first = try Self.run(s, folder, lines: &lines)
        #expect(lines.contains("task 2 of 2 (t2): train"))
        let files = ["task1.spatch", "task1-mask.spatch", "task2.spatch", "task2-mask.spatch", "state.json"]
        let before = files.map { Self.bytes(folder + "/" + $0) }
        // The base moved to another folder is the same base: its weights are what count.
        try FileManager.default.copyItem(atPath: s.model, toPath: s.root + "/moved")
        let again = try Self.run(s, folder, base: s.root + "/moved", lines: &lines)
        #expect(lines == ["resuming after task 2"])
        #expect(files.map { Self.bytes(folder + "/" + $0) } == before && !before.contains(nil))
        #expect(again.states == first.states)
        #expect(again.settings == first.settings && again.settings.values.first { $0.0 == "epochs" }?.1 == "2")
    }

    @Test func otherSettingsAreRefusedEachNamedWithBothValues() throws {
        let s = try TinyContinualRun.setUp(#function)
        let folder = s.root + "/run"
        var lines: [String] = []
        _ = try Self.run(s, folder, lines: &lines)
        let state = Self.bytes(folder + "/state.json")
        var options = ContinualRunnerTests.options()
        options.training.epochs = 3
        options.training.learningRate = 1e-3
        #expect { try Self.run(s, folder, options: options, lines: &lines) } throws: {
            "\($0)" == folder
                + "/state.json: the run there was made with other settings:\n  epochs: 2 → 3\n  lr: 0.005 → 0.001\n"
                + "resume it with the same settings, or start over with --restart (it removes the run's files from \(folder), and no other file), or use another output folder"
        }
        // Scoring settings the command line ties to training ones show both.
        options = ContinualRunnerTests.options()
        options.scoring.seed = 7
        #expect { try Self.run(s, folder, options: options, lines: &lines) } throws: {
            "\($0)".contains("\n  seed: 0 → 0 (scoring 7)\n")
        }
        // Edited task data and other base weights are other settings too.
        let test = s.tasks[1] + "/test.jsonl"
        try (String(contentsOfFile: test, encoding: .utf8) + "\n{\"text\": \"w30 w31\", \"label\": \"x\"}").write(
            toFile: test, atomically: true, encoding: .utf8)
        #expect { try Self.run(s, folder, lines: &lines) } throws: { error in
            let text = "\(error)"
            return text.contains("\n  task files: ") && !text.contains("base weights") && !text.contains("epochs")
        }
        let other = try ContinualRunnerTests.setUp()
        try FileManager.default.removeItem(atPath: other.model + "/model.safetensors")
        // The same tensors but for one element of the first.
        let checkpoint = try Checkpoint.open(s.model)
        try SafetensorsWriter.write(
            checkpoint.tensors.enumerated().map { k, entry in
                var values = checkpoint.view(entry).floatValues()
                if k == 0 { values[0] += 1 }
                return OutputTensor(
                    name: entry.name,
                    view: TensorView.make(dtype: .f32, shape: entry.shape) { b in
                        values.withUnsafeBytes { b.copyMemory(from: $0) }
                    })
            }, metadata: [], to: other.model + "/model.safetensors")
        #expect { try Self.run(s, folder, base: other.model, lines: &lines) } throws: {
            "\($0)".contains("\n  base weights: ")
        }
        #expect(lines.isEmpty && Self.bytes(folder + "/state.json") == state)
    }

    @Test func restartRemovesTheRunsFilesOnlyAndRetrains() throws {
        let s = try TinyContinualRun.setUp(#function)
        let folder = s.root + "/run"
        var lines: [String] = []
        _ = try Self.run(s, folder, lines: &lines)
        // The user's files, and what a killed run leaves, beside the run's.
        try "mine".write(toFile: folder + "/notes.txt", atomically: true, encoding: .utf8)
        try "mine".write(toFile: folder + "/task01.spatch", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: folder + "/report.md.d", withIntermediateDirectories: true)
        try "left".write(
            toFile: folder + "/.task2.spatch.scalpel-trained.safetensors", atomically: true, encoding: .utf8)
        var options = ContinualRunnerTests.options()
        options.training.epochs = 3
        let report = try Self.run(s, folder, options: options, tasks: [s.tasks[0]], restart: true, lines: &lines)
        #expect(
            lines.first
                == "restart: removed .task2.spatch.scalpel-trained.safetensors, state.json, task1-mask.spatch, task1.spatch, task2-mask.spatch, task2.spatch"
        )
        #expect(lines.contains("task 1 of 1 (t1): train"))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(
            left == ["notes.txt", "report.md.d", "state.json", "task01.spatch", "task1-mask.spatch", "task1.spatch"])
        #expect(report.finishedTasks == 1 && report.settings.values.first { $0.0 == "epochs" }?.1 == "3")
        #expect(try PatchFile.open(folder + "/task1.spatch").header.metadataValue("train.epochs") == "3")
        let recorded = try JSONValue.parse(contentsOf: folder + "/state.json")["settings"]
        #expect(recorded == report.settings.json && recorded?["tasks"]?.stringValue == "[\"t1\"]")
    }

    @Test func aRunThatCannotBeCheckedIsRefusedUnlessRestarted() throws {
        let s = try TinyContinualRun.setUp(#function)
        let folder = s.root + "/run"
        var lines: [String] = []
        _ = try Self.run(s, folder, tasks: [s.tasks[0]], lines: &lines)
        let advice =
            "start over with --restart (it removes the run's files from \(folder), and no other file), or use another output folder"
        // A state an older Scalpel wrote: no settings.
        let state = try JSONValue.parse(contentsOf: folder + "/state.json")
        let old = JSONValue.object((state.objectMembers ?? []).filter { $0.0 != "settings" })
        try old.pretty().write(toFile: folder + "/state.json", atomically: true, encoding: .utf8)
        #expect { try Self.run(s, folder, tasks: [s.tasks[0]], lines: &lines) } throws: {
            "\($0)" == folder
                + "/state.json: records no settings (an older Scalpel wrote it), so resuming its run cannot be checked; "
                + advice
        }
        // A state of a Scalpel that measured task-incremental accuracies alone: no outcomes.
        try "{\"settings\": \(state["settings"]!.serialized), \"tasks\": [\"t1\"], \"accuracy_matrix\": [[50]]}".write(
            toFile: folder + "/state.json", atomically: true, encoding: .utf8)
        #expect { try Self.run(s, folder, tasks: [s.tasks[0]], lines: &lines) } throws: {
            "\($0)" == folder
                + "/state.json: records no per-item outcomes (an older Scalpel wrote it, measuring task-incremental accuracy only); "
                + advice
        }
        // Damaged states: outcomes cut short, a character other than 0 or 1, a state too many.
        let outcomes = try #require(state["outcomes"])
        let control = try #require(outcomes["control"]?.arrayValue?.first?.stringValue)
        let damaged: [(String, JSONValue)] = [
            ("control", .array([.string(String(control.dropLast())), .string(control)])),
            ("control", .array([.string("2" + control.dropFirst()), .string(control)])),
            ("control", .array([.string(control), .string(control), .string(control)])),
        ]
        for (key, value) in damaged {
            let members = (outcomes.objectMembers ?? []).map { $0.0 == key ? (key, value) : $0 }
            let bad = JSONValue.object(
                (state.objectMembers ?? []).map { $0.0 == "outcomes" ? ("outcomes", .object(members)) : $0 })
            try bad.pretty().write(toFile: folder + "/state.json", atomically: true, encoding: .utf8)
            #expect { try Self.run(s, folder, tasks: [s.tasks[0]], lines: &lines) } throws: {
                "\($0)" == folder
                    + "/state.json: is damaged (its outcomes do not fit the tasks' and the control's test items); "
                    + advice
            }
        }
        // A finished task's patch gone.
        try state.pretty().write(toFile: folder + "/state.json", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: folder + "/task1-mask.spatch")
        #expect { try Self.run(s, folder, tasks: [s.tasks[0]], lines: &lines) } throws: {
            "\($0)" == folder + "/task1-mask.spatch: is missing, though state.json records task 1 as finished; "
                + advice
        }
        // A run's files without their state.
        try FileManager.default.removeItem(atPath: folder + "/state.json")
        #expect { try Self.run(s, folder, tasks: [s.tasks[0]], lines: &lines) } throws: {
            "\($0)" == folder + ": holds task1.spatch but no state.json, so there is no run to resume; " + advice
        }
        #expect(FileManager.default.fileExists(atPath: folder + "/task1.spatch"))
        let restarted = try Self.run(s, folder, tasks: [s.tasks[0]], restart: true, lines: &lines)
        #expect(lines.first == "restart: removed task1.spatch" && restarted.finishedTasks == 1)
    }

    @Test func runFilesAreKnownByName() {
        let ours = [
            "state.json", "report.json", "report.md", "report.svg", "task1.spatch", "task12-mask.spatch",
            ".task3.spatch.scalpel-base.safetensors", ".report.md.scalpel-41-7.tmp",
        ]
        let theirs = [
            "notes.txt", "task0.spatch", "task01.spatch", "task1.spatch.bak", "Task1.spatch", "task-mask.spatch",
            "task1-mask.spatchx",
            ".notes.txt.scalpel-1.tmp", ".scalpel-", "report.MD", "state.json.orig",
        ]
        #expect(ours.allSatisfy(ContinualRunFolder.isRunFile))
        #expect(!theirs.contains(where: ContinualRunFolder.isRunFile))
    }
}
