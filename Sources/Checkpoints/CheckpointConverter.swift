import Foundation
import Tensors

/// Rewrites a checkpoint as safetensors (or, by the output's extension, NumPy .npz / .npy, GGUF, PyTorch
/// .bin / .pt or HDF5 .h5; or a model folder), optionally changing the dtype of its floating
/// tensors. Tensors are produced one at a time, so memory stays near the largest tensor;
/// tensors whose bytes do not change are copied file to file inside the kernel.
public enum CheckpointConverter {
    /// What a conversion changes besides the format.
    public struct Options: Sendable {
        /// Target dtype for floating tensors (F64/F32/F16/BF16); nil keeps every dtype.
        public var dtype: DType?
        /// Write shards of at most this many bytes plus an index; nil writes one file.
        public var shardSize: Int?

        /// Options that convert floating tensors to `dtype` (nil: keep) and shard at `shardSize` bytes (nil: one file).
        public init(dtype: DType? = nil, shardSize: Int? = nil) {
            self.dtype = dtype
            self.shardSize = shardSize
        }
    }

    /// What a conversion wrote.
    public struct Summary: Sendable {
        /// Files written (shards, then the index, when sharded; a folder's copied files last).
        public let outputs: [String]
        /// Files of the source's folder not copied into an output folder (other weights).
        public var skipped: [String] = []
        /// Tensors written.
        public let tensorCount: Int
        /// Tensors whose dtype changed.
        public let convertedCount: Int
    }

    /// Writes `source` to `path` in the format its extension names (safetensors by default), or into a new model
    /// folder in `source`'s layout when `path` ends with "/" or is a folder. Each output goes through `AtomicFile`.
    /// - Throws: `CheckpointError`: a non-floating `dtype`, a `shardSize` for a format other than safetensors or
    ///   an unsupported extension (.ckpt, .keras); a destination that exists or cannot be written, or too little
    ///   disk space.
    public static func convert(_ source: Checkpoint, to path: String, options: Options = Options()) throws -> Summary {
        if let target = options.dtype, !target.isFloatingPoint {
            throw CheckpointError(
                path, "--dtype must be a floating type (f64, f32, f16, bf16), not \(target.rawValue)",
                kind: .invalidSetting)
        }
        let folder = ModelFolderWriter.isFolder(path)
        if !folder { try checkOutputFormat(path) }
        var converted = 0
        let outputs: [OutputTensor] = source.tensors.map { entry in
            var dtype = entry.dtype
            if let target = options.dtype, entry.dtype.isFloatingPoint, entry.dtype != target {
                dtype = target
                converted += 1
            }
            let target = dtype
            return OutputTensor(name: entry.name, dtype: target, shape: entry.shape) {
                let view = source.view(entry)
                guard view.dtype != target else { return view }  // copied file to file by the writer
                let converted = view.converted(to: target)
                source.releasePages(of: entry)
                return converted
            }
        }
        for file in source.files { file.mapping.advise(.sequential) }
        if folder {
            // A model folder in the source's layout and format (or, with --shard-size, safetensors shards).
            let written = try ModelFolderWriter.write(
                outputs, metadata: source.metadata, base: source, to: path, shardSize: options.shardSize)
            var summary = Summary(outputs: written.files, tensorCount: outputs.count, convertedCount: converted)
            summary.skipped = written.skipped
            return summary
        }
        let written: [String]
        let format = CheckpointWriter.format(forOutput: path) ?? .safetensors
        if format != .safetensors {
            if options.shardSize != nil {
                throw CheckpointError(path, "--shard-size applies to safetensors output", kind: .invalidSetting)
            }
            try CheckpointWriter.write(
                outputs, metadata: source.metadata, format: format,
                extras: source.format == format ? source.extras : nil, base: source, to: path)
            written = [path]
        } else if let shardSize = options.shardSize {
            written = try SafetensorsWriter.writeSharded(
                outputs, metadata: source.metadata, to: path, shardSize: shardSize)
        } else {
            try SafetensorsWriter.write(outputs, metadata: source.metadata, to: path)
            written = [path]
        }
        return Summary(outputs: written, tensorCount: outputs.count, convertedCount: converted)
    }

    /// Refuses output names that promise another format, rather than writing safetensors
    /// bytes under a misleading extension.
    private static func checkOutputFormat(_ path: String) throws {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        let others = ["ckpt", "keras"]
        if others.contains(ext) {
            throw CheckpointError(
                path,
                """
                writing .\(ext) files is not supported by this version; name the output .safetensors, .bin/.pt, \
                .npz, .gguf or .h5
                """,
                kind: .unsupported
            )
        }
    }
}
