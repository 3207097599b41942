import Tensors

/// Writes PyTorch zip checkpoints that `torch.load(..., weights_only=True)` loads: an
/// OrderedDict of tensors pickled (protocol 2) the way `torch.save` pickles a state dict,
/// each tensor's storage a stored member `data/<n>` aligned to 64 bytes, plus `byteorder` and
/// `version`. Tensors the source marks as sharing a storage (tied weights) and that still hold
/// equal bytes are written as one storage, so they stay tied when loaded.
public enum PyTorchWriter {
    static let storageNames: [DType: String] = Dictionary(uniqueKeysWithValues: DType.allCases.compactMap { dtype in TorchGlobal.storageName(dtype).map { (dtype, $0) } })

    public static func write(_ tensors: [OutputTensor], extras: FormatExtras?, to path: String) throws {
        for tensor in tensors where storageNames[tensor.dtype] == nil {
            throw CheckpointError(path, "PyTorch checkpoints written by Scalpel hold F64, F32, F16, BF16, I64…I8, U8 and BOOL; \"\(tensor.name)\" is \(tensor.dtype.rawValue) (convert with --dtype, or keep safetensors)")
        }
        var archiveName = "archive"
        var tied: [[String]] = []
        if case .pytorch(let name, let groups)? = extras {
            archiveName = name.isEmpty || name.contains("/") ? "archive" : name
            tied = groups
        }
        // A tied group shares one storage when its members still hold equal bytes: each
        // member then points at the storage of the group's first member in writing order. Only tied tensors are
        // produced here (to compare them); the rest stream one at a time below.
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let place = Dictionary(tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var sharesWith: [String: String] = [:]
        for group in tied {
            let members = group.compactMap { byName[$0] }.sorted { place[$0.name] ?? 0 < place[$1.name] ?? 0 }
            guard members.count > 1, let first = members.first,
                  members.allSatisfy({ $0.dtype == first.dtype && $0.shape == first.shape }) else { continue }
            let views = try members.map { try NumpyWriter.produce($0, path: path) }
            let same = views.dropFirst().allSatisfy { view in view.withBytes { a in views[0].withBytes { b in a.elementsEqual(b) } } }
            if same { for member in members.dropFirst() { sharesWith[member.name] = first.name } }
        }
        var storageOf: [String: Int] = [:]
        var ordered: [(key: Int, tensor: OutputTensor)] = []
        for tensor in tensors {
            if let leader = sharesWith[tensor.name], let key = storageOf[leader] {
                storageOf[tensor.name] = key
            } else {
                storageOf[tensor.name] = ordered.count
                ordered.append((ordered.count, tensor))
            }
        }
        let pickle = Pickler.stateDict(tensors.map { ($0, storageOf[$0.name] ?? 0) })
        let file = try AtomicFile(path: path)
        defer { file.discard() }
        var zip = ZipWriter(file: file, alignment: 64)
        try zip.add(archiveName + "/data.pkl", bytes: pickle)
        try zip.add(archiveName + "/byteorder", bytes: Array("little".utf8))
        for (key, tensor) in ordered {
            let view = try NumpyWriter.produce(tensor, path: path)
            let crc = view.withBytes { Deflate.crc32($0) }
            try zip.add(archiveName + "/data/\(key)", size: view.byteCount, crc: crc) { try NumpyWriter.write(view, to: file) }
        }
        try zip.add(archiveName + "/version", bytes: Array("3\n".utf8))
        try zip.finish()
        try file.commit()
    }
}

/// Emits the pickle (protocol 2) of an OrderedDict of tensors, as torch.save does.
enum Pickler {
    static func stateDict(_ tensors: [(OutputTensor, storage: Int)]) -> [UInt8] {
        var out: [UInt8] = [0x80, 0x02]
        func global(_ module: String, _ name: String) { out += [0x63] + Array("\(module)\n\(name)\n".utf8) }
        func string(_ text: String) {
            let bytes = Array(text.utf8)
            out.append(0x58)
            for i in 0..<4 { out.append(UInt8((bytes.count >> (8 * i)) & 0xFF)) }
            out += bytes
        }
        func int(_ value: Int) {
            if value >= 0, value < 1 << 31 {
                out.append(0x4A)
                for i in 0..<4 { out.append(UInt8((value >> (8 * i)) & 0xFF)) }
            } else {
                out += [0x8A, 8]
                for i in 0..<8 { out.append(UInt8((value >> (8 * i)) & 0xFF)) }
            }
        }
        func tuple(_ values: [Int]) {
            out.append(0x28)
            values.forEach(int)
            out.append(0x74)
        }
        func orderedDict() { global("collections", "OrderedDict"); out += [0x29, 0x52] }
        orderedDict()
        out.append(0x28)  // MARK for SETITEMS
        for (tensor, storage) in tensors {
            string(tensor.name)
            global("torch._utils", "_rebuild_tensor_v2")
            out.append(0x28)  // MARK: the arguments
            out.append(0x28)  // MARK: the persistent id
            string("storage")
            global("torch", PyTorchWriter.storageNames[tensor.dtype] ?? "FloatStorage")
            string(String(storage))
            string("cpu")
            int(tensor.byteCount / tensor.dtype.size)
            out += [0x74, 0x51]  // TUPLE, BINPERSID
            int(0)
            tuple(tensor.shape)
            tuple(Shape.contiguousStrides(tensor.shape))
            out.append(0x89)  // requires_grad False
            orderedDict()     // backward hooks
            out += [0x74, 0x52]  // TUPLE, REDUCE
        }
        out += [0x75, 0x2E]  // SETITEMS, STOP
        return out
    }
}
