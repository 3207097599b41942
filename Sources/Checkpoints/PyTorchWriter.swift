import Tensors

/// Writes PyTorch zip checkpoints that `torch.load(..., weights_only=True)` loads: an
/// OrderedDict of tensors pickled (protocol 2) the way `torch.save` pickles a state dict
/// (`TorchPickler`), each tensor's storage a stored member `data/<n>` aligned to 64 bytes, plus
/// `byteorder` and `version`. Every dtype Scalpel has is written: those with a legacy storage
/// class as `_rebuild_tensor_v2` does, the others (U16, U32, U64, F8_E4M3, F8_E5M2) as PyTorch
/// 2.1 and later do, through `_rebuild_tensor_v3` and an untyped storage. Tensors the source
/// marks as sharing a storage (tied weights) and that still hold equal bytes are written as
/// one storage, so they stay tied when loaded.
public enum PyTorchWriter {
    /// Writes `tensors` to `path`, atomically.
    /// - Throws: `CheckpointError` when a tensor cannot be produced or the file not written.
    public static func write(_ tensors: [OutputTensor], extras: FormatExtras?, to path: String) throws {
        var archiveName = "archive"
        var tied: [[String]] = []
        if case .pytorch(let name, let groups)? = extras {
            archiveName = name.isEmpty || name.contains("/") ? "archive" : name
            tied = groups
        }
        let storageOf = try storages(tensors, tied: tied, path: path)
        let pickle = TorchPickler.stateDict(zip(tensors, storageOf).map { ($0, $1) })
        let file = try AtomicFile(path: path)
        defer { file.discard() }
        var archive = ZipWriter(file: file, alignment: 64)
        try archive.add(archiveName + "/data.pkl", bytes: pickle)
        try archive.add(archiveName + "/byteorder", bytes: Array("little".utf8))
        var written = 0
        for (tensor, key) in zip(tensors, storageOf) where key == written {
            let view = try NumpyWriter.produce(tensor, path: path)
            let crc = view.withBytes { Deflate.crc32($0) }
            try archive.add(archiveName + "/data/\(key)", size: view.byteCount, crc: crc) {
                try NumpyWriter.write(view, to: file)
            }
            written += 1
        }
        try archive.add(archiveName + "/version", bytes: Array("3\n".utf8))
        try archive.finish()
        try file.commit()
    }

    /// The storage key of each tensor: storages are numbered in writing order, and a member of
    /// a tied group whose tensors all still hold equal bytes uses the storage of the group's
    /// first member. Only tied tensors are produced here (to compare them); the rest stream
    /// one at a time when written. Names are matched as UTF-8 bytes.
    static func storages(_ tensors: [OutputTensor], tied: [[String]], path: String) throws -> [Int] {
        var position: [[UInt8]: Int] = [:]
        for (i, tensor) in tensors.enumerated() where position[Array(tensor.name.utf8)] == nil {
            position[Array(tensor.name.utf8)] = i
        }
        var leader = Array(tensors.indices)
        for group in tied {
            let members = Set(group.compactMap { position[Array($0.utf8)] }).sorted()
            guard members.count > 1, let first = members.first,
                members.allSatisfy({
                    tensors[$0].dtype == tensors[first].dtype && tensors[$0].shape == tensors[first].shape
                })
            else { continue }
            let views = try members.map { try NumpyWriter.produce(tensors[$0], path: path) }
            let same = views.dropFirst().allSatisfy { view in
                view.withBytes { a in views[0].withBytes { b in a.elementsEqual(b) } }
            }
            if same { for member in members.dropFirst() { leader[member] = first } }
        }
        var keys: [Int] = []
        var next = 0
        for i in tensors.indices {
            if leader[i] != i, leader[i] < i {
                keys.append(keys[leader[i]])
            } else {
                keys.append(next)
                next += 1
            }
        }
        return keys
    }
}
