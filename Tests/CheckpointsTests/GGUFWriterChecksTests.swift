import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// The GGUF writer never writes a file that Scalpel, gguf-py or ggml would refuse or read
/// back differently: keys the spec types keep their type, names and ranks beyond ggml's
/// limits are refused by name before anything is written.
struct GGUFWriterChecksTests {
    static func f32(_ shape: [Int]) -> TensorView {
        TensorView.make(dtype: .f32, shape: shape) { buffer in
            for i in 0..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: i * 7 + 1) }
        }
    }

    /// Writes, checks with gguf-py against the tensors, `metadata` values and `types`.
    static func writeAndCheck(
        _ tensors: [(String, TensorView)], metadata: [(String, String)], expected: [(String, JSONValue)],
        types: [(String, JSONValue)], in folder: String
    ) throws -> Checkpoint {
        let path = folder + "/out.gguf"
        try CheckpointWriter.write(
            tensors.map { OutputTensor(name: $0.0, view: $0.1) }, metadata: metadata, format: .gguf, to: path)
        try TensorManifest.write(
            tensors, extra: [("metadata", .object(expected)), ("types", .object(types))], to: folder + "/expected.json")
        let result = try Python.run(["gguf_interop.py", "check", path, folder + "/expected.json"])
        #expect(result.status == 0, "\(result.output)")
        return try Checkpoint.open(path)
    }

    @Test func keysTheSpecTypesAreWrittenWithTheirTypeAndTheAlignmentIsUsed() throws {
        let folder = try Fixtures.scratchFolder()
        let metadata = [
            ("general.architecture", "llama"), ("general.alignment", "64"), ("general.file_type", "1"),
            ("tokenizer.ggml.bos_token_id", "2"), ("custom.count", "3"),
        ]
        let reread = try Self.writeAndCheck(
            [("a", Self.f32([3])), ("b", Self.f32([2, 5]))], metadata: metadata,
            expected: [
                ("general.alignment", .integer(64)), ("general.file_type", .integer(1)),
                ("tokenizer.ggml.bos_token_id", .integer(2)),
                ("custom.count", .string("3")),
            ],
            types: [
                ("general.architecture", .array([.string("STRING")])),
                ("general.alignment", .array([.string("UINT32")])),
                ("general.file_type", .array([.string("UINT32")])), ("custom.count", .array([.string("STRING")])),
            ], in: folder)
        guard case .gguf(let alignment, let pairs)? = reread.extras else {
            Issue.record("no GGUF pairs")
            return
        }
        #expect(alignment == 64)
        #expect(pairs.map(\.type) == [8, 4, 4, 4, 8])
        #expect(reread.metadata.map { "\($0.0)=\($0.1)" } == metadata.map { "\($0.0)=\($0.1)" })
        let offsets = reread.tensors.map(\.offset)
        #expect(offsets.count == 2 && offsets[0] % 64 == 0 && offsets[1] == offsets[0] + 64, "\(offsets)")
    }

    @Test(arguments: [
        (
            "general.alignment", "16.0",
            "metadata key \"general.alignment\" is typed uint32 by the GGUF spec, but the metadata gives \"16.0\": give a uint32 value"
        ),
        ("general.alignment", "24", "GGUF general.alignment must be a power of two stored as a uint32, got uint32 24"),
        (
            "general.quantization_version", "-1",
            "metadata key \"general.quantization_version\" is typed uint32 by the GGUF spec, but the metadata gives \"-1\": give a uint32 value"
        ),
        (
            "tokenizer.ggml.eos_token_id", "+2",
            "metadata key \"tokenizer.ggml.eos_token_id\" is typed uint32 by the GGUF spec, but the metadata gives \"+2\": give a uint32 value"
        ),
        (
            "tokenizer.ggml.tokens", "[20 string values]",
            "metadata key \"tokenizer.ggml.tokens\" is typed array by the GGUF spec, but the metadata gives \"[20 string values]\": other formats keep GGUF arrays only as a summary; convert from the original GGUF file, whose pairs are carried over with their types"
        ),
    ])
    func textThatIsNotOfTheSpecsTypeIsRefused(_ key: String, _ value: String, _ message: String) throws {
        let path = try Fixtures.scratchFolder("gguf-key-\(key)") + "/out.gguf"
        #expect {
            try CheckpointWriter.write(
                [OutputTensor(name: "a", view: Self.f32([1]))], metadata: [(key, value)], format: .gguf, to: path)
        } throws: { "\($0)" == "\(path): \(message)" }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// A changed value of a typed pair of the source is written in the pair's own type.
    @Test func aChangedValueOfASourcePairKeepsItsType() throws {
        let (folder, _) = try GGUFTests.written()
        let source = try Checkpoint.open(folder + "/tiny.gguf")
        let outputs = source.tensors.map { OutputTensor(name: $0.name, view: source.view($0)) }
        var metadata = source.metadata.map { $0.0 == "tiny.context_length" ? ($0.0, "256") : $0 }
        try CheckpointWriter.write(
            outputs, metadata: metadata, format: .gguf, extras: source.extras, to: folder + "/changed.gguf")
        let pairs = try Checkpoint.open(folder + "/changed.gguf").extras
        guard case .gguf(_, let written)? = pairs else {
            Issue.record("no GGUF pairs")
            return
        }
        let pair = try #require(written.first { $0.key == "tiny.context_length" })
        #expect(pair.type == 4 && pair.raw == [0, 1, 0, 0])
        metadata = metadata.map { $0.0 == "tiny.context_length" ? ($0.0, "many") : $0 }
        #expect {
            try CheckpointWriter.write(
                outputs, metadata: metadata, format: .gguf, extras: source.extras, to: folder + "/bad.gguf")
        } throws: {
            "\($0)"
                == "\(folder)/bad.gguf: metadata key \"tiny.context_length\" is typed uint32 by the source GGUF, but the metadata gives \"many\": give a uint32 value"
        }
    }

    /// A changed `general.alignment` aligns the data it describes.
    @Test func aChangedAlignmentAlignsTheData() throws {
        let source = try Checkpoint.open(GGUFBoundsTests.fieldCases + "/gguf_alignment16.gguf")
        let outputs = source.tensors.map { OutputTensor(name: $0.name, view: source.view($0)) }
        let path = try Fixtures.scratchFolder() + "/aligned64.gguf"
        let metadata = source.metadata.map { $0.0 == "general.alignment" ? ($0.0, "64") : $0 }
        try CheckpointWriter.write(outputs, metadata: metadata, format: .gguf, extras: source.extras, to: path)
        let reread = try Checkpoint.open(path)
        guard case .gguf(let alignment, _)? = reread.extras else {
            Issue.record("no GGUF pairs")
            return
        }
        #expect(alignment == 64 && reread.tensors.allSatisfy { $0.offset % 64 == 0 })
        #expect(
            reread.tensors.map { TensorManifest.hex(reread.view($0)) }
                == source.tensors.map { TensorManifest.hex(source.view($0)) })
    }

    @Test(arguments: [
        (
            [(String(repeating: "n", count: 64), [1])], [(String, String)](),
            "tensor \"\(String(repeating: "n", count: 64))\" has a 64-byte name; GGUF tensor names hold at most 63 bytes (ggml's GGML_MAX_NAME), so ggml could not load the file: rename the tensor, or keep safetensors"
        ),
        (
            [(String(repeating: "é", count: 32), [1])], [],
            "tensor \"\(String(repeating: "é", count: 32))\" has a 64-byte name; GGUF tensor names hold at most 63 bytes (ggml's GGML_MAX_NAME), so ggml could not load the file: rename the tensor, or keep safetensors"
        ),
        (
            [("a\u{0}b", [1])], [],
            "tensor \"a\\x00b\" has a NUL byte in its name, where ggml's C strings would end it: rename the tensor, or keep safetensors"
        ),
        (
            [("five", [1, 1, 1, 1, 2])], [],
            "tensor \"five\" has 5 dimensions; GGUF tensors have at most 4 (ggml's GGML_MAX_DIMS): keep safetensors"
        ),
        (
            [("a", [1])], [("k\u{0}", "v")],
            "metadata key \"k\\x00\" has a NUL byte, where ggml's C strings would end it"
        ),
        ([("a", [1])], [("k", "1"), ("k", "2")], "metadata key \"k\" is given twice"),
    ])
    func namesRanksAndKeysGgmlCannotHoldAreRefusedByName(
        _ tensors: [(String, [Int])], _ metadata: [(String, String)], _ message: String
    ) throws {
        let path = try Fixtures.scratchFolder("gguf-refused") + "/out.gguf"
        #expect {
            try CheckpointWriter.write(
                tensors.map { OutputTensor(name: $0.0, view: Self.f32($0.1)) }, metadata: metadata, format: .gguf,
                to: path)
        } throws: { "\($0)" == "\(path): \(message)" }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// Names and keys that are awkward but valid come back byte for byte, in Scalpel and in
    /// gguf-py: the longest name ggml holds, multi-byte UTF-8, quotes, control characters, a
    /// 4-dimensional tensor, two keys that are the same Unicode text spelled differently.
    @Test func awkwardNamesAndKeysRoundTripThroughScalpelAndGgufPy() throws {
        let folder = try Fixtures.scratchFolder()
        let names = [
            String(repeating: "x", count: 63), String(repeating: "é", count: 31), "", "a b", "tab\there", "line\nbreak",
            "quote\"and\\backslash", "日本語.重み", "emoji🙂.weight", "caf\u{E9}.weight", "model_weights/dense/kernel:0",
        ]
        let tensors = names.enumerated().map { ($1, Self.f32($0 == 1 ? [1, 2, 1, 3] : [$0 + 1])) }
        let metadata = [
            ("general.name", "multi\nline \"quoted\""), ("caf\u{E9}", "composed"), ("cafe\u{301}", "decomposed"),
            ("with space", ""), ("UPPER.Case", String(repeating: "long ", count: 2000)), ("", "empty key"),
        ]
        let reread = try Self.writeAndCheck(
            tensors, metadata: metadata, expected: metadata.map { ($0.0, .string($0.1)) },
            types: [], in: folder)
        #expect(reread.tensors.map { Array($0.name.utf8) } == names.map { Array($0.utf8) })
        #expect(reread.metadata.map { Array($0.0.utf8) } == metadata.map { Array($0.0.utf8) })
        #expect(reread.metadata.map(\.1) == metadata.map(\.1))
        for (name, view) in tensors {
            #expect(TensorManifest.hex(try reread.view(named: name)) == TensorManifest.hex(view), "\(name)")
        }
    }
}
