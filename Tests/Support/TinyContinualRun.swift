import Foundation

/// The inputs of a small continual run, as files: the tiny BERT (Tests/Fixtures/text) in a
/// model folder with a made-up vocabulary (w4 … w99), two text tasks and a control, each two
/// classes told apart by their words. Shared by the runner's tests and the command's.
public enum TinyContinualRun {
    public static func setUp(_ label: String) throws -> (model: String, tasks: [String], control: String, root: String)
    {
        let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/text"
        let root =
            NSTemporaryDirectory() + "scalpel-continual-\(label.filter(\.isLetter))-\(UUID().uuidString.prefix(6))"
        let model = root + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: fixtures + "/tiny_bert.safetensors", toPath: model + "/model.safetensors")
        try FileManager.default.copyItem(atPath: fixtures + "/tiny_bert_config.json", toPath: model + "/config.json")
        try (["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (4..<100).map { "w\($0)" }).joined(separator: "\n").write(
            toFile: model + "/vocab.txt", atomically: true, encoding: .utf8)
        func task(_ name: String, _ a: Int, _ b: Int) throws -> String {
            let folder = root + "/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try "x\tw\(a + 30) w\(a + 31)\ny\tw\(b + 30) w\(b + 31)\n".write(
                toFile: folder + "/classes.txt", atomically: true, encoding: .utf8)
            var lines: [String] = []
            for i in 0..<8 {
                lines.append("{\"text\": \"w\(a + i) w\(a + i + 1)\", \"label\": \"x\"}")
                lines.append("{\"text\": \"w\(b + i) w\(b + i + 1)\", \"label\": \"y\"}")
            }
            for split in ["train", "test"] {
                try lines.joined(separator: "\n").write(
                    toFile: folder + "/\(split).jsonl", atomically: true, encoding: .utf8)
            }
            return folder
        }
        return (model, [try task("t1", 4, 14), try task("t2", 24, 44)], try task("control", 54, 64), root)
    }
}
