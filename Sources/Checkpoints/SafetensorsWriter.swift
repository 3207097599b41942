import Dispatch
import Foundation
import Tensors

/// One tensor to be written: its name, dtype and shape are known up front (they make the
/// header); its bytes are produced when the writer gets near it, so a whole model never has
/// to sit in memory at once. `produce` may run on another thread, one tensor ahead of the
/// one being written.
public struct OutputTensor: Sendable {
    /// The tensor's name in the output.
    public let name: String
    /// The dtype the produced view must have.
    public let dtype: DType
    /// The shape the produced view must have, row-major.
    public let shape: [Int]
    /// Makes the tensor's bytes when the writer needs them; a writer refuses a view of another dtype or shape.
    public let produce: @Sendable () throws -> TensorView

    /// A tensor named `name` of `dtype` and `shape`, whose bytes `produce` makes.
    public init(name: String, dtype: DType, shape: [Int], produce: @escaping @Sendable () throws -> TensorView) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.produce = produce
    }

    /// A tensor written as `view` holds it.
    public init(name: String, view: TensorView) {
        self.init(name: name, dtype: view.dtype, shape: view.shape) { view }
    }

    var byteCount: Int { Shape.byteCount(shape, dtype) ?? 0 }
}

/// A value computed on a global queue, waited for with `value()`. The work holds its own
/// references, so dropping a future early (the writer failed) is safe.
final class Future<T>: @unchecked Sendable {
    private var result: Result<T, Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () throws -> T) {
        let pending = PendingWork(work)
        DispatchQueue.global().async {
            // The work's captures (the source checkpoint, say) are released before the
            // waiter wakes: once `wait` returns, nothing here still holds the sources open.
            self.result = pending.run()
            self.done.signal()
        }
    }

    /// The work, dropped as soon as it has run.
    private final class PendingWork: @unchecked Sendable {
        private var work: (@Sendable () throws -> T)?
        init(_ work: @escaping @Sendable () throws -> T) { self.work = work }

        func run() -> Result<T, Error> {
            guard let work else { return .failure(CancellationError()) }
            self.work = nil
            return Result { try work() }
        }
    }

    func value() throws -> T {
        wait()
        return try result!.get()
    }

    /// Blocks until the work has finished, whatever its outcome.
    func wait() {
        done.wait()
        done.signal()  // later calls (and deinit) do not block
    }
}

