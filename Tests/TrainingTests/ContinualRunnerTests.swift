import Foundation
import Patches
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Training

/// The continual runner on the tiny BERT with a made-up vocabulary: two tasks and a control.
struct ContinualRunnerTests {
    static func setUp(_ label: String = #function) throws -> (
        model: String, tasks: [String], control: String, root: String
    ) {
        try TinyContinualRun.setUp(label)
    }

    static func options() -> ContinualRunner.Options {
        var options = ContinualRunner.Options()
        options.rate = 0.2
        options.scoring.batchSize = 8
        options.training.batchSize = 8
        options.training.epochs = 2
        options.training.learningRate = 5e-3
        options.metadata = [("created", "fixed")]
        return options
    }

    @Test func aResumedRunEqualsAnUninterruptedOne() throws {
        let s = try Self.setUp()
        let whole = try ContinualRunner.run(
            base: s.model, tasks: s.tasks, control: s.control, folder: s.root + "/run-a", options: Self.options()
        ) { _ in }
        #expect(whole.states.count == 3 && whole.metrics(.classIncremental).accuracyMatrix.map(\.count) == [1, 2])
        #expect(
            whole.states.allSatisfy {
                $0.classIncremental.count == 2 && $0.taskIncremental.count == 2 && !$0.control.isEmpty
            })
        #expect(whole.trainableParameters > 0 && whole.changedParameters > 0)
        // Interrupt after the first task: keep its files and a state with its row only.
        let first = try ContinualRunner.run(
            base: s.model, tasks: Array(s.tasks.prefix(1)), control: s.control, folder: s.root + "/run-b-first",
            options: Self.options()
        ) { _ in }
        try FileManager.default.createDirectory(atPath: s.root + "/run-b", withIntermediateDirectories: true)
        for file in ["task1.spatch", "task1-mask.spatch"] {
            try FileManager.default.copyItem(atPath: s.root + "/run-b-first/" + file, toPath: s.root + "/run-b/" + file)
        }
        #expect(first.states.count == 2)
        var partial = whole
        partial.states = Array(whole.states.prefix(2))
        try ContinualRunner.save(partial, method: .spu, evaluation: .classIncremental, to: s.root + "/run-b/state.json")
        var lines: [String] = []
        let resumed = try ContinualRunner.run(
            base: s.model, tasks: s.tasks, control: s.control, folder: s.root + "/run-b", options: Self.options()
        ) { lines.append($0) }
        #expect(lines.first == "resuming after task 1")
        #expect(resumed.states == whole.states)
        #expect(
            resumed.changedParameters == whole.changedParameters
                && resumed.trainableParameters == whole.trainableParameters)
        // The same update: every entry's stored bytes, and the metadata but for the training time.
        let (resumedPatch, wholePatch) = (
            try PatchFile.open(s.root + "/run-b/task2.spatch"), try PatchFile.open(s.root + "/run-a/task2.spatch")
        )
        #expect(
            resumedPatch.entries.map(\.checksum) == wholePatch.entries.map(\.checksum) && !resumedPatch.entries.isEmpty)
        // train.on names the task-1 patch by id, and that id covers its own training time: each
        // run's task-2 patch names its own run's task-1 patch.
        let untimed = { (patch: PatchFile) in
            patch.header.metadata.filter { $0.0 != "train.seconds" && $0.0 != "train.on" }.map { "\($0.0)=\($0.1)" }
        }
        #expect(untimed(resumedPatch) == untimed(wholePatch))
        for (patch, run) in [(resumedPatch, "run-b"), (wholePatch, "run-a")] {
            let earlier = try PatchFile.open(s.root + "/" + run + "/task1.spatch").id
            #expect(patch.header.metadataValue("train.on") == JSONValue.array([.string(earlier)]).serialized, "\(run)")
        }
        // A state over other tasks is refused.
        #expect {
            try ContinualRunner.run(
                base: s.model, tasks: [s.tasks[1]], control: s.control, folder: s.root + "/run-a",
                options: Self.options()
            ) { _ in }
        } throws: { "\($0)".contains("  tasks: [\"t1\",\"t2\"] → [\"t2\"]\n") }
    }

    @Test func fullFineTuningAndReplayRunsAndMethodsDoNotMix() throws {
        let s = try Self.setUp()
        var options = Self.options()
        options.method = .full
        options.replayBuffer = 4
        let full = try ContinualRunner.run(
            base: s.model, tasks: s.tasks, control: s.control, folder: s.root + "/full", options: options
        ) { _ in }
        // Every parameter of the encoder may train; no mask files; the second patch records its replay.
        let perLayer = 4 * (32 * 32 + 32) + 2 * 32 + (64 * 32 + 64) + (32 * 64 + 32) + 2 * 32
        #expect(full.trainableParameters == 100 * 32 + 40 * 32 + 2 * 32 + 2 * 32 + 2 * perLayer)
        #expect(full.changedParameters > full.trainableParameters / 2)
        #expect(!FileManager.default.fileExists(atPath: s.root + "/full/task1-mask.spatch"))
        let second = try PatchFile.open(s.root + "/full/task2.spatch")
        #expect(second.header.metadataValue("train.mask") == "all")
        #expect(second.header.metadataValue("train.replay") == "[{\"task\":\"t1\",\"examples\":4}]")
        #expect(try PatchFile.open(s.root + "/full/task1.spatch").header.metadataValue("train.replay") == nil)
        // The random-mask ablation keeps masks of SPU's sizes.
        options = Self.options()
        options.method = .randomMask
        let random = try ContinualRunner.run(
            base: s.model, tasks: s.tasks, control: s.control, folder: s.root + "/random", options: options
        ) { _ in }
        let spu = try ContinualRunner.run(
            base: s.model, tasks: s.tasks, control: s.control, folder: s.root + "/spu", options: Self.options()
        ) { _ in }
        for k in 1...2 {
            let sizes = try ["random", "spu"].map { run in
                try PatchFile.open(s.root + "/\(run)/task\(k)-mask.spatch").header.entries.reduce(0) { $0 + $1.nnz }
            }
            #expect(sizes[0] == sizes[1], "task \(k): \(sizes)")
        }
        #expect(random.trainableParameters > 0 && spu.trainableParameters > 0)
        // Each task draws its own random mask.
        let randomMasks = try (1...2).map { k in
            let mask = try PatchFile.open(s.root + "/random/task\(k)-mask.spatch")
            return try mask.positions(mask.entries[0])
        }
        #expect(randomMasks[0] != randomMasks[1])
        // Resuming a run folder with another method is refused.
        #expect {
            try ContinualRunner.run(
                base: s.model, tasks: s.tasks, control: s.control, folder: s.root + "/full", options: Self.options()
            ) { _ in }
        } throws: { "\($0)".contains("  method: full → spu\n") && "\($0)".contains("  rate: (none) → 0.2\n") }
    }
}
