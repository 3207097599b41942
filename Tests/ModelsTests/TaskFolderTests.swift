import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Models

/// Task folders: what is read, and every malformed input refused with the file and line.
struct TextTaskTests {
    static func folder(classes: String, test: String? = nil, _ label: String = #function) throws -> String {
        let path = NSTemporaryDirectory() + "scalpel-task-\(label.filter(\.isLetter))-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try classes.write(toFile: path + "/classes.txt", atomically: true, encoding: .utf8)
        if let test { try test.write(toFile: path + "/test.jsonl", atomically: true, encoding: .utf8) }
        return path
    }

    @Test func classesAndExamplesAreRead() throws {
        let path = try Self.folder(
            classes: "pos\ta happy sentence\n\nneg\ta sad sentence\n",
            test: "{\"text\": \"great\", \"label\": \"pos\"}\n\n{\"text\": \"awful\", \"label\": 1}\n")
        let task = try TaskFolder(folder: path)
        #expect(task.labels == ["pos", "neg"] && task.prompts == ["a happy sentence", "a sad sentence"])
        #expect(try task.examples("test") == [.init(text: "great", label: 0), .init(text: "awful", label: 1)])
    }

    /// Labels are byte strings: "é" precomposed and "e" + a combining accent are two classes,
    /// and an example's label picks the one with its bytes.
    @Test func labelsCompareByTheirBytes() throws {
        let path = try Self.folder(
            classes: "\u{E9}\tprecomposed\ne\u{301}\tdecomposed\n",
            test: "{\"text\": \"a\", \"label\": \"e\u{301}\"}\n{\"text\": \"b\", \"label\": \"\\u00e9\"}\n")
        let task = try TaskFolder(folder: path)
        #expect(task.labels.map { Array($0.utf8) } == [[0xC3, 0xA9], [0x65, 0xCC, 0x81]])
        #expect(try task.examples("test").map(\.label) == [1, 0])
    }

    @Test(
        arguments: [
            ("pos happy\nneg\tsad\n", nil, "classes.txt: line 1: expected label<TAB>prompt"),
            ("pos\thappy\npos\tagain\n", nil, "line 2: class \"pos\" appears twice"),
            ("pos\thappy\n", nil, "has 1 class; a task needs at least two"),
            (
                "pos\thappy\nneg\tsad\n", "{\"text\": \"x\", \"label\": \"meh\"}\n",
                "test.jsonl: line 1: label \"meh\" is not a class"
            ),
            (
                "pos\thappy\nneg\tsad\n", "{\"text\": \"x\", \"label\": 0}\nnot json\n",
                "test.jsonl: line 2: not a JSON object"
            ),
            ("pos\thappy\nneg\tsad\n", "{\"label\": 0}\n", "line 1: no \"text\" string"),
            ("pos\thappy\nneg\tsad\n", "{\"text\": \"x\", \"label\": 5}\n", "label 5 is outside the 2 classes"),
            ("pos\thappy\nneg\tsad\n", "\n\n", "test.jsonl: has no examples"),
        ] as [(String, String?, String)])
    func malformedTasksAreRefused(_ classes: String, _ test: String?, _ message: String) throws {
        let path = try Self.folder(classes: classes, test: test ?? "{\"text\": \"x\", \"label\": 0}\n")
        #expect {
            try TaskFolder(folder: path).examples("test")
        } throws: { "\($0)".contains(message) }
    }

    @Test func zeroShotOnTheSampleTaskWithTheDefaultModel() throws {
        guard DefaultModel.isAvailable else { return }
        let encoder = try TextEncoder(path: DefaultModel.folder)
        let task = try TaskFolder(folder: DefaultModel.fixtures + "/../../../Samples/tasks/topics")
        let result = try ZeroShot.evaluate(encoder, task: task)
        #expect(result.total == 20 && result.perClass.map(\.total) == [5, 5, 5, 5])
        // The pretrained encoder sorts these plainly worded sentences well above chance (25 %).
        #expect(result.accuracy >= 0.8, "\(result.accuracy)")
    }
}

/// Image tasks' labels are read as the integers they are, so any stored value is checked
/// against the classes, never rounded or trapped on.
struct ImageTaskLabelTests {
    @Test(arguments: [Int64.max, Int64.min, (1 << 53) + 1, -1, 2] as [Int64])
    func labelsOutsideTheClassesAreRefusedWithTheirValue(_ label: Int64) throws {
        let path = try TextTaskTests.folder(classes: "cat\ta photo of a cat\ndog\ta photo of a dog\n")
        let images = TensorView.make(dtype: .f32, shape: [2, 3, 4, 4]) { _ in }
        let labels = TensorView.make(dtype: .i64, shape: [2]) { buffer in
            [Int64(1), label].withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        try NumpyWriter.writeNpz(
            [OutputTensor(name: "images", view: images), OutputTensor(name: "labels", view: labels)],
            to: path + "/train.npz")
        #expect { try TaskFolder(folder: path).images("train") } throws: {
            "\($0)" == "\(path)/train.npz: \"labels\"[1] is \(label), outside the 2 classes of classes.txt"
        }
    }
}
