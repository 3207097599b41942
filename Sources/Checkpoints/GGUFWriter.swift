import Tensors

/// Writes GGUF version 3, little-endian (ggml's docs/gguf.md): the metadata, the tensor infos,
/// then every tensor's bytes aligned to `general.alignment` (32 unless the source or the
/// metadata says otherwise). Rewriting a GGUF keeps its metadata pairs bit for bit, in order;
/// metadata from other formats (and Scalpel's `scalpel.patches` record) becomes string pairs,
/// except keys whose type the spec fixes (`GGUFKeyTypes`), which are written with that type.
/// Nothing is written that Scalpel, gguf-py or ggml would refuse or read back differently:
/// the header is read back before the file is committed.
public enum GGUFWriter {
    /// ggml's limits (ggml.h): a tensor name holds at most GGML_MAX_NAME - 1 = 63 bytes (the
    /// 64 include the C string's NUL) and a tensor at most GGML_MAX_DIMS = 4 dimensions; its
    /// GGUF reader refuses files beyond either. The spec limits keys to 65535 bytes.
    static let maxNameBytes = 63, maxRank = 4, maxKeyBytes = 65_535

    /// Writes `tensors` and `metadata` to `path` atomically. `extras` from a GGUF source
    /// carries its pairs (types, order, alignment) over. Throws, before anything is written,
    /// for a dtype GGUF lacks, a tensor name or rank beyond ggml's limits, a NUL in a name or
    /// key, duplicate names or keys (as bytes), or a key the spec types whose text is not a
    /// value of that type.
    public static func write(
        _ tensors: [OutputTensor], metadata: [(String, String)], extras: FormatExtras?, to path: String
    ) throws {
        try check(tensors, path: path)
        let (alignment, keyValues) = try pairs(metadata, extras: extras, path: path)
        var header = ZipBytes()
        header.bytes += Array("GGUF".utf8)
        header.u32(3)
        header.u64(tensors.count)
        header.u64(keyValues.count)
        for pair in keyValues {
            header.bytes += stringBytes(pair.key)
            header.u32(pair.type)
            header.bytes += pair.raw
        }
        var offset = 0
        var infos: [GGUFReader.Info] = []
        for tensor in tensors {
            header.bytes += stringBytes(tensor.name)
            header.u32(tensor.shape.count)
            for dimension in tensor.shape.reversed() { header.u64(dimension) }
            let code = GGMLType.code(tensor.dtype) ?? 0  // every dtype was checked above
            header.u32(code)
            header.u64(offset)
            infos.append(GGUFReader.Info(name: tensor.name, shape: tensor.shape, type: code, offset: offset))
            offset = (offset + tensor.byteCount + alignment - 1) / alignment * alignment
        }
        header.bytes += [UInt8](repeating: 0, count: (alignment - header.bytes.count % alignment) % alignment)
        try readsBack(header.bytes, keyValues: keyValues, infos: infos, alignment: alignment, path: path)
        let file = try AtomicFile(path: path)
        defer { file.discard() }
        try file.write(header.bytes)
        let dataStart = file.bytesWritten
        for (tensor, info) in zip(tensors, infos) {
            let padding = dataStart + info.offset - file.bytesWritten
            if padding > 0 { try file.write([UInt8](repeating: 0, count: padding)) }
            let view = try NumpyWriter.produce(tensor, path: path)
            if let range = view.fileRange {
                try file.copy(
                    from: range.fileDescriptor, offset: range.offset, count: view.byteCount, fallback: view.bytes)
            } else {
                try view.withBytes { try file.write($0) }
            }
        }
        try file.commit()
    }

    /// Refuses tensors GGUF or ggml cannot hold as given, naming the first.
    static func check(_ tensors: [OutputTensor], path: String) throws {
        var names = Set<[UInt8]>()
        for tensor in tensors {
            guard GGMLType.code(tensor.dtype) != nil else {
                throw CheckpointError(
                    path,
                    """
                    GGUF has no \(tensor.dtype.rawValue) tensors (\"\(tensor.name)\"): it stores F32, F16, BF16, \
                    F64 and I8…I64; convert with --dtype, or keep safetensors
                    """,
                    kind: .unsupported
                )
            }
            let bytes = Array(tensor.name.utf8)
            guard bytes.count <= maxNameBytes else {
                throw CheckpointError(
                    path,
                    """
                    tensor \"\(tensor.name)\" has a \(bytes.count)-byte name; GGUF tensor names hold at most \
                    \(maxNameBytes) bytes (ggml's GGML_MAX_NAME), so ggml could not load the file: rename the \
                    tensor, or keep safetensors
                    """
                )
            }
            guard !bytes.contains(0) else {
                throw CheckpointError(
                    path,
                    """
                    tensor \"\(tensor.name)\" has a NUL byte in its name, where ggml's C strings would end it: \
                    rename the tensor, or keep safetensors
                    """
                )
            }
            guard tensor.shape.count <= maxRank else {
                throw CheckpointError(
                    path,
                    """
                    tensor \"\(tensor.name)\" has \(tensor.shape.count) dimensions; GGUF tensors have at most \
                    \(maxRank) (ggml's GGML_MAX_DIMS): keep safetensors
                    """
                )
            }
            guard names.insert(bytes).inserted else {
                throw CheckpointError(path, "tensor \"\(tensor.name)\" is given twice")
            }
        }
    }

