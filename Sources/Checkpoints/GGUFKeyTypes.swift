/// The value types GGUF's specification (ggml's docs/gguf.md, "Standardized key-value pairs")
/// fixes for its standard keys, and how metadata text becomes a typed value. Metadata from
/// another format is text (a GGUF converted to safetensors and back has lost its types): a
/// key the spec types is written with that type, never as a string that Scalpel, gguf-py and
/// llama.cpp would refuse (`general.alignment` must be a uint32).
enum GGUFKeyTypes {
    /// GGUF value type codes.
    static let uint32: UInt32 = 4, string: UInt32 = 8, array: UInt32 = 9

    /// The spec's type for `key` when it is not a string (strings need no conversion), with
    /// the element type of an array. The architecture keys (`[llm].context_length`, ...) are
    /// left out on purpose: the spec types them uint64 while llama.cpp and gguf-py write uint32,
    /// so no single choice is right for both.
    static func specType(_ key: String) -> (type: UInt32, element: UInt32?)? {
        switch key {
        case "general.alignment", "general.quantization_version", "general.file_type", "general.base_model.count",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
            "tokenizer.ggml.separator_token_id", "tokenizer.ggml.padding_token_id":
            return (uint32, nil)
        case "general.tags", "general.languages", "general.datasets",
            "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.added_tokens":
            return (array, string)
        case "tokenizer.ggml.scores": return (array, 6)
        case "tokenizer.ggml.token_type": return (array, 5)
        default: return nil
        }
    }

    /// The raw value bytes of `text` as a scalar of `type`, or nil when the text is not
    /// exactly how Scalpel's reader shows such a value (so the pair reads back as the same
    /// text). Arrays are never made from text: their text is a summary.
    static func scalar(_ text: String, as type: UInt32) -> [UInt8]? {
        func bytes<T: FixedWidthInteger>(_ value: T?) -> [UInt8]? {
            guard let value, "\(value)" == text else { return nil }
            return withUnsafeBytes(of: value.littleEndian) { Array($0) }
        }
        switch type {
        case 0: return bytes(UInt8(text))
        case 1: return bytes(Int8(text))
        case 2: return bytes(UInt16(text))
        case 3: return bytes(Int16(text))
        case 4: return bytes(UInt32(text))
        case 5: return bytes(Int32(text))
        case 6:
            guard let value = Float(text), "\(value)" == text else { return nil }
            return withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        case 7: return text == "true" ? [1] : text == "false" ? [0] : nil
        case 10: return bytes(UInt64(text))
        case 11: return bytes(Int64(text))
        case 12:
            guard let value = Double(text), "\(value)" == text else { return nil }
            return withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        default: return nil
        }
    }

    /// The alignment a `general.alignment` pair gives: the spec makes it a uint32; ggml
    /// requires a power of two (the spec adds "a multiple of 8", which ggml does not check,
    /// so files aligned to 1, 2 or 4 are read as ggml reads them). Throws naming the file.
    static func alignment(type: UInt32, text: String, path: String) throws -> Int {
        guard type == uint32, let value = Int(text), value > 0, value & (value - 1) == 0, value <= 1 << 20 else {
            let typeName = GGUFCursor.typeName(type)
            throw CheckpointError(
                path, "GGUF general.alignment must be a power of two stored as a uint32, got \(typeName) \(text)")
        }
        return value
    }
}
