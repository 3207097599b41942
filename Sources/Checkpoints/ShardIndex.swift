import Foundation
import Tensors

/// Sharded checkpoints: a `*.safetensors.index.json` (or PyTorch's `pytorch_model.bin.index.json`)
/// whose `weight_map` names, for every tensor, the shard file (relative to the index) that
/// holds it. Read as one model.
enum ShardIndex {
    static func open(_ indexPath: String) throws -> Checkpoint {
        let mapping = try MappedFile(path: indexPath)
        let json: JSONValue
        do {
            json = try JSONValue.parse(fileBytes: mapping.bytes)
        } catch let error as JSONError {
            throw CheckpointError(indexPath, "index is not valid JSON: \(error.description)")
        }
        guard let weightMap = json["weight_map"]?.objectMembers else {
            throw CheckpointError(indexPath, "index has no \"weight_map\" object (is this a safetensors index?)")
        }
        let indexMetadata: [(String, String)] = (json["metadata"]?.objectMembers ?? []).map { key, value in
            (key, value.stringValue ?? value.serialized)
        }

        // Shards in order of first appearance in the sorted weight map (the file names'
        // order for Hugging Face's model-0000K-of-0000N naming).
        var shardNames: [String] = []
        var expected = NameMap<String>()
        for (tensor, value) in weightMap {
            guard let shard = value.stringValue, !shard.isEmpty else {
                throw CheckpointError(indexPath, "weight_map entry \"\(tensor)\" must name a shard file")
            }
            guard !shard.hasPrefix("/"), !shard.split(separator: "/").contains("..") else {
                throw CheckpointError(
                    indexPath, "weight_map entry \"\(tensor)\" points outside the index's folder (\(shard))")
            }
            expected[tensor] = shard
            if !shardNames.contains(shard) { shardNames.append(shard) }
        }
        shardNames.sort()
        let folder = (indexPath as NSString).deletingLastPathComponent
        let checkpoint = try openShards(
            shardNames, in: folder, path: indexPath, expected: expected, indexMetadata: indexMetadata)
        let found = NameSet(checkpoint.tensors.map(\.name))
        if let missing = weightMap.first(where: { !found.contains($0.0) }) {
            throw CheckpointError(
                indexPath,
                """
                tensor \"\(missing.0)\" is listed in the weight_map but absent from shard \
                \"\(missing.1.stringValue ?? "")\"
                """
            )
        }
        return checkpoint
    }

    /// The shards `NAME-0000K-of-0000N.safetensors` of a folder without an index, as one
    /// model (the folder is its path; `CheckpointLocator` found the complete set).
    static func openFolder(_ folder: String) throws -> Checkpoint {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
            $0.hasSuffix(".safetensors")
        }
        guard let shards = ShardNames.completeSet(names) else {
            throw CheckpointError(folder, "holds no complete set of shards")
        }
        return try openShards(shards, in: folder, path: folder, expected: nil, indexMetadata: [])
    }

    /// Opens `shardNames` (in order) from `folder` as one model; with `expected` (an index's
    /// weight map), every tensor must be listed there under its own shard.
    private static func openShards(
        _ shardNames: [String], in folder: String, path indexPath: String, expected: NameMap<String>?,
        indexMetadata: [(String, String)]
    ) throws -> Checkpoint {
        var files: [Checkpoint.File] = []
        var tensors: [TensorEntry] = []
        var metadata: [(String, String)] = []
        var decoded = NameMap<TensorView>()  // by name bytes
        var tied: [[String]] = []
        var isPyTorch = false
        for (index, shard) in shardNames.enumerated() {
            let shardPath = folder.isEmpty ? shard : (folder as NSString).appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardPath) else {
                throw CheckpointError(indexPath, "shard \"\(shard)\" named in the weight_map is missing")
            }
            var shardTensors: [TensorEntry]
            let file: Checkpoint.File
            if try CheckpointFormat.detect(path: shardPath) == .zipArchive {
                // A pytorch_model-0000K-of-0000N.bin shard.
                let shardCheckpoint = try Checkpoint.open(shardPath)
                guard shardCheckpoint.format == .pytorch, let only = shardCheckpoint.files.first else {
                    throw CheckpointError(
                        shardPath, "shard is a \(shardCheckpoint.format.displayName), not a PyTorch checkpoint")
                }
                isPyTorch = true
                file = only
                shardTensors = shardCheckpoint.tensors.map {
                    TensorEntry(
                        name: $0.name, dtype: $0.dtype, shape: $0.shape, fileIndex: index, offset: $0.offset,
                        byteCount: $0.byteCount)
                }
                for (name, view) in shardCheckpoint.decodedViews { decoded.insertNew(name, view) }
                if case .pytorch(_, let groups)? = shardCheckpoint.extras { tied += groups }
            } else {
                let (safetensorsFile, header) = try SafetensorsReader.openFile(shardPath, fileIndex: index)
                if index == 0 { metadata = header.metadata }
                file = safetensorsFile
                shardTensors = header.tensors
            }
            for tensor in shardTensors {
                guard let expected else { break }
                guard let listed = expected[tensor.name] else {
                    throw CheckpointError(
                        shardPath, "tensor \"\(tensor.name)\" is not listed in the index \(indexPath)")
                }
                guard listed.hasSameBytes(as: shard) else {
                    throw CheckpointError(
                        shardPath, "tensor \"\(tensor.name)\" is listed in the index under shard \"\(listed)\"")
                }
            }
            files.append(file)
            tensors += shardTensors
        }
        return try Checkpoint(
            path: indexPath, format: isPyTorch ? .pytorchIndex : .safetensorsIndex, metadata: metadata,
            tensors: tensors, files: files, indexMetadata: indexMetadata, decoded: decoded,
            extras: isPyTorch ? .pytorch(archiveName: "archive", tied: tied) : nil)
    }

    /// The index document for shards written by `SafetensorsWriter`: `total_size` is the
    /// sum of the tensors' byte lengths, as Hugging Face writes it; keys are sorted.
    /// `metadata`: the source index's other metadata keys, kept (in their order).
    static func document(totalSize: Int, shardOfTensor: [(String, String)], metadata: [(String, JSONValue)] = [])
        -> JSONValue
    {
        let sorted = shardOfTensor.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        return .object([
            ("metadata", .object(metadata.filter { $0.0 != "total_size" } + [("total_size", .integer(totalSize))])),
            ("weight_map", .object(sorted.map { ($0.0, .string($0.1)) })),
        ])
    }
}