    struct Pair: Equatable {
        let key: String
        let type: UInt32
        let raw: [UInt8]

        /// Keys compare as bytes, not by Unicode equivalence.
        static func == (a: Pair, b: Pair) -> Bool {
            a.key.utf8.elementsEqual(b.key.utf8) && a.type == b.type && a.raw == b.raw
        }
    }

    /// The alignment and the pairs to write, in order: a GGUF source's pairs first (a changed
    /// value re-encoded in the pair's own type), then the other metadata, typed by the spec
    /// where it types the key, otherwise strings. Values compare as bytes.
    static func pairs(_ metadata: [(String, String)], extras: FormatExtras?, path: String) throws -> (Int, [Pair]) {
        var wanted: [[UInt8]: String] = [:]
        for (key, value) in metadata {
            guard wanted.updateValue(value, forKey: Array(key.utf8)) == nil else {
                throw CheckpointError(path, "metadata key \"\(key)\" is given twice")
            }
            guard !key.utf8.contains(0) else {
                throw CheckpointError(
                    path, "metadata key \"\(key)\" has a NUL byte, where ggml's C strings would end it")
            }
            guard key.utf8.count <= maxKeyBytes else {
                throw CheckpointError(
                    path,
                    """
                    metadata key \"\(key.prefix(40))…\" has \(key.utf8.count) bytes; GGUF keys hold at most \
                    \(maxKeyBytes)
                    """
                )
            }
        }
        var pairs: [Pair] = []
        var present = Set<[UInt8]>()
        if case .gguf(_, let stored)? = extras {
            // Pairs the metadata no longer names are dropped; a changed value is rewritten;
            // everything else is carried over as stored.
            for pair in stored {
                guard let value = wanted[Array(pair.key.utf8)] else { continue }
                present.insert(Array(pair.key.utf8))
                if value.utf8.elementsEqual(pair.text.utf8) {
                    pairs.append(Pair(key: pair.key, type: pair.type, raw: pair.raw))
                } else {
                    pairs.append(
                        Pair(
                            key: pair.key, type: pair.type,
                            raw: try encode(
                                value, key: pair.key, type: pair.type, typedBy: "the source GGUF", path: path)))
                }
            }
        }
        for (key, value) in metadata where !present.contains(Array(key.utf8)) {
            let type = GGUFKeyTypes.specType(key)?.type ?? GGUFKeyTypes.string
            pairs.append(Pair(key: key, type: type, raw: try encode(value, key: key, type: type, path: path)))
        }
        // The data is aligned as the written pair says; without one a reader assumes 32.
        let alignmentKey = Array("general.alignment".utf8)
        if let pair = pairs.first(where: { $0.key.utf8.elementsEqual(alignmentKey) }), let text = wanted[alignmentKey] {
            return (try GGUFKeyTypes.alignment(type: pair.type, text: text, path: path), pairs)
        }
        return (32, pairs)
    }

    /// `text` as a value of `type`, refused (naming the key and what typed it) when it is not one.
    static func encode(_ text: String, key: String, type: UInt32, typedBy: String = "the GGUF spec", path: String)
        throws -> [UInt8]
    {
        if type == GGUFKeyTypes.string { return stringBytes(text) }
        if let raw = GGUFKeyTypes.scalar(text, as: type) { return raw }
        let typeName = GGUFCursor.typeName(type)
        let advice =
            type == GGUFKeyTypes.array
            ? """
            other formats keep GGUF arrays only as a summary; convert from the original GGUF file, whose pairs \
            are carried over with their types
            """
            : "give a \(typeName) value"
        throw CheckpointError(
            path,
            """
            metadata key \"\(key)\" is typed \(typeName) by \(typedBy), but the metadata gives \
            \"\(text.prefix(80))\": \(advice)
            """
        )
    }

    /// Parses the header about to be written as Scalpel reads GGUF and compares it with what
    /// was meant, so a file that would read back differently is never written.
    private static func readsBack(
        _ header: [UInt8], keyValues: [Pair], infos: [GGUFReader.Info], alignment: Int, path: String
    )
        throws
    {
        let back = try header.withUnsafeBytes { try GGUFReader.header($0, path: path) }
        let pairs = back.keyValues.map { Pair(key: $0.key, type: $0.type, raw: $0.raw) }
        for (index, pair) in keyValues.enumerated() where pairs[safe: index] != pair {
            throw CheckpointError(
                path,
                "internal error: GGUF metadata key \"\(pair.key)\" would not read back as written; nothing was written")
        }
        guard pairs.count == keyValues.count, back.infos == infos, back.alignment == alignment,
            back.dataStart == header.count
        else {
            throw CheckpointError(
                path, "internal error: the GGUF header would not read back as written; nothing was written")
        }
        for info in infos { _ = try GGUFReader.byteCount(info, path: path) }
    }

    static func stringBytes(_ text: String) -> [UInt8] {
        var out = ZipBytes()
        let utf8 = Array(text.utf8)
        out.u64(utf8.count)
        return out.bytes + utf8
    }
}
