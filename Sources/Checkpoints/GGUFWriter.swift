import Tensors

/// Writes GGUF version 3: the metadata, the tensor infos, then every tensor's bytes aligned
/// to `general.alignment` (32 unless the source says otherwise). Rewriting a GGUF keeps its
/// metadata pairs bit for bit, in order; string metadata from other formats (and Scalpel's
/// `scalpel.patches` record) becomes string pairs.
public enum GGUFWriter {
    public static func write(_ tensors: [OutputTensor], metadata: [(String, String)], extras: FormatExtras?, to path: String) throws {
        for tensor in tensors where GGMLType.code(tensor.dtype) == nil {
            throw CheckpointError(path, "GGUF has no \(tensor.dtype.rawValue) tensors (\"\(tensor.name)\"): it stores F32, F16, BF16, F64 and I8…I64; convert with --dtype, or keep safetensors")
        }
        var alignment = 32
        var keyValues: [(String, UInt32, [UInt8])] = []
        let wanted = Dictionary(metadata, uniquingKeysWith: { _, last in last })
        if case .gguf(let sourceAlignment, let stored)? = extras {
            alignment = sourceAlignment
            // Pairs the metadata no longer names are dropped; a changed string is rewritten;
            // everything else is carried over as stored.
            for pair in stored {
                guard let value = wanted[pair.key] else { continue }
                if pair.type == 8, value != pair.text {
                    keyValues.append((pair.key, 8, stringBytes(value)))
                } else {
                    keyValues.append((pair.key, pair.type, pair.raw))
                }
            }
        }
        let present = Set(keyValues.map(\.0))
        for (key, value) in metadata where !present.contains(key) {
            keyValues.append((key, 8, stringBytes(value)))
        }
        var header = ZipBytes()
        header.u32(0x4655_4747); header.u32(3); header.u64(tensors.count); header.u64(keyValues.count)
        for (key, type, raw) in keyValues {
            header.bytes += stringBytes(key)
            header.u32(Int(type))
            header.bytes += raw
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            header.bytes += stringBytes(tensor.name)
            header.u32(tensor.shape.count)
            for dimension in tensor.shape.reversed() { header.u64(dimension) }
            header.u32(Int(GGMLType.code(tensor.dtype)!))
            header.u64(offset)
            offsets.append(offset)
            offset = (offset + tensor.byteCount + alignment - 1) / alignment * alignment
        }
        header.bytes += [UInt8](repeating: 0, count: (alignment - header.bytes.count % alignment) % alignment)
        let file = try AtomicFile(path: path)
        defer { file.discard() }
        try file.write(header.bytes)
        let dataStart = file.bytesWritten
        for (tensor, tensorOffset) in zip(tensors, offsets) {
            let padding = dataStart + tensorOffset - file.bytesWritten
            if padding > 0 { try file.write([UInt8](repeating: 0, count: padding)) }
            let view = try NumpyWriter.produce(tensor, path: path)
            if let range = view.fileRange {
                try file.copy(from: range.fileDescriptor, offset: range.offset, count: view.byteCount, fallback: view.bytes)
            } else {
                try view.withBytes { try file.write($0) }
            }
        }
        try file.commit()
    }

    static func stringBytes(_ text: String) -> [UInt8] {
        var out = ZipBytes()
        let utf8 = Array(text.utf8)
        out.u64(utf8.count)
        return out.bytes + utf8
    }
}
