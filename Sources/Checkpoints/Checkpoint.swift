import Foundation
import Tensors

/// A model checkpoint opened for reading: one file, or the shards of a sharded checkpoint
/// seen as one model. Opening reads headers only; tensor data is mapped, and pages are read
/// when a tensor's bytes are first touched.
public final class Checkpoint: @unchecked Sendable {
    /// One file of the checkpoint.
    public struct File: Sendable {
        /// The file's path (a shard's, for a sharded checkpoint).
        public let path: String
        /// The file's size in bytes.
        public let size: Int
        /// The length of the file's header in bytes, as its reader counts it: safetensors' JSON (after its 8-byte
        /// length), everything before the data in GGUF and `.npy`, the pickle in PyTorch; 0 for HDF5.
        public let headerLength: Int
        /// The number of tensors stored in this file.
        public let tensorCount: Int
        let mapping: MappedFile
    }

    /// What the user named: a file, an index, or a folder.
    public let path: String
    /// The format the checkpoint was read as (a sharded format for an index or a folder of shards).
    public let format: CheckpointFormat
    /// String metadata (safetensors `__metadata__`; for sharded models, that of the first shard).
    public let metadata: [(String, String)]
    /// Tensors in storage order (shard by shard, by offset).
    public let tensors: [TensorEntry]
    /// The files read, in shard order (one for an unsharded checkpoint).
    public let files: [File]
    /// For sharded checkpoints: the index file's own `metadata` object, flattened to strings.
    public let indexMetadata: [(String, String)]
    /// Tensors held in a form Scalpel does not compute with (quantized GGUF tensors); only a
    /// checkpoint opened with `allowingOpaqueTensors` has any.
    public let opaqueTensors: [OpaqueTensor]
    /// What the format keeps beside the tensors, for rewriting the checkpoint in its format.
    public let extras: FormatExtras?

    /// Tensor index by name, names compared by their bytes (two Unicode-equivalent names are two tensors).
    private let positions: NameMap<Int>
    /// Tensors whose bytes are not stored as-is in a file (deflated, Fortran order,
    /// big-endian): decoded when the checkpoint was opened.
    private let decoded: NameMap<TensorView>

    /// True when opening found the journal of an interrupted in-place edit and restored the
    /// file's original bytes from it (commands say so on stderr).
    public internal(set) var recoveredInterruptedEdit = false

    init(
        path: String, format: CheckpointFormat, metadata: [(String, String)], tensors: [TensorEntry],
        files: [File], indexMetadata: [(String, String)] = [], decoded: NameMap<TensorView> = NameMap(),
        opaqueTensors: [OpaqueTensor] = [], extras: FormatExtras? = nil
    ) throws {
        self.path = path
        self.opaqueTensors = opaqueTensors
        self.extras = extras
        self.decoded = decoded
        self.format = format
        self.metadata = metadata
        self.tensors = tensors
        self.files = files
        self.indexMetadata = indexMetadata
        var positions = NameMap<Int>()
        for (i, tensor) in tensors.enumerated() where !positions.insertNew(tensor.name, i) {
            throw CheckpointError(
                path,
                files.count > 1
                    ? "tensor \"\(tensor.name)\" appears in more than one shard"
                    : "tensor \"\(tensor.name)\" appears twice")
        }
        self.positions = positions
    }

    /// Opens the checkpoint at `path`: a safetensors file, a `*.safetensors.index.json`, or a
    /// folder holding either (as Hugging Face model folders do), a NumPy `.npy` / `.npz`, or a
    /// GGUF file. A checkpoint with tensors Scalpel cannot compute on (quantized GGUF) is
    /// refused, naming them, unless `allowingOpaqueTensors` (for listing them).
    /// - Throws: `CheckpointError`: `.notFound` or `.unreadable` for a path that cannot be read, `.malformed`
    ///   for bytes that are not their format, `.unsupported` for quantized tensors, a legacy PyTorch pickle or
    ///   a construct Scalpel does not read, `.refusedConstruct` for an unsafe pickle, `.corrupt` for a damaged
    ///   in-place journal.
    public static func open(_ path: String, allowingOpaqueTensors: Bool = false) throws -> Checkpoint {
        let checkpoint = try openAnyFormat(path)
        if !allowingOpaqueTensors, let first = checkpoint.opaqueTensors.first {
            let count = checkpoint.opaqueTensors.count
            throw CheckpointError(
                checkpoint.path,
                """
                holds \(count) quantized tensor\(count == 1 ? "" : "s") (\"\(first.name)\" is \(first.typeName)): \
                Scalpel computes on F64, F32, F16 and BF16 tensors and does not dequantize; use the unquantized \
                (F32/F16/BF16) GGUF of the model (scalpel inspect lists the tensors)
                """,
                kind: .unsupported)
        }
        return checkpoint
    }

