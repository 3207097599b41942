import Tensors

/// Opens PyTorch zip checkpoints (`torch.save` since 1.6: `.bin`, `.pt`, `.pth`): the pickled
/// state dict is read by `RestrictedUnpickler` (nothing from the file is run), each tensor
/// found in its storage member `data/<key>`. A state dict may be the saved object itself or
/// sit under `state_dict` or `model`; nested dicts are flattened with dots. Contiguous tensors
/// are viewed in place (PyTorch aligns storages to 64 bytes); strided views are gathered into
/// memory, at most as many bytes as the file holds. Tensors that share one storage region
/// (tied weights) are remembered, so a rewrite keeps them shared. Names (member names, keys)
/// are compared as UTF-8 bytes.
enum PyTorchReader {
    typealias Record = RestrictedUnpickler.TensorRecord

    /// True for the member that holds the pickled object: `data.pkl` at the top or in a folder.
    static func isPickle(_ member: ZipArchive.Member) -> Bool {
        let name = member.nameBytes
        let suffix = Array("data.pkl".utf8)
        return name == suffix || name.suffix(suffix.count + 1).elementsEqual([UInt8(ascii: "/")] + suffix)
    }

    /// Reads the checkpoint in `archive` (the zip members of `mapping`).
    /// - Throws: `CheckpointError` naming the file and the problem: a damaged or unsafe
    ///   pickle, a construct Scalpel does not support, a tensor outside its storage.
    static func open(_ path: String, mapping: MappedFile, archive: ZipArchive) throws -> Checkpoint {
        guard let pickle = archive.members.first(where: isPickle) else {
            throw CheckpointError(path, "zip archive without data.pkl: not a PyTorch checkpoint")
        }
        let prefix = Array(pickle.nameBytes.dropLast("data.pkl".utf8.count))
        let members = Dictionary(archive.members.map { ($0.nameBytes, $0) }, uniquingKeysWith: { a, _ in a })
        if let order = members[prefix + Array("byteorder".utf8)] {
            let text =
                order.method == 0
                ? Array(mapping.bytes[order.dataOffset..<(order.dataOffset + min(order.compressedSize, 8))]) : []
            guard order.compressedSize == 6, text.elementsEqual("little".utf8) else {
                let big = order.compressedSize == 3 && text.elementsEqual("big".utf8)
                throw CheckpointError(
                    path,
                    big
                        ? """
                        the checkpoint was saved big-endian (byteorder \"big\"); load and save it on a \
                        little-endian machine
                        """
                        : "its byteorder member is neither \"little\" nor \"big\": the file is damaged")
            }
        }
        guard pickle.method == 0 else {
            throw CheckpointError(path, "data.pkl is compressed, which torch.save never does")
        }
        var unpickler = RestrictedUnpickler(
            UnsafeRawBufferPointer(
                rebasing: mapping.bytes[pickle.dataOffset..<(pickle.dataOffset + pickle.compressedSize)]), path: path)
        let root = try unpickler.run()
        var found: [(String, Record)] = []
        var skipped: [String] = []
        try collect(stateDict(root, path: path), prefix: "", into: &found, skipped: &skipped, path: path)

        var tensors: [TensorEntry] = []
        var decoded = NameMap<TensorView>()  // by name bytes
        var groups: [TieKey: [String]] = [:]
        var order: [TieKey] = []
        // Gathered views are copies: all of them together may hold no more bytes than the
        // file, so a small file cannot make Scalpel allocate without bound.
        var gatherBudget = mapping.bytes.count
        for (name, record) in found {
            let key = Array(record.storage.key.utf8)
            guard let member = members[prefix + Array("data/".utf8) + key] else {
                throw CheckpointError(
                    path,
                    """
                    tensor \"\(name.escapedForMessage)\": its storage \
                    data/\(record.storage.key.escapedForMessage) is missing from the archive
                    """
                )
            }
            guard member.method == 0 else {
                throw CheckpointError(
                    path,
                    "storage data/\(record.storage.key.escapedForMessage) is compressed, which torch.save never does")
            }
            let placed = try place(record, name: name, member: member, path: path)
            let tie = TieKey(
                storage: key, dtype: record.dtype, offset: record.offset, shape: record.shape, stride: record.stride)
            if groups[tie] == nil { order.append(tie) }
            groups[tie, default: []].append(name)
            if let offset = placed.fileOffset {
                tensors.append(
                    TensorEntry(
                        name: name, dtype: record.dtype, shape: record.shape, fileIndex: 0, offset: offset,
                        byteCount: placed.byteCount))
            } else {
                guard placed.byteCount <= gatherBudget else {
                    throw CheckpointError(
                        path,
                        """
                        tensor \"\(name.escapedForMessage)\": its strided views would be copied into more memory \
                        than the file's \(mapping.bytes.count) bytes (views repeating one storage); Scalpel does \
                        not support this: save the tensors with .contiguous()
                        """
                    )
                }
                gatherBudget -= placed.byteCount
                let source = UnsafeRawBufferPointer(
                    rebasing: mapping.bytes[member.dataOffset..<(member.dataOffset + member.compressedSize)])
                guard
                    let view = StridedGather.gather(
                        source, dtype: record.dtype, shape: record.shape, strides: record.stride, offset: record.offset)
                else {
                    throw CheckpointError(
                        path,
                        "tensor \"\(name.escapedForMessage)\": its view does not fit its storage: the file is damaged")
                }
                decoded[name] = view
                tensors.append(
                    TensorEntry(
                        name: name, dtype: record.dtype, shape: record.shape, fileIndex: 0, offset: 0,
                        byteCount: placed.byteCount))
            }
        }
        var metadata: [(String, String)] = []
        if !skipped.isEmpty { metadata.append(("pytorch.not_tensors", skipped.joined(separator: ", "))) }
        let tied = order.compactMap { groups[$0] }.filter { $0.count > 1 }
        let file = Checkpoint.File(
            path: path, size: mapping.bytes.count, headerLength: pickle.compressedSize, tensorCount: tensors.count,
            mapping: mapping)
        return try Checkpoint(
            path: path, format: .pytorch, metadata: metadata, tensors: tensors, files: [file], decoded: decoded,
            extras: .pytorch(archiveName: String(decoding: prefix.dropLast(), as: UTF8.self), tied: tied))
    }

