import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// GGUF against gguf-py, llama.cpp's reference reader and writer.
struct GGUFTests {
    static func written(_ label: String = #function) throws -> (folder: String, manifest: JSONValue) {
        let folder = try Fixtures.scratchFolder(label)
        let result = try Python.run(["gguf_interop.py", "write", folder])
        try #require(result.status == 0, "\(result.output)")
        return (folder, try JSONValue.parse(String(contentsOfFile: folder + "/manifest.json", encoding: .utf8)))
    }

    @Test func filesGgufPyWritesReadInScalpel() throws {
        let (folder, manifest) = try Self.written()
        let checkpoint = try Checkpoint.open(folder + "/tiny.gguf")
        #expect(checkpoint.format == .gguf)
        try TensorManifest.expectMatches(checkpoint, manifest["tensors"], "tiny.gguf", ordered: true)
        let metadata = Dictionary(uniqueKeysWithValues: checkpoint.metadata)
        #expect(metadata["general.name"] == "tiny test model ✓")
        #expect(metadata["tiny.context_length"] == "128" && metadata["tiny.big"] == "-1099511627776")
        #expect(metadata["tokenizer.ggml.tokens"] == "[20 string values]")
    }

    @Test func quantizedTensorsAreListedButRefusedForValues() throws {
        let (folder, _) = try Self.written()
        let listed = try Checkpoint.open(folder + "/quantized.gguf", allowingOpaqueTensors: true)
        #expect(
            listed.opaqueTensors == [
                OpaqueTensor(name: "blk.0.ffn_down.weight", typeName: "Q8_0", shape: [4, 64], byteCount: 8 * 34)
            ])
        #expect {
            try Checkpoint.open(folder + "/quantized.gguf")
        } throws: { "\($0)".contains("\"blk.0.ffn_down.weight\" is Q8_0") && "\($0)".contains("does not dequantize") }
    }

    @Test func filesScalpelWritesReadInGgufPyWithTheMetadataKept() throws {
        let (folder, manifest) = try Self.written()
        // Rewriting a GGUF keeps its metadata pairs; new string metadata is added.
        let source = try Checkpoint.open(folder + "/tiny.gguf")
        var metadata = source.metadata
        metadata.append(("scalpel.patches", "[\"abc\"]"))
        let outputs = source.tensors.map { entry in OutputTensor(name: entry.name, view: source.view(entry)) }
        try CheckpointWriter.write(
            outputs, metadata: metadata, format: .gguf, extras: source.extras, to: folder + "/rewritten.gguf")
        var expected = manifest.objectMembers ?? []
        expected.append(
            (
                "metadata",
                .object([
                    ("general.name", .string("tiny test model ✓")), ("tiny.context_length", .integer(128)),
                    ("tiny.eps", .number(1e-12)),
                    ("tiny.use_parallel_residual", .bool(true)), ("scalpel.patches", .string("[\"abc\"]")),
                    ("tokenizer.ggml.tokens", .array((0..<20).map { .string("tok\($0)") })),
                ])
            ))
        try Fixtures.write(Array(JSONValue.object(expected).serialized.utf8), to: folder + "/expected.json")
        let result = try Python.run(["gguf_interop.py", "check", folder + "/rewritten.gguf", folder + "/expected.json"])
        #expect(result.status == 0, "\(result.output)")
        // Every pair comes back with the same raw bytes.
        guard case .gguf(_, let before)? = source.extras,
            case .gguf(_, let after)? = try Checkpoint.open(folder + "/rewritten.gguf").extras
        else {
            Issue.record("no GGUF metadata")
            return
        }
        #expect(Array(after.prefix(before.count)) == before)
    }

    @Test func unsupportedDTypesAreRefusedOnWrite() throws {
        let folder = try Fixtures.scratchFolder()
        let outputs = Fixtures.everyDType().filter { $0.1.dtype == .u8 }.map { OutputTensor(name: $0.0, view: $0.1) }
        #expect {
            try CheckpointWriter.write(outputs, metadata: [], format: .gguf, to: folder + "/x.gguf")
        } throws: { "\($0)".contains("GGUF has no U8") }
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.gguf"))
    }

    @Test(arguments: [
        ("truncated.gguf", "lie outside"),
        ("out_of_bounds.gguf", "lie outside"),
        ("huge_array.gguf", "cannot fit the file"),
        ("version1.gguf", "GGUF version 1 is not supported"),
    ])
    func damagedFilesAreRefused(_ file: String, _ message: String) throws {
        let folder = try Fixtures.scratchFolder("gguf-\(file)")
        let result = try Python.run(["gguf_interop.py", "hostile", folder])
        try #require(result.status == 0, "\(result.output)")
        #expect {
            try Checkpoint.open(folder + "/" + file)
        } throws: { "\($0)".contains(file) && "\($0)".contains(message) }
    }
}