    private static func openAnyFormat(_ path: String) throws -> Checkpoint {
        let resolved = try CheckpointLocator.resolve(path)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: resolved, isDirectory: &isFolder), isFolder.boolValue {
            return try ShardIndex.openFolder(resolved)
        }
        // An in-place edit that was interrupted left a journal: put the original bytes back
        // before anything reads the file.
        let recovered = try InPlaceJournal.recoverIfNeeded(resolved)
        let format = try CheckpointFormat.detect(path: resolved)
        switch format {
        case .safetensors:
            let checkpoint = try SafetensorsReader.open(resolved)
            checkpoint.recoveredInterruptedEdit = recovered
            return checkpoint
        case .safetensorsIndex, .pytorchIndex:
            return try ShardIndex.open(resolved)
        case .numpy:
            return try NumpyReader.openNpy(resolved)
        case .zipArchive, .npz, .pytorch:
            let mapping = try MappedFile(path: resolved)
            let archive = try ZipArchive(mapping.bytes, path: resolved)
            if archive.members.contains(where: PyTorchReader.isPickle) {
                return try PyTorchReader.open(resolved, mapping: mapping, archive: archive)
            }
            return try NumpyReader.openNpz(resolved, mapping: mapping, archive: archive)
        case .gguf:
            return try GGUFReader.open(resolved)
        case .hdf5:
            return try HDF5Reader.open(resolved)
        case .pytorchLegacy:
            throw CheckpointError(
                resolved,
                """
                this is a legacy (pre-1.6) PyTorch pickle, which can only be read by running it; convert it once \
                where you trust it: torch.save(torch.load(f), f2) writes the zip format (or save it with \
                safetensors)
                """,
                kind: .unsupported)
        }
    }

    /// Tells the kernel the files will be read front to back (read-ahead), for commands that
    /// read every tensor.
    public func expectSequentialReads() {
        for file in files { file.mapping.advise(.sequential) }
    }

    /// The tensors decoded into memory when opened, by name (for combining shards).
    var decodedViews: NameMap<TensorView> { decoded }

    /// The number of elements over all tensors.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
    /// The size of all tensors' data, in bytes.
    public var tensorByteCount: Int { tensors.reduce(0) { $0 + $1.byteCount } }
    /// The size of all the checkpoint's files, in bytes (headers included).
    public var fileByteCount: Int { files.reduce(0) { $0 + $1.size } }

    /// The tensor named `name` (compared by bytes), or nil.
    public func entry(named name: String) -> TensorEntry? {
        positions[name].map { tensors[$0] }
    }

    /// The bytes of `entry`, viewed in place (no copy).
    public func view(_ entry: TensorEntry) -> TensorView {
        if !decoded.isEmpty, let view = decoded[entry.name] { return view }
        return TensorView(
            dtype: entry.dtype, shape: entry.shape, file: files[entry.fileIndex].mapping,
            offset: entry.offset, length: entry.byteCount)
    }

    /// Lets the kernel drop the mapped pages of `entry` from this process once it has been
    /// read (see `MappedFile.releasePages`); later views read them again from the page cache.
    public func releasePages(of entry: TensorEntry) {
        if decoded[entry.name] != nil { return }
        files[entry.fileIndex].mapping.releasePages(offset: entry.offset, length: entry.byteCount)
    }

    /// The bytes of the tensor named `name`, viewed in place (no copy) as `view(_:)` does.
    /// - Throws: `CheckpointError` (`.malformed`) when the checkpoint has no tensor of that name.
    public func view(named name: String) throws -> TensorView {
        guard let entry = entry(named: name) else {
            throw CheckpointError(path, "no tensor named \"\(name)\"")
        }
        return view(entry)
    }
}
