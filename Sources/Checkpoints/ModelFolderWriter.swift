import Foundation
import Tensors

/// Writes a model as a folder laid out like the model folder it came from, so that the
/// framework that made the base loads the result the same way (`from_pretrained(DIR)`,
/// `scalpel eval DIR`): the weights in the base's files (one file under its name, or the
/// same shards holding the same tensors, with the same index), and every other file of the
/// base's folder (configuration, tokenizer, subfolders such as `1_Pooling/`) copied.
///
/// The folder is built as a hidden `.DIR.scalpel-PID-RANDOM.tmp` beside it and renamed into
/// place when complete (a new folder, or over an empty one), so it appears whole or not at
/// all; a folder left by a killed process is removed by the next write there
/// (`StaleTemporaryFiles`).
public enum ModelFolderWriter {
    /// Whether `path` asks for a folder: it ends with "/", or it names an existing folder.
    public static func isFolder(_ path: String) -> Bool {
        if path.hasSuffix("/") { return true }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Throws unless `folder` can receive a model: it does not exist yet (and its parent
    /// does), or it is an empty folder.
    public static func checkDestination(_ folder: String) throws {
        let path = normalized(folder)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CheckpointError(
                    path, "is a file, not a folder (drop the trailing / to write a file)", kind: .cannotWrite)
            }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard contents.isEmpty else {
                throw CheckpointError(
                    path,
                    """
                    is a folder holding \(contents.count) file\(contents.count == 1 ? "" : "s"); name a new or \
                    empty folder (Scalpel never writes into a folder of other files)
                    """,
                    kind: .outputExists)
            }
        } else {
            let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw CheckpointError(path, "cannot write: folder \(parent) does not exist", kind: .cannotWrite)
            }
        }
    }

    /// What was written.
    public struct Summary: Sendable {
        /// The weight files, then the copied files (paths in the final folder).
        public let files: [String]
        /// Files of the base's folder left out: other weights that the result does not
        /// update (a `pytorch_model.bin` beside `model.safetensors`), which would be stale.
        public let skipped: [String]
    }

    /// Writes `tensors` into the new folder `folder` in `base`'s layout (or, with
    /// `shardSize`, as size-bounded safetensors shards `model-0000K-of-0000N.safetensors` with
    /// `model.safetensors.index.json`), then copies the base folder's other files. Throws
    /// `CheckpointError` before anything is written when the destination is not a new or
    /// empty folder, the base's layout cannot be written, or the disk lacks the space.
    public static func write(
        _ tensors: [OutputTensor], metadata: [(String, String)], base: Checkpoint, to folder: String,
        shardSize: Int? = nil, headerRoom: Int = 0
    ) throws -> Summary {
        let destination = normalized(folder)
        try checkDestination(destination)
        let layout = try Layout(base)
        let (companions, skipped) = Self.companions(of: base, layout: layout)
        let companionBytes = companions.reduce(0) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: layout.folder + "/" + $1)[.size] as? Int) ?? 0)
        }
        let parent = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        try DiskSpace.require(tensors.reduce(0) { $0 + $1.byteCount } + companionBytes, in: parent, for: destination)

        let temporary = AtomicFile.hiddenName(for: destination)
        guard mkdir(temporary, 0o755) == 0 else {
            throw CheckpointError(
                destination, "cannot create a temporary folder in \(parent): \(String(cString: strerror(errno)))",
                kind: .cannotWrite)
        }
        // Everything made inside is registered too, so that Ctrl-C or `kill` removes the
        // files and then the folders (TemporaryFiles' handler).
        var made = [temporary]
        TemporaryFiles.register(temporary)
        defer { made.forEach(TemporaryFiles.unregister) }
        do {
            var written = try writeWeights(
                tensors, metadata: metadata, base: base, layout: layout, shardSize: shardSize,
                into: temporary, headerRoom: headerRoom)
            written.forEach(TemporaryFiles.register)
            made += written
            for name in companions {
                let parent = URL(fileURLWithPath: temporary + "/" + name).deletingLastPathComponent().path
                if !FileManager.default.fileExists(atPath: parent) {
                    try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
                    TemporaryFiles.register(parent)
                    made.append(parent)
                }
                let path = try copy(layout.folder + "/" + name, to: temporary, as: name)
                TemporaryFiles.register(path)
                made.append(path)
                written.append(path)
            }
            // rename(2) replaces an empty folder and refuses a non-empty one.
            guard rename(temporary, destination) == 0 else {
                throw CheckpointError(
                    destination, "cannot move the finished folder into place: \(String(cString: strerror(errno)))",
                    kind: .cannotWrite)
            }
            AtomicFile.syncFolder(containing: destination)
            let prefix = temporary + "/"
            return Summary(files: written.map { destination + "/" + $0.dropFirst(prefix.count) }, skipped: skipped)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// `folder` without trailing slashes ("/" stays).
    private static func normalized(_ folder: String) -> String {
        var path = folder
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path
    }

    /// Where a model's weights are: its folder, its weight files and its index.
    struct Layout {
        let folder: String
        /// The weight files' names, in the model's file order.
        let files: [String]
        /// The index file's name (sharded models that have one).
        let index: String?

        init(_ base: Checkpoint) throws {
            guard base.format != .pytorchIndex else {
                throw CheckpointError(
                    base.path,
                    """
                    is a sharded PyTorch model; Scalpel writes PyTorch checkpoints as one file: convert it to \
                    safetensors first, or name a .bin file
                    """
                )
            }
            guard let first = base.files.first else { throw CheckpointError(base.path, "has no weight files") }
            folder = URL(fileURLWithPath: first.path).deletingLastPathComponent().path
            files = base.files.map { URL(fileURLWithPath: $0.path).lastPathComponent }
            index = base.path.hasSuffix(".index.json") ? URL(fileURLWithPath: base.path).lastPathComponent : nil
        }
    }

    private static func writeWeights(
        _ tensors: [OutputTensor], metadata: [(String, String)], base: Checkpoint, layout: Layout,
        shardSize: Int?, into folder: String, headerRoom: Int
    ) throws -> [String] {
        if let shardSize {
            return try SafetensorsWriter.writeSharded(
                tensors, metadata: metadata, to: folder + "/model.safetensors", shardSize: shardSize)
        }
        guard base.format == .safetensorsIndex else {
            let path = folder + "/" + layout.files[0]
            try CheckpointWriter.write(
                tensors, metadata: metadata, format: base.format, extras: base.extras, base: base, to: path,
                headerRoom: headerRoom)
            return [path]
        }
        // The same shards: each tensor where the base kept it, new ones in the last shard.
        var shardOf: [[UInt8]: Int] = [:]
        for entry in base.tensors { shardOf[Array(entry.name.utf8)] = entry.fileIndex }
        var groups = [[OutputTensor]](repeating: [], count: layout.files.count)
        for tensor in tensors { groups[shardOf[Array(tensor.name.utf8)] ?? (groups.count - 1)].append(tensor) }
        let shards = zip(layout.files, groups).filter { !$0.1.isEmpty }.map { (file: $0.0, tensors: $0.1) }
        let indexMetadata = base.indexMetadata.map { key, value in
            (key, (try? JSONValue.parse(value)) ?? .string(value))
        }
        return try SafetensorsWriter.writeShards(
            shards, metadata: metadata, index: layout.index, indexMetadata: indexMetadata,
            in: folder, headerRoom: headerRoom)
    }

    /// Files that mark a folder as a model's (Hugging Face, sentence-transformers, diffusers):
    /// only then are its other files copied. Weights lying in an ordinary folder (a home or
    /// download folder) come out alone, never with their neighbours.
    static let modelFolderMarkers = [
        "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "modules.json",
        "model_index.json", "open_clip_config.json", "generation_config.json",
    ]

    /// Extensions of weight files other than the base's own: left out of the copy.
    static let weightExtensions = [
        "safetensors", "bin", "pt", "pth", "ckpt", "h5", "hdf5", "msgpack", "gguf", "npz", "npy", "onnx", "pb",
        "tflite", "ot",
    ]

    /// The base folder's files to copy (relative paths, subfolders walked, hidden names and
    /// Scalpel's own journals left out), and the other weight files skipped.
    static func companions(of base: Checkpoint, layout: Layout) -> (copy: [String], skipped: [String]) {
        let own = Set((layout.files + (layout.index.map { [$0] } ?? [])).map { Array($0.utf8) })
        var copy: [String] = []
        var skipped: [String] = []
        let isModelFolder =
            layout.index != nil || layout.files.count > 1
            || modelFolderMarkers.contains { FileManager.default.fileExists(atPath: layout.folder + "/" + $0) }
        guard isModelFolder else { return ([], []) }
        guard let walker = FileManager.default.enumerator(atPath: layout.folder) else { return ([], []) }
        while let relative = walker.nextObject() as? String {
            let name = URL(fileURLWithPath: relative).lastPathComponent
            if name.hasPrefix(".") || name.hasSuffix(".scalpel-undo") {
                walker.skipDescendants()
                continue
            }
            let path = layout.folder + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                continue
            }
            if own.contains(Array(relative.utf8)) { continue }
            let lower = relative.lowercased()
            if weightExtensions.contains(where: { lower.hasSuffix("." + $0) }) || lower.hasSuffix(".index.json") {
                skipped.append(relative)
            } else {
                copy.append(relative)
            }
        }
        return (
            copy.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) },
            skipped.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        )
    }

    /// Copies `source` to `folder/relative` (subfolders created), synced; returns the path.
    private static func copy(_ source: String, to folder: String, as relative: String) throws -> String {
        let target = folder + "/" + relative
        let mapping: MappedFile
        do {
            mapping = try MappedFile(path: source)
        } catch {
            throw CheckpointError(source, "cannot copy it into the model folder: \(error)")
        }
        let file = try AtomicFile(path: target)
        do {
            try file.copy(from: mapping.fileDescriptor, offset: 0, count: mapping.size, fallback: mapping.bytes)
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
        return target
    }
}
