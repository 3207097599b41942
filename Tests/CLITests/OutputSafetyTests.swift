import Foundation
import Testing

@testable import Checkpoints

/// No command writes over its own input, replaces a file unasked, or leaves a temporary file
/// behind, even when killed.
struct OutputSafetyTests {
    static func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// Names in `folder` that start with a dot (Scalpel's temporary files are hidden).
    static func hiddenFiles(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }
    }

    @Test func noCommandWritesOverItsOwnInputWhateverTheFlagsOrLinks() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let patch = folder + "/p.spatch"
        let other = folder + "/q.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)
        #expect(try CLI.run(["create", base, tuned, "-o", other, "--task", "other"]).status == 0)
        try FileManager.default.createSymbolicLink(atPath: folder + "/symlink.safetensors", withDestinationPath: base)
        try FileManager.default.linkItem(atPath: base, toPath: folder + "/hardlink.safetensors")
        let before = try Self.contents(base)
        let patchBefore = try Self.contents(patch)
        let attempts: [[String]] = [
            ["apply", base, patch, "-o", base],
            ["apply", base, patch, "-o", base, "--overwrite"],
            ["apply", base, patch, "-o", folder + "/symlink.safetensors", "--overwrite"],
            ["apply", base, patch, "-o", folder + "/hardlink.safetensors", "--overwrite"],
            ["convert", base, base, "--dtype", "f16", "--overwrite"],
            ["convert", base, folder + "/hardlink.safetensors", "--dtype", "f16", "--overwrite"],
            ["merge", patch, other, "--base", base, "--method", "priority", "-o", patch, "--overwrite"],
            ["create", base, tuned, "-o", tuned, "--overwrite"],
            ["revert", tuned, patch, "-o", tuned, "--overwrite"],
        ]
        for arguments in attempts {
            let result = try CLI.run(arguments)
            #expect(
                result.status != 0 && result.stderr.contains("never writes over its own input"),
                "\(arguments): \(result.stderr)")
        }
        #expect(try Self.contents(base) == before && Self.contents(patch) == patchBefore)
        #expect(try Self.hiddenFiles(folder).isEmpty)
    }

    @Test func anExistingOutputIsReplacedOnlyWithOverwrite() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let patch = folder + "/p.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)
        let output = folder + "/out.safetensors"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: output))
        // mask and train refuse before they read the model or the task (nothing is scored or trained).
        for arguments in [
            ["apply", base, patch, "-o", output], ["convert", base, output], ["create", base, tuned, "-o", output],
            ["audit", patch, "--report", output],
            ["merge", patch, patch, "--base", base, "--method", "priority", "-o", output],
            ["mask", base, "--task", folder + "/no-task", "-o", output],
            ["train", base, "--task", folder + "/no-task", "--mask", "all", "-o", output],
        ] {
            let refused = try CLI.run(arguments)
            #expect(
                refused.status != 0 && refused.stderr.contains("exists; pass --overwrite to replace it"),
                "\(arguments): \(refused.stderr)")
            #expect(try Self.contents(output) == Data("keep me".utf8))
        }
        let replaced = try CLI.run(["apply", base, patch, "-o", output, "--overwrite"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(try CLI.run(["diff", output, tuned]).stdout.contains("identical"))
        // A sharded output: an existing shard is refused before any shard is written.
        let fresh = folder + "/fresh"
        let shards = folder + "/sharded"
        for path in [fresh, shards] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        #expect(try CLI.run(["convert", base, fresh + "/model.safetensors", "--shard-size", "3kB"]).status == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: fresh).filter { $0.hasPrefix("model-") }
            .sorted()
        try #require(names.count >= 2)
        try Data("old".utf8).write(to: URL(fileURLWithPath: shards + "/" + names[1]))
        let sharded = try CLI.run(["convert", base, shards + "/model.safetensors", "--shard-size", "3kB"])
        #expect(sharded.status != 0 && sharded.stderr.contains("\(names[1]): exists"), "\(sharded.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: shards) == [names[1]])
    }

    @Test func aKilledWriteLeavesNoTemporaryFile() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder, rows: 600_000)
        let patch = folder + "/task.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)
        let output = folder + "/out.safetensors"
        for (delay, signal) in [
            (20_000, SIGKILL), (60_000, SIGKILL), (120_000, SIGKILL), (250_000, SIGKILL), (100_000, SIGTERM),
        ] as [(useconds_t, Int32)] {
            for (arguments, tensors) in [
                (["apply", base, patch, "-o", output], 4), (["convert", base, output, "--dtype", "f16"], 3),
            ] {
                let running = try CLI.start(arguments)
                usleep(delay)
                kill(running.process.processIdentifier, signal)
                running.process.waitUntilExit()
                // Unnamed until complete: nothing hidden, and OUT complete or absent.
                #expect(
                    try Self.hiddenFiles(folder).isEmpty, "\(arguments) killed (signal \(signal)) after \(delay) µs")
                if FileManager.default.fileExists(atPath: output) {
                    #expect(try Checkpoint.open(output).tensors.count == tensors)
                    try FileManager.default.removeItem(atPath: output)
                }
            }
        }
    }

    @Test func staleTemporaryFilesOfDeadProcessesAreRemovedByTheNextWrite() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        // A process id that is not running, and this test process's own (alive).
        var dead: pid_t = 4_000_000
        while kill(dead, 0) == 0 || errno == EPERM { dead -= 1 }
        let stale = ".out.safetensors.scalpel-\(dead)-12345.tmp"
        let staleBase = ".model.safetensors.scalpel-\(dead)-base.safetensors"
        let alive = ".out.safetensors.scalpel-\(getpid())-999.tmp"
        let unrelated = ".scalpel-notes"
        for name in [stale, staleBase, alive, unrelated] {
            try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        #expect(try CLI.run(["create", base, tuned, "-o", folder + "/p.spatch"]).status == 0)
        #expect(try Set(Self.hiddenFiles(folder)) == [alive, unrelated])
        #expect(StaleTemporaryFiles.owner(of: stale) == dead && StaleTemporaryFiles.owner(of: unrelated) == nil)
        #expect(StaleTemporaryFiles.owner(of: "model.safetensors.scalpel-undo") == nil)
    }
}
