import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// The GGUF files of issue 15's field cases (copied into Tests/Fixtures/field-cases), through
/// the command line as users ran them.
struct GGUFFieldCaseTests {
    static let fieldCases = ReferencePython.fieldCases

    /// Runs Python `code` with the test venv; stdout and stderr together.
    static func python(_ code: String) throws -> (status: Int32, output: String) {
        try ReferencePython.run(["-c", code])
    }

    /// `scalpel convert F a.safetensors`, then `convert a.safetensors b.gguf`: b.gguf keeps
    /// `general.alignment` a uint32 (it was written as a string, which Scalpel and gguf-py
    /// refused), aligns its data to it, and reads back with the same tensors in both (the
    /// values gguf-py reads from the original file).
    @Test func aGgufThroughSafetensorsAndBackKeepsItsAlignmentAUint32() throws {
        let folder = try CLI.scratchFolder()
        let source = Self.fieldCases + "/gguf_alignment16.gguf"
        let a = folder + "/a.safetensors"
        let b = folder + "/b.gguf"
        #expect(try CLI.run(["convert", source, a]).status == 0)
        let back = try CLI.run(["convert", a, b])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try CLI.run(["diff", b, source]).stdout.contains("identical"))
        let inspect = try CLI.run(["inspect", b])
        #expect(
            inspect.status == 0 && inspect.stdout.contains("metadata      general.alignment = 16"),
            "\(inspect.stdout)\(inspect.stderr)")
        let read = try Self.python(
            """
            import gguf
            r = gguf.GGUFReader(\(JSONValue.string(b).serialized))
            for name, field in r.fields.items():
                if not name.startswith("GGUF."):
                    print(name, [t.name for t in field.types], field.contents())
            print("alignment", r.alignment, [(t.name, t.data.tolist(), t.data_offset % 16) for t in r.tensors])
            """)
        #expect(
            read.status == 0
                && read.output == """
                    general.architecture ['STRING'] llama
                    general.alignment ['UINT32'] 16
                    pad.key ['STRING'] xxxxx
                    alignment 16 [('a.weight', [0.0, 1.0, 2.0, 3.0], 0), ('b.weight', [4.0, 5.0, 6.0, 7.0], 0), \
                    ('c.weight', [8.0, 9.0, 10.0, 11.0], 0), ('d.weight', [0.0, 1.0, 2.0], 0)]

                    """,
            "\(read.output)")
    }

    @Test func aBigEndianGgufIsReadAndConverts() throws {
        let folder = try CLI.scratchFolder()
        let source = Self.fieldCases + "/gguf_big_endian.gguf"
        let inspect = try CLI.run(["inspect", source])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(
            inspect.stdout.contains("a.weight  F32    [4]     16 B")
                && inspect.stdout.contains("b.weight  F16    [2]      4 B"), "\(inspect.stdout)")
        let out = folder + "/out.safetensors"
        #expect(try CLI.run(["convert", source, out]).status == 0)
        let converted = try Checkpoint.open(out)
        let hex = converted.tensors.map {
            converted.view($0).withBytes { $0.map { String(format: "%02x", $0) }.joined() }
        }
        #expect(hex == ["000000000000803f0000004000004040", "003e80c0"])
    }

    /// The fuzz case (it trapped): one line naming the file and the problem, exit status 2 (bad input).
    @Test func aQuantizedByteCountOverflowIsOneLineAndExitStatusTwo() throws {
        let path = Self.fieldCases + "/gguf_quantized_size_overflow.gguf"
        let result = try CLI.run(["inspect", path])
        #expect(result.status == 2 && result.stdout.isEmpty)
        #expect(
            result.stderr
                == "Error: \(path): GGUF tensor \"q\" (Q8_K, shape [61440, 140737488355328]): its byte count overflows 64 bits (damaged file?)\n"
        )
    }
}
