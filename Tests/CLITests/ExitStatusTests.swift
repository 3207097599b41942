import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Exit statuses (0 success, 1 a check failed, 2 a bad input file, 64 usage, 73 an output that
/// cannot be written) and the messages for the slips people make at a terminal.
struct ExitStatusTests {
    @Test func eachKindOfFailureHasItsStatus() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let patch = folder + "/task.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)

        // 1: a check failed. The patch onto another model (its elements hold other bits), and
        // onto the model it made (already applied).
        let other = try JSONResultTests.retuned(tuned, in: folder)
        let wrongBase = try CLI.run(["apply", other, patch, "-o", folder + "/x.safetensors"])
        #expect(wrongBase.status == 1, "\(wrongBase.stderr)")
        #expect(wrongBase.stderr.hasPrefix("Error: \(patch): tensor "), "\(wrongBase.stderr)")
        #expect(try CLI.run(["apply", tuned, patch, "-o", folder + "/x.safetensors"]).status == 1)
        // An audit that finds a mismatch, and overlapping siblings.
        #expect(try CLI.run(["audit", patch, "--base", tuned]).status == 1)
        let sibling = folder + "/sibling.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", sibling, "--meta", "run=2"]).status == 0)
        #expect(try CLI.run(["apply", base, patch, sibling, "-o", folder + "/y.safetensors"]).status == 1)

        // 2: an input that is missing or damaged. A missing folder is named as the folder.
        let missing = try CLI.run(["inspect", folder + "/nowhere/model.safetensors"])
        #expect(
            missing.status == 2
                && missing.stderr
                    == "Error: \(folder)/nowhere/model.safetensors: folder \(folder)/nowhere does not exist\n",
            "\(missing.stderr)")
        let missingFile = try CLI.run(["audit", folder + "/absent.spatch"])
        #expect(
            missingFile.status == 2 && missingFile.stderr == "Error: \(folder)/absent.spatch: no such file\n",
            "\(missingFile.stderr)")
        let truncated = folder + "/truncated.spatch"
        try Data(try Data(contentsOf: URL(fileURLWithPath: patch)).prefix(10)).write(
            to: URL(fileURLWithPath: truncated))
        #expect(try CLI.run(["audit", truncated]).status == 2)

        // 64: the command line. 73: an output that cannot be written, told apart from a failed
        // audit, and found before the audit runs.
        #expect(try CLI.run(["apply", base]).status == 64)
        let report = try CLI.run(["audit", patch, "--report", folder + "/no-such-dir/r.html"])
        #expect(
            report.status == 73
                && report.stderr
                    == "Error: \(folder)/no-such-dir/r.html: cannot write: folder \(folder)/no-such-dir does not exist\n",
            "\(report.stderr)")
        #expect(report.stdout.isEmpty)
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 73)  // exists
    }

    @Test func argumentsInTheWrongOrderAreNamedAsSuch() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let patch = folder + "/task.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)
        let out = folder + "/out.safetensors"

        let swapped = try CLI.run(["apply", patch, base, "-o", out])
        #expect(swapped.status == 64)
        #expect(
            swapped.stderr.hasPrefix(
                "Error: \(patch) is a patch (.spatch) where a model is expected and \(base) looks like the model: the arguments are in the wrong order; the command is: scalpel apply BASE PATCH... -o OUT\n"
            ),
            "\(swapped.stderr)")
        let revert = try CLI.run(["revert", patch, base, "-o", out])
        #expect(revert.status == 64 && revert.stderr.contains("scalpel revert MODEL PATCH -o OUT"), "\(revert.stderr)")
        let audit = try CLI.run(["audit", base])
        #expect(
            audit.status == 64 && audit.stderr.hasPrefix("Error: \(base) is a model, not a patch (.spatch): "),
            "\(audit.stderr)")
        let create = try CLI.run(["create", base, patch, "-o", folder + "/p.spatch"])
        #expect(create.status == 64 && create.stderr.contains("scalpel create BASE TUNED -o PATCH"), "\(create.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// Foundation's file errors in the `Error: FILE: problem` form too; a control that is also a
    /// task is warned about before anything runs.
    @Test func aRunFolderUnderAFileIsAnOutputErrorNamingIt() throws {
        let (model, tasks, _, root) = try TinyContinualRun.setUp(#function)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = root + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let result = try CLI.run([
            "continual", model, "--tasks", tasks[0], "--control", tasks[0], "-o", file + "/run", "--epochs", "1",
        ])
        #expect(result.status == 73)
        #expect(
            result.stderr
                == "warning: the control \(tasks[0]) is also a task of the sequence (\(tasks[0])): its drop measures learning that task, not forgetting what the model knew\n"
                + "Error: \(file)/run: cannot write: \(file) is a file, not a folder\n", "\(result.stderr)")
    }

    @Test func aMaskMadeForAnotherTaskIsWarnedAbout() throws {
        guard DefaultModelFiles.isAvailable else { return }
        let model = DefaultModelFiles.model
        let task = DefaultModelFiles.task
        let folder = try CLI.scratchFolder()
        // The same task under another name (a copy) is the same task: no warning.
        let copy = folder + "/copy"
        let other = folder + "/other"
        try FileManager.default.copyItem(atPath: task, toPath: copy)
        try FileManager.default.copyItem(atPath: task, toPath: other)
        let train = other + "/train.jsonl"
        var lines = try String(contentsOfFile: train, encoding: .utf8).split(separator: "\n")
        lines.removeLast()
        try (lines.joined(separator: "\n") + "\n").write(toFile: train, atomically: true, encoding: .utf8)

        let mask = folder + "/mask.spatch"
        #expect(
            try CLI.run(["mask", model, "--task", task, "-o", mask, "--rate", "0.02", "--score", "magnitude"]).status
                == 0)
        let same = try CLI.run([
            "train", model, "--task", copy, "--mask", mask, "-o", folder + "/a.spatch", "--epochs", "1", "--batch",
            "64",
        ])
        #expect(same.status == 0 && !same.stderr.contains("warning:"), "\(same.stderr)")
        let differs = try CLI.run([
            "train", model, "--task", other, "--mask", mask, "-o", folder + "/b.spatch", "--epochs", "1", "--batch",
            "64",
        ])
        #expect(differs.status == 0)
        let taskName = URL(fileURLWithPath: task).lastPathComponent
        #expect(
            differs.stderr.contains("warning: the mask \(mask) was made for the task \(taskName), not for \(other)"),
            "\(differs.stderr)")
    }
}
