import Foundation
import Testing
import TestSupport
@testable import Checkpoints
@testable import Training
import Tensors

/// The continual runner on the tiny BERT with a made-up vocabulary: two tasks and a control.
struct ContinualRunnerTests {
    static func setUp(_ label: String = #function) throws -> (model: String, tasks: [String], control: String, root: String) {
        let root = NSTemporaryDirectory() + "scalpel-continual-\(label.filter(\.isLetter))-\(UUID().uuidString.prefix(6))"
        let model = root + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: MaskedTrainerTests.fixtures + "/tiny_bert.safetensors", toPath: model + "/model.safetensors")
        try FileManager.default.copyItem(atPath: MaskedTrainerTests.fixtures + "/tiny_bert_config.json", toPath: model + "/config.json")
        try (["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (4..<100).map { "w\($0)" }).joined(separator: "\n").write(toFile: model + "/vocab.txt", atomically: true, encoding: .utf8)
        func task(_ name: String, _ a: Int, _ b: Int) throws -> String {
            let folder = root + "/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try "x\tw\(a + 30) w\(a + 31)\ny\tw\(b + 30) w\(b + 31)\n".write(toFile: folder + "/classes.txt", atomically: true, encoding: .utf8)
            var lines: [String] = []
            for i in 0..<8 {
                lines.append("{\"text\": \"w\(a + i) w\(a + i + 1)\", \"label\": \"x\"}")
                lines.append("{\"text\": \"w\(b + i) w\(b + i + 1)\", \"label\": \"y\"}")
            }
            for split in ["train", "test"] { try lines.joined(separator: "\n").write(toFile: folder + "/\(split).jsonl", atomically: true, encoding: .utf8) }
            return folder
        }
        return (model, [try task("t1", 4, 14), try task("t2", 24, 44)], try task("control", 54, 64), root)
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
        let whole = try ContinualRunner.run(base: s.model, tasks: s.tasks, control: s.control, folder: s.root + "/run-a", options: Self.options()) { _ in }
        #expect(whole.accuracyMatrix.map(\.count) == [1, 2] && whole.controlAccuracy.count == 2 && whole.taskAccuracyBase.count == 2)
        #expect(whole.trainableParameters > 0 && whole.changedParameters > 0)
        // Interrupt after the first task: keep its files and a state with its row only.
        let first = try ContinualRunner.run(base: s.model, tasks: Array(s.tasks.prefix(1)), control: s.control, folder: s.root + "/run-b-first",
                                            options: Self.options()) { _ in }
        try FileManager.default.createDirectory(atPath: s.root + "/run-b", withIntermediateDirectories: true)
        for file in ["task1.spatch", "task1-mask.spatch"] {
            try FileManager.default.copyItem(atPath: s.root + "/run-b-first/" + file, toPath: s.root + "/run-b/" + file)
        }
        var partial = first
        partial.tasks = whole.tasks
        partial.taskAccuracyBase = whole.taskAccuracyBase
        try ContinualRunner.save(partial, method: .spu, to: s.root + "/run-b/state.json")
        var lines: [String] = []
        let resumed = try ContinualRunner.run(base: s.model, tasks: s.tasks, control: s.control, folder: s.root + "/run-b", options: Self.options()) { lines.append($0) }
        #expect(lines.first == "resuming after task 1")
        #expect(resumed.accuracyMatrix == whole.accuracyMatrix && resumed.controlAccuracy == whole.controlAccuracy)
        #expect(resumed.changedParameters == whole.changedParameters && resumed.trainableParameters == whole.trainableParameters)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.root + "/run-b/task2.spatch")) == Data(contentsOf: URL(fileURLWithPath: s.root + "/run-a/task2.spatch")))
        // A state over other tasks is refused.
        #expect(throws: FileError.self) {
            try ContinualRunner.run(base: s.model, tasks: [s.tasks[1]], control: s.control, folder: s.root + "/run-a", options: Self.options()) { _ in }
        }
    }
}