    /// Tensors with the same storage, dtype, offset, shape and strides are one tensor under
    /// several names (tied weights).
    struct TieKey: Hashable {
        let storage: [UInt8]
        let dtype: DType
        let offset: Int
        let shape: [Int]
        let stride: [Int]
    }

    /// Where a tensor's bytes are: in place in the file (contiguous) or to be gathered (nil).
    struct Placement {
        let fileOffset: Int?
        let byteCount: Int
    }

    /// Checks, with overflow-checked arithmetic, that `record`'s view lies inside its storage
    /// and its storage inside `member`, and says where its bytes are.
    static func place(_ record: Record, name: String, member: ZipArchive.Member, path: String) throws -> Placement {
        let storage = record.storage
        let size = record.dtype.size
        let (storageBytes, overflow) = storage.count.multipliedReportingOverflow(by: storage.unit)
        guard !overflow, storageBytes <= member.compressedSize else {
            throw CheckpointError(
                path,
                """
                storage data/\(storage.key.escapedForMessage) holds \(member.compressedSize) bytes, fewer than \
                the \(storage.count) \(storage.unit == 1 ? "bytes" : "elements") the pickle declares
                """
            )
        }
        guard let count = Shape.elementCount(record.shape), let byteCount = Shape.byteCount(record.shape, record.dtype)
        else {
            throw CheckpointError(
                path,
                """
                tensor \"\(name.escapedForMessage)\": shape \(Shape.describe(record.shape)) has more elements \
                than fit in 64 bits
                """
            )
        }
        // An empty tensor reads nothing, wherever its offset points.
        guard count > 0 else { return Placement(fileOffset: member.dataOffset, byteCount: 0) }
        let available = storageBytes / size
        guard let last = StridedGather.lastElement(shape: record.shape, strides: record.stride, offset: record.offset),
            last < available
        else {
            throw CheckpointError(
                path,
                """
                tensor \"\(name.escapedForMessage)\" \(Shape.describe(record.shape)) with strides \
                \(Shape.describe(record.stride)) from offset \(record.offset) reaches past the \(available) \
                \(record.dtype.rawValue) elements of its storage data/\(storage.key.escapedForMessage): the file \
                is damaged
                """
            )
        }
        if count == 1 || Shape.contiguousStrides(record.shape) == record.stride {
            // last < available, so offset · size < storageBytes ≤ the member's size: no overflow.
            return Placement(fileOffset: member.dataOffset + record.offset * size, byteCount: byteCount)
        }
        guard count <= available else {
            throw CheckpointError(
                path,
                """
                tensor \"\(name.escapedForMessage)\" \(Shape.describe(record.shape)) repeats elements of its \
                storage of \(available) (an expanded or overlapping view), which is not supported by Scalpel: \
                save it with .contiguous()
                """
            )
        }
        return Placement(fileOffset: nil, byteCount: byteCount)
    }

    /// The dict of tensors in what was saved: itself, or its `state_dict` / `model` entry.
    static func stateDict(_ root: RestrictedUnpickler.Value, path: String) throws -> RestrictedUnpickler.DictBox {
        guard case .dict(let top) = root else {
            throw CheckpointError(
                path, "the saved object is not a dict of tensors (save model.state_dict(), not the model)")
        }
        for wanted in ["state_dict", "model"] {
            for (key, value) in top.items where key.isString(wanted) {
                if case .dict(let inner) = value { return inner }
            }
        }
        return top
    }

    /// Adds the tensors of `dict` (and of dicts inside it, their names joined with dots) to
    /// `found`; other values' names go to `skipped`. Values are acyclic and at most
    /// `RestrictedUnpickler.maximumDepth` deep, so this recursion ends.
    private static func collect(
        _ dict: RestrictedUnpickler.DictBox, prefix: String, into found: inout [(String, Record)],
        skipped: inout [String], path: String, depth: Int = 0
    ) throws {
        guard depth < 16 else { throw CheckpointError(path, "state dict nests more than 16 dicts deep") }
        for (key, value) in dict.items {
            let name: String
            switch key {
            case .string(let s): name = prefix + s
            case .int(let i): name = prefix + String(i)
            default:
                skipped.append(prefix + "?")
                continue
            }
            switch value {
            case .tensor(let record): found.append((name, record))
            case .unsupported(let what):
                throw CheckpointError(
                    path, "tensor \"\(name.escapedForMessage)\" is \(what), which is not supported by Scalpel",
                    kind: .unsupported)
            case .dict(let inner):
                try collect(inner, prefix: name + ".", into: &found, skipped: &skipped, path: path, depth: depth + 1)
            default: skipped.append(name)
            }
        }
        guard depth == 0 else { return }
        var seen = NameSet()  // bytes: Unicode-equivalent keys are two tensors, as in torch
        for (name, _) in found where !seen.insert(name) {
            throw CheckpointError(path, "tensor name \"\(name.escapedForMessage)\" appears twice in the state dict")
        }
    }
}
