import Foundation

/// Turns what the user typed into the file to open: a folder stands for the checkpoint
/// inside it (an index if there is one, else its single safetensors file, else the complete
/// set of shards `NAME-0000K-of-0000N.safetensors` it holds without an index (the folder
/// itself is returned), else PyTorch's pytorch_model.bin or its index).
enum CheckpointLocator {
    static func resolve(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.notFound(path, "no such file or folder")
        }
        guard isDirectory.boolValue else { return path }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
        if indexes.count == 1 { return (path as NSString).appendingPathComponent(indexes[0]) }
        let singles = names.filter { $0.hasSuffix(".safetensors") }
        if indexes.isEmpty, singles.count == 1 { return (path as NSString).appendingPathComponent(singles[0]) }
        // Hugging Face folders saved with PyTorch's format instead.
        if indexes.isEmpty, singles.isEmpty {
            if names.contains("pytorch_model.bin.index.json") {
                return (path as NSString).appendingPathComponent("pytorch_model.bin.index.json")
            }
            if names.contains("pytorch_model.bin") {
                return (path as NSString).appendingPathComponent("pytorch_model.bin")
            }
        }
        if indexes.isEmpty, ShardNames.completeSet(singles) != nil {
            return path  // the shards of one model without an index: read as one (ShardIndex.openFolder)
        }
        if indexes.count > 1 || singles.count > 1 {
            throw CheckpointError(
                path,
                """
                folder holds several checkpoints \
                (\((indexes.isEmpty ? singles : indexes).joined(separator: ", "))); name one
                """
            )
        }
        throw CheckpointError(path, "folder holds no .safetensors file, .safetensors.index.json or pytorch_model.bin")
    }
}

/// Hugging Face's shard file names, `PREFIX-0000K-of-0000N.EXT`.
public enum ShardNames {
    /// The shard number K and count N in `name`, or nil when it is not a shard name.
    public static func parse(_ name: String) -> (prefix: String, index: Int, count: Int, suffix: String)? {
        let bytes = Array(name.utf8)
        guard let of = find(Array("-of-".utf8), in: bytes) else { return nil }
        var start = of
        while start > 0, (0x30...0x39).contains(bytes[start - 1]) { start -= 1 }
        var end = of + 4
        while end < bytes.count, (0x30...0x39).contains(bytes[end]) { end += 1 }
        guard start > 0, start < of, end > of + 4, bytes[start - 1] == UInt8(ascii: "-"), end < bytes.count,
            bytes[end] == UInt8(ascii: "."),
            let index = Int(String(decoding: bytes[start..<of], as: UTF8.self)),
            let count = Int(String(decoding: bytes[(of + 4)..<end], as: UTF8.self)), index >= 1, index <= count
        else { return nil }
        return (
            String(decoding: bytes[..<(start - 1)], as: UTF8.self), index, count,
            String(decoding: bytes[end...], as: UTF8.self)
        )
    }

    /// `names` sorted by shard number when they are exactly shards 1…N of one model (one
    /// prefix, one count, one extension); nil otherwise (fewer than two files included).
    public static func completeSet(_ names: [String]) -> [String]? {
        let parsed = names.compactMap { name in parse(name).map { (name, $0) } }
        guard names.count >= 2, parsed.count == names.count, let first = parsed.first?.1 else { return nil }
        guard
            parsed.allSatisfy({
                $0.1.prefix == first.prefix && $0.1.count == first.count && $0.1.suffix == first.suffix
            }),
            first.count == names.count, Set(parsed.map(\.1.index)) == Set(1...first.count)
        else { return nil }
        return parsed.sorted { $0.1.index < $1.1.index }.map(\.0)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in stride(from: haystack.count - needle.count, through: 0, by: -1)
        where Array(haystack[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