/// Writes safetensors files the way the reference implementation lays them out: the header
/// padded with spaces so the data section starts on an 8-byte boundary, and tensors ordered
/// by element size (largest first) so each starts on a multiple of its own element size
/// while the ranges stay contiguous. Within one element size the given order is kept.
public enum SafetensorsWriter {
    /// Writes one file at `path`, atomically.
    /// `headerRoom` extra bytes of spaces are left at the end of the header (still a multiple
    /// of 8), so that metadata can later be updated in place (`apply --in-place`).
    /// - Throws: `CheckpointError`: two tensors of one name, a tensor named `__metadata__`, a shape too large, a
    ///   produced tensor that does not match its declaration, or `AtomicFile`'s failures (`.cannotWrite`,
    ///   `.outputExists`, `.outputIsInput`); and whatever `produce` throws. Nothing is left at `path` then.
    public static func write(
        _ tensors: [OutputTensor], metadata: [(String, String)], to path: String,
        headerRoom: Int = 0
    ) throws {
        let ordered = try layoutOrder(tensors, path: path)
        let file = try AtomicFile(path: path)
        do {
            try writeBody(ordered, metadata: metadata, into: file, headerRoom: headerRoom)
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }

    /// Writes shards of at most `shardSize` bytes of tensor data next to `path`, named as
    /// Hugging Face names them (`model-00001-of-00003.safetensors` for `model.safetensors`),
    /// and the index `model.safetensors.index.json`. A tensor larger than `shardSize` gets a
    /// shard of its own. Every file is written to a temporary name first; the shards are
    /// renamed into place only when all are complete, the index last. Returns the paths.
    /// - Throws: `CheckpointError` for a `shardSize` that is not positive, and as `writeShards` does.
    @discardableResult
    public static func writeSharded(
        _ tensors: [OutputTensor], metadata: [(String, String)], to path: String,
        shardSize: Int
    ) throws -> [String] {
        guard shardSize > 0 else { throw CheckpointError(path, "shard size must be positive", kind: .invalidSetting) }
        let ordered = try layoutOrder(tensors, path: path)
        var groups: [[OutputTensor]] = [[]]
        var filled = 0
        for tensor in ordered {
            if filled > 0, filled + tensor.byteCount > shardSize {
                groups.append([])
                filled = 0
            }
            groups[groups.count - 1].append(tensor)
            filled += tensor.byteCount
        }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var stem = url.lastPathComponent
        if stem.hasSuffix(".safetensors") { stem.removeLast(".safetensors".count) }
        let digits = max(5, String(groups.count).count)
        func pad(_ n: Int) -> String { String(repeating: "0", count: max(0, digits - String(n).count)) + String(n) }
        let shards = groups.enumerated().map { i, group in
            ("\(stem)-\(pad(i + 1))-of-\(pad(groups.count)).safetensors", group)
        }
        return try writeShards(shards, metadata: metadata, index: stem + ".safetensors.index.json", in: folder)
    }

    /// Writes `shards` (file name and tensors, in order) into `folder`, each shard carrying
    /// `metadata`, and with `index` the index naming each tensor's shard (`indexMetadata`
    /// kept, `total_size` set). Nothing appears until every file is complete; returns the
    /// paths written, shards then index.
    /// - Throws: `CheckpointError` as `write` does, and (`.cannotWrite`) when the folder lacks the space; files not
    ///   yet moved into place are discarded.
    public static func writeShards(
        _ shards: [(file: String, tensors: [OutputTensor])], metadata: [(String, String)],
        index: String?, indexMetadata: [(String, JSONValue)] = [], in folder: String,
        headerRoom: Int = 0
    ) throws -> [String] {
        _ = try layoutOrder(shards.flatMap(\.tensors), path: folder + "/" + (index ?? shards.first?.file ?? ""))
        try DiskSpace.require(
            shards.flatMap(\.tensors).reduce(0) { $0 + $1.byteCount }, in: folder, for: folder + "/" + (index ?? ""))
        var pending: [AtomicFile] = []
        do {
            var weightMap: [(String, String)] = []
            for (shardName, group) in shards {
                let shard = try AtomicFile(path: folder + "/" + shardName)
                pending.append(shard)
                try writeBody(
                    try layoutOrder(group, path: shard.path), metadata: metadata, into: shard, headerRoom: headerRoom)
                weightMap += group.map { ($0.name, shardName) }
            }
            if let index {
                let total = shards.flatMap(\.tensors).reduce(0) { $0 + $1.byteCount }
                let file = try AtomicFile(path: folder + "/" + index)
                pending.append(file)
                try file.write(
                    Array(
                        (ShardIndex.document(totalSize: total, shardOfTensor: weightMap, metadata: indexMetadata)
                            .pretty() + "\n").utf8))
            }
            for file in pending { try file.commit() }
            return pending.map(\.path)
        } catch {
            for file in pending { file.discard() }
            throw error
        }
    }

    /// The order tensors are stored in, after checking names are unique.
    private static func layoutOrder(_ tensors: [OutputTensor], path: String) throws -> [OutputTensor] {
        var seen = NameSet()
        for tensor in tensors where !seen.insert(tensor.name) {
            throw CheckpointError(path, "cannot write two tensors named \"\(tensor.name)\"")
        }
        if tensors.contains(where: { $0.name.hasSameBytes(as: "__metadata__") }) {
            throw CheckpointError(path, "\"__metadata__\" is reserved and cannot name a tensor")
        }
        for tensor in tensors where Shape.byteCount(tensor.shape, tensor.dtype) == nil {
            throw CheckpointError(path, "tensor \"\(tensor.name)\": shape \(Shape.describe(tensor.shape)) is too large")
        }
        // Stable sort: larger element sizes first.
        return tensors.enumerated()
            .sorted { ($0.element.dtype.size, -$0.offset) > ($1.element.dtype.size, -$1.offset) }
            .map(\.element)
    }

    /// The header JSON for `entries` at the given offsets (relative to the data section), in
    /// the given order: what an in-place edit writes back when only metadata changes.
    public static func headerJSON(_ entries: [TensorEntry], dataStart: Int, metadata: [(String, String)]) -> [UInt8] {
        headerJSON(
            entries.map { ($0.name, $0.dtype, $0.shape, $0.offset - dataStart, $0.byteCount) }, metadata: metadata)
    }

    /// Compact header JSON: `__metadata__` first (when present), then each tensor as
    /// dtype, shape and data_offsets, in the order given.
    static func headerJSON(
        _ tensors: [(name: String, dtype: DType, shape: [Int], begin: Int, length: Int)],
        metadata: [(String, String)]
    ) -> [UInt8] {
        var members: [(String, JSONValue)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.map { ($0.0, .string($0.1)) })))
        }
        for tensor in tensors {
            members.append(
                (
                    tensor.name,
                    .object([
                        ("dtype", .string(tensor.dtype.rawValue)),
                        ("shape", .array(tensor.shape.map { .integer($0) })),
                        ("data_offsets", .array([.integer(tensor.begin), .integer(tensor.begin + tensor.length)])),
                    ])
                ))
        }
        return Array(JSONValue.object(members).serialized.utf8)
    }

    /// The header bytes (length prefix included) for tensors in `ordered` order, stored back
    /// to back from offset 0.
    static func header(_ ordered: [OutputTensor], metadata: [(String, String)], headerRoom: Int = 0) -> [UInt8] {
        var offset = 0
        let layout = ordered.map { tensor -> (name: String, dtype: DType, shape: [Int], begin: Int, length: Int) in
            defer { offset += tensor.byteCount }
            return (tensor.name, tensor.dtype, tensor.shape, offset, tensor.byteCount)
        }
        var json = headerJSON(layout, metadata: metadata)
        json += [UInt8](repeating: 0x20, count: headerRoom + (8 - (json.count + headerRoom) % 8) % 8)
        var length = UInt64(json.count).littleEndian
        return withUnsafeBytes(of: &length) { Array($0) } + json
    }

    private static func writeBody(
        _ ordered: [OutputTensor], metadata: [(String, String)], into file: AtomicFile,
        headerRoom: Int = 0
    ) throws {
        try file.write(header(ordered, metadata: metadata, headerRoom: headerRoom))
        // Produce tensor i + 1 on another core while tensor i is written: computed tensors
        // (converted, patched) then cost little more than copied ones. At most two are in
        // memory at once.
        var next: Future<TensorView>? = ordered.first.map { tensor in Future { try tensor.produce() } }
        // When a tensor fails, the one being produced ahead is still running: wait for it, so
        // that no work on the sources goes on after the write has given up (the caller may
        // exit, and HDF5 sources in particular must not be read while the library shuts down).
        defer { next?.wait() }
        for (i, tensor) in ordered.enumerated() {
            let current = next
            next = i + 1 < ordered.count ? Future { [ordered] in try ordered[i + 1].produce() } : nil
            guard let view = try current?.value() else { break }
            guard view.dtype == tensor.dtype, view.shape == tensor.shape, view.byteCount == tensor.byteCount else {
                throw CheckpointError(
                    file.path,
                    """
                    tensor \"\(tensor.name)\": produced \(view.dtype.rawValue) \(Shape.describe(view.shape)), \
                    expected \(tensor.dtype.rawValue) \(Shape.describe(tensor.shape))
                    """
                )
            }
            if let range = view.fileRange {
                try file.copy(
                    from: range.fileDescriptor, offset: range.offset, count: view.byteCount, fallback: view.bytes)
            } else {
                try file.write(view.bytes)
            }
            WorkProgress.add(view.byteCount)
        }
    }
}
