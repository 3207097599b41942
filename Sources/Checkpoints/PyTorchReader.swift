import Tensors

/// Opens PyTorch zip checkpoints (`torch.save` since 1.6: `.bin`, `.pt`, `.pth`): the pickled
/// state dict is read by `RestrictedUnpickler` (nothing from the file is run), each tensor
/// found in its storage member `data/<key>`. A state dict may be the saved object itself or
/// sit under `state_dict` or `model`; nested dicts are flattened with dots. Contiguous tensors
/// are viewed in place (PyTorch aligns storages to 64 bytes); strided views are gathered into
/// memory. Tensors that share one storage region (tied weights) are remembered, so a rewrite
/// keeps them shared.
enum PyTorchReader {
    static func open(_ path: String, mapping: MappedFile, archive: ZipArchive) throws -> Checkpoint {
        guard let pickle = archive.members.first(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }) else {
            throw CheckpointError(path, "zip archive without data.pkl: not a PyTorch checkpoint")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        let members = Dictionary(archive.members.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        if let order = members[prefix + "byteorder"] {
            let text = String(decoding: mapping.bytes[order.dataOffset..<(order.dataOffset + order.compressedSize)], as: UTF8.self)
            guard order.method == 0, text == "little" else {
                throw CheckpointError(path, "the checkpoint was saved big-endian (byteorder \"\(text)\"); load and save it on a little-endian machine")
            }
        }
        guard pickle.method == 0 else { throw CheckpointError(path, "data.pkl is compressed, which torch.save never does") }
        var unpickler = RestrictedUnpickler(UnsafeRawBufferPointer(rebasing: mapping.bytes[pickle.dataOffset..<(pickle.dataOffset + pickle.compressedSize)]), path: path)
        let root = try unpickler.run()
        var found: [(String, RestrictedUnpickler.TensorRecord)] = []
        var skipped: [String] = []
        try collect(stateDict(root, path: path), prefix: "", into: &found, skipped: &skipped, path: path)

        var tensors: [TensorEntry] = []
        var decoded: [String: TensorView] = [:]
        var groups: [String: [String]] = [:]
        for (name, record) in found {
            let storage = record.storage
            guard let member = members[prefix + "data/" + storage.key] else {
                throw CheckpointError(path, "tensor \"\(name)\": its storage data/\(storage.key) is missing from the archive")
            }
            guard member.method == 0 else { throw CheckpointError(path, "storage data/\(storage.key) is compressed, which torch.save never does") }
            let size = storage.dtype.size
            guard storage.elementCount <= member.compressedSize / size else {
                throw CheckpointError(path, "storage data/\(storage.key) holds \(member.compressedSize) bytes, fewer than its \(storage.elementCount) \(storage.dtype.rawValue) elements")
            }
            guard let byteCount = Shape.byteCount(record.shape, storage.dtype) else {
                throw CheckpointError(path, "tensor \"\(name)\": shape \(Shape.describe(record.shape)) is absurd")
            }
            let count = byteCount / size
            if count > 0 {
                var last = record.offset
                for (n, s) in zip(record.shape, record.stride) {
                    let (step, overflow) = (n - 1).multipliedReportingOverflow(by: s)
                    guard !overflow else { throw CheckpointError(path, "tensor \"\(name)\": strides overflow") }
                    last += step
                }
                guard last < storage.elementCount else {
                    throw CheckpointError(path, "tensor \"\(name)\" reaches element \(last) of a storage of \(storage.elementCount): the file is damaged")
                }
            }
            groups["\(storage.key)/\(record.offset)/\(record.shape)/\(record.stride)", default: []].append(name)
            if Shape.contiguousStrides(record.shape) == record.stride || count <= 1 {
                tensors.append(TensorEntry(name: name, dtype: storage.dtype, shape: record.shape, fileIndex: 0,
                                           offset: member.dataOffset + record.offset * size, byteCount: byteCount))
            } else {
                let source = UnsafeRawBufferPointer(rebasing: mapping.bytes[member.dataOffset..<(member.dataOffset + member.compressedSize)])
                decoded[name] = StridedGather.gather(source, dtype: storage.dtype, shape: record.shape, strides: record.stride, offset: record.offset)
                tensors.append(TensorEntry(name: name, dtype: storage.dtype, shape: record.shape, fileIndex: 0, offset: 0, byteCount: byteCount))
            }
        }
        var metadata: [(String, String)] = []
        if !skipped.isEmpty { metadata.append(("pytorch.not_tensors", skipped.joined(separator: ", "))) }
        let tied = groups.values.filter { $0.count > 1 }.sorted { $0[0] < $1[0] }
        let file = Checkpoint.File(path: path, size: mapping.bytes.count, headerLength: pickle.compressedSize, tensorCount: tensors.count, mapping: mapping)
        return try Checkpoint(path: path, format: .pytorch, metadata: metadata, tensors: tensors, files: [file], decoded: decoded,
                              extras: .pytorch(archiveName: String(prefix.dropLast()), tied: tied))
    }

    /// The dict of tensors in what was saved: itself, or its `state_dict` / `model` entry.
    static func stateDict(_ root: RestrictedUnpickler.Value, path: String) throws -> RestrictedUnpickler.DictBox {
        guard case .dict(let top) = root else {
            throw CheckpointError(path, "the saved object is not a dict of tensors (save model.state_dict(), not the model)")
        }
        for wanted in ["state_dict", "model"] {
            for (key, value) in top.items {
                if case .string(wanted) = key, case .dict(let inner) = value { return inner }
            }
        }
        return top
    }

    static func collect(_ dict: RestrictedUnpickler.DictBox, prefix: String, into found: inout [(String, RestrictedUnpickler.TensorRecord)],
                        skipped: inout [String], path: String, depth: Int = 0) throws {
        guard depth < 16 else { throw CheckpointError(path, "state dict nests more than 16 dicts deep") }
        for (key, value) in dict.items {
            let name: String
            switch key {
            case .string(let s): name = prefix + s
            case .int(let i): name = prefix + String(i)
            default: skipped.append(prefix + "?"); continue
            }
            switch value {
            case .tensor(let record): found.append((name, record))
            case .dict(let inner): try collect(inner, prefix: name + ".", into: &found, skipped: &skipped, path: path, depth: depth + 1)
            default: skipped.append(name)
            }
        }
        var seen = NameSet()  // bytes: Unicode-equivalent keys are two tensors, as in torch
        for (name, _) in found where !seen.insert(name) {
            throw CheckpointError(path, "tensor name \"\(name)\" appears twice in the state dict")
        }
    }
}
