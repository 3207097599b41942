import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Big-endian GGUF (v3 allows it; every field, metadata value and tensor is big-endian) is
/// read byte-swapped, and a rewrite writes the same values little-endian.
struct GGUFByteOrderTests {
    /// The field case: big-endian v3 with a F32 [4] and a F16 [2] tensor (gguf-py reads
    /// [0, 1, 2, 3] and [1.5, -2.25]); Scalpel called it "GGUF version 50331648".
    @Test func theBigEndianFieldCaseReadsAsGgufPyReadsIt() throws {
        let checkpoint = try Checkpoint.open(GGUFBoundsTests.fieldCases + "/gguf_big_endian.gguf")
        #expect(checkpoint.metadata.map { "\($0.0)=\($0.1)" } == ["general.architecture=llama", "llama.block_count=2"])
        #expect(checkpoint.tensors.map(\.name) == ["a.weight", "b.weight"])
        let a = try checkpoint.view(named: "a.weight")
        let b = try checkpoint.view(named: "b.weight")
        #expect(a.dtype == .f32 && a.shape == [4] && TensorManifest.hex(a) == "000000000000803f0000004000004040")
        #expect(b.dtype == .f16 && b.shape == [2] && TensorManifest.hex(b) == "003e80c0")
        guard case .gguf(let alignment, let pairs)? = checkpoint.extras else {
            Issue.record("no GGUF pairs")
            return
        }
        // Kept little-endian, as a rewrite writes them.
        #expect(alignment == 32)
        #expect(pairs.map(\.type) == [8, 4] && pairs[1].raw == [2, 0, 0, 0])
    }

    /// gguf-py's big-endian writer, every value type and tensor dtype: the same metadata and
    /// tensors as the little-endian file.
    @Test func bigEndianFilesGgufPyWritesReadLikeTheirLittleEndianTwins() throws {
        let (folder, manifest) = try GGUFTests.written()
        let little = try Checkpoint.open(folder + "/tiny.gguf")
        let big = try Checkpoint.open(folder + "/tiny_be.gguf")
        try TensorManifest.expectMatches(big, manifest["tensors"], "tiny_be.gguf", ordered: true)
        #expect(big.metadata.map { "\($0.0)=\($0.1)" } == little.metadata.map { "\($0.0)=\($0.1)" })
        guard case .gguf(_, let bigPairs)? = big.extras, case .gguf(_, let littlePairs)? = little.extras else {
            Issue.record("no GGUF pairs")
            return
        }
        #expect(bigPairs == littlePairs)
    }

    /// Rewriting a big-endian GGUF writes little-endian GGUF with every pair's type and value.
    @Test func aRewrittenBigEndianFileIsLittleEndianWithTheSameValues() throws {
        let (folder, manifest) = try GGUFTests.written()
        let source = try Checkpoint.open(folder + "/tiny_be.gguf")
        let outputs = source.tensors.map { OutputTensor(name: $0.name, view: source.view($0)) }
        let out = folder + "/rewritten.gguf"
        try CheckpointWriter.write(outputs, metadata: source.metadata, format: .gguf, extras: source.extras, to: out)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out))[4..<8] == Data([3, 0, 0, 0]))
        var expected = manifest.objectMembers ?? []
        expected.append(
            (
                "metadata",
                .object([
                    ("general.name", .string("tiny test model ✓")), ("tiny.context_length", .integer(128)),
                    ("tiny.big", .integer(-1 << 40)),
                    ("tiny.use_parallel_residual", .bool(true)),
                    ("tokenizer.ggml.tokens", .array((0..<20).map { .string("tok\($0)") })),
                ])
            ))
        expected.append(
            (
                "types",
                .object([
                    ("tiny.context_length", .array([.string("UINT32")])), ("tiny.big", .array([.string("INT64")])),
                    ("tiny.eps", .array([.string("FLOAT64")])),
                    ("tokenizer.ggml.scores", .array([.string("ARRAY"), .string("FLOAT32")])),
                ])
            ))
        try Fixtures.write(Array(JSONValue.object(expected).serialized.utf8), to: folder + "/expected.json")
        let result = try Python.run(["gguf_interop.py", "check", out, folder + "/expected.json"])
        #expect(result.status == 0, "\(result.output)")
    }
}
