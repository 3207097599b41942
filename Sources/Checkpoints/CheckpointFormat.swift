import Tensors

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checkpoint formats, recognised from a file's first bytes rather than its extension (a
/// `.bin` may be a PyTorch zip, a legacy pickle, or anything else).
public enum CheckpointFormat: String, Sendable, CaseIterable {
    /// A safetensors file (huggingface/safetensors format).
    case safetensors
    /// Sharded safetensors: a `*.safetensors.index.json` naming each tensor's shard.
    case safetensorsIndex = "safetensors-index"
    /// A zip archive, before its members say whether it is an `.npz` or a PyTorch checkpoint.
    case zipArchive = "zip"
    /// A legacy (before 1.6) `torch.save` pickle, refused: only running it could read it.
    case pytorchLegacy = "pytorch-legacy"
    /// An HDF5 file (Keras `.h5` weights and the like).
    case hdf5
    /// A single NumPy `.npy` array (NEP 1).
    case numpy
    /// A zip archive of `.npy` members (told apart from a PyTorch zip by its members).
    case npz
    /// A PyTorch zip checkpoint (`torch.save` since 1.6).
    case pytorch
    /// Sharded PyTorch: a `pytorch_model.bin.index.json` (detected as an index by its bytes).
    case pytorchIndex = "pytorch-index"
    /// A GGUF file (ggml's docs/gguf.md).
    case gguf

    /// The name shown to people.
    public var displayName: String {
        switch self {
        case .safetensors: return "safetensors"
        case .safetensorsIndex: return "sharded safetensors"
        case .zipArchive: return "zip archive (a PyTorch .bin/.pt/.pth checkpoint or a NumPy .npz)"
        case .pytorchLegacy: return "legacy (pre-1.6, non-zip) PyTorch pickle"
        case .hdf5: return "HDF5 (Keras .h5 / .weights.h5)"
        case .numpy: return "NumPy .npy array"
        case .npz: return "NumPy .npz archive"
        case .pytorch: return "PyTorch zip checkpoint"
        case .pytorchIndex: return "sharded PyTorch"
        case .gguf: return "GGUF"
        }
    }

    /// Recognises the format of the file at `path` from its leading bytes.
    /// - Throws: `CheckpointError` when the file cannot be opened or read, is a Scalpel patch, is too short, or
    ///   its leading bytes match no format Scalpel reads.
    public static func detect(path: String) throws -> CheckpointFormat {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw CheckpointError.notFound(path) }
            throw CheckpointError(path, "cannot open: \(String(cString: strerror(code)))", kind: .unreadable)
        }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 16)
        let count = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 16, 0) }
        guard count >= 0 else {
            throw CheckpointError(path, "cannot read: \(String(cString: strerror(errno)))")
        }
        if head.prefix(count).starts(with: [0x89] + Array("SPATCH".utf8) + [0x0A]) {
            throw CheckpointError(
                path, "this is a Scalpel patch (.spatch), not a checkpoint: give it to apply, revert or audit")
        }
        if let format = detect(leadingBytes: Array(head.prefix(count))) { return format }
        if count < 8 {
            throw CheckpointError(path, "file is \(count) bytes long, too short to be a checkpoint")
        }
        throw CheckpointError(
            path,
            "unrecognised file format (leading bytes \(hex(head.prefix(count)))); "
                + "expected safetensors, a safetensors index, PyTorch, HDF5, NumPy or GGUF")
    }

    /// The format announced by `head` (at least the first 9 bytes of a file), if any.
    public static func detect(leadingBytes head: [UInt8]) -> CheckpointFormat? {
        func startsWith(_ magic: [UInt8]) -> Bool { head.starts(with: magic) }
        if startsWith([0x50, 0x4B, 0x03, 0x04]) || startsWith([0x50, 0x4B, 0x05, 0x06]) {
            return .zipArchive
        }
        if startsWith([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) { return .hdf5 }
        if startsWith([0x93] + Array("NUMPY".utf8)) { return .numpy }
        if startsWith(Array("GGUF".utf8)) { return .gguf }
        // Legacy torch.save: a pickle (protocol 2: 0x80 0x02) of the magic number first.
        if startsWith([0x80, 0x02, 0x8A, 0x0A]) { return .pytorchLegacy }
        // A byte-order mark may open the JSON, when a Windows tool saved the index.
        let text = head.starts(with: TextFile.byteOrderMark) ? head.dropFirst(TextFile.byteOrderMark.count) : head[...]
        if let first = text.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }),
            first == UInt8(ascii: "{"), !text.contains(0)
        {
            return .safetensorsIndex  // a JSON document: the index of a sharded checkpoint
        }
        // safetensors: u64 header length, then '{'. The length check keeps random bytes out.
        if head.count >= 9, head[8] == UInt8(ascii: "{") { return .safetensors }
        if head.count >= 8 {
            let length = head.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if length > 0, length < 1 << 40 { return .safetensors }  // validation explains what is wrong
        }
        return nil
    }

    static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
    }
}
