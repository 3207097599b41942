import Foundation

/// Turns what the user typed into the file to open: a folder stands for the checkpoint
/// inside it (an index if there is one, else its single safetensors file, else PyTorch's
/// pytorch_model.bin or its index).
enum CheckpointLocator {
    static func resolve(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(path, "no such file or folder")
        }
        guard isDirectory.boolValue else { return path }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
        if indexes.count == 1 { return (path as NSString).appendingPathComponent(indexes[0]) }
        let singles = names.filter { $0.hasSuffix(".safetensors") }
        if indexes.isEmpty, singles.count == 1 { return (path as NSString).appendingPathComponent(singles[0]) }
        // Hugging Face folders saved with PyTorch's format instead.
        if indexes.isEmpty, singles.isEmpty {
            if names.contains("pytorch_model.bin.index.json") { return (path as NSString).appendingPathComponent("pytorch_model.bin.index.json") }
            if names.contains("pytorch_model.bin") { return (path as NSString).appendingPathComponent("pytorch_model.bin") }
        }
        if indexes.count > 1 || singles.count > 1 {
            throw CheckpointError(path, "folder holds several checkpoints (\((indexes.isEmpty ? singles : indexes).joined(separator: ", "))); name one")
        }
        throw CheckpointError(path, "folder holds no .safetensors file, .safetensors.index.json or pytorch_model.bin")
    }
}
