import Foundation
import TestSupport
import Testing

@testable import Checkpoints

/// Names are bytes: "café" with U+00E9 and "cafe" + U+0301 are two names, as safetensors,
/// NumPy and PyTorch treat them, through every command (the field cases name_nfc, name_nfd
/// and names_nfc_and_nfd, made with the Python safetensors and numpy packages).
struct ByteNameTests {
    static let fixtures = ReferencePython.fieldCases
    static let composed = Array("caf\u{E9}.weight".utf8), decomposed = Array("cafe\u{301}.weight".utf8)

    /// The tensor names of `inspect --json`, as bytes.
    static func names(_ path: String) throws -> [[UInt8]] {
        let result = try CLI.run(["inspect", "--json", path])
        try #require(result.status == 0, "\(result.stderr)")
        let tensors = try JSONValue.parse(result.stdout)["tensors"]?.arrayValue ?? []
        return tensors.compactMap { $0["name"]?.stringValue.map { Array($0.utf8) } }
    }

    @Test(arguments: ["names_nfc_and_nfd.safetensors", "names_nfc_and_nfd.npz"])
    func aFileHoldingBothSpellingsHasTwoTensors(_ file: String) throws {
        #expect(try Set(Self.names(Self.fixtures + "/" + file)) == [Self.composed, Self.decomposed])
        try Self.expectEachSpellingKeepsItsValues(Self.fixtures + "/" + file)
    }

    /// [0, 0] under U+00E9, [1, 1] under e + U+0301, as the field case holds them.
    static func expectEachSpellingKeepsItsValues(_ path: String) throws {
        let checkpoint = try Checkpoint.open(path)
        let values = try checkpoint.tensors.map { entry in
            (Array(entry.name.utf8), try checkpoint.view(entry).withBytes { Array($0.bindMemory(to: Float.self)) })
        }
        #expect(
            values.first { $0.0 == Self.composed }?.1 == [0, 0]
                && values.first { $0.0 == Self.decomposed }?.1 == [1, 1], "\(path)")
    }

    @Test func diffCreateAndApplyKeepEachSpelling() throws {
        let a = Self.fixtures + "/name_nfc.safetensors"
        let b = Self.fixtures + "/name_nfd.safetensors"
        let diff = try CLI.run(["diff", a, b])
        #expect(
            diff.stdout.contains("1 only in A, 1 only in B") && !diff.stdout.contains("identical"), "\(diff.stdout)")
        let folder = try CLI.scratchFolder()
        let patch = folder + "/rename.spatch"
        let created = try CLI.run(["create", a, b, "-o", patch])
        #expect(
            created.status == 0 && created.stdout.contains("2 tensors touched"), "\(created.stdout)\(created.stderr)")
        let out = folder + "/out.safetensors"
        let applied = try CLI.run(["apply", a, patch, "-o", out])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(
            try Self.names(out).sorted { $0.lexicographicallyPrecedes($1) }
                == Self.names(b).sorted { $0.lexicographicallyPrecedes($1) })
        #expect(try Self.names(out).contains(Self.decomposed) && !Self.names(out).contains(Self.composed))
        #expect(try CLI.run(["diff", out, b]).stdout.contains("identical"))
        // And back: revert gives A's spelling again.
        let back = folder + "/back.safetensors"
        #expect(try CLI.run(["revert", out, patch, "-o", back]).status == 0)
        #expect(try CLI.run(["diff", back, a]).stdout.contains("identical"))
        // The Python reference reader applies the same patch to the same names.
        let reader = Self.fixtures + "/../../../Formats/spatch_reference.py"
        let python = try ReferencePython.run([reader, "apply", a, patch, folder + "/python.safetensors"])
        #expect(python.status == 0, "\(python.output)")
        #expect(try CLI.run(["diff", folder + "/python.safetensors", b]).stdout.contains("identical"))
    }

    @Test func everyWriterKeepsBothSpellings() throws {
        let source = Self.fixtures + "/names_nfc_and_nfd.safetensors"
        let folder = try CLI.scratchFolder()
        for ext in ["safetensors", "npz", "bin", "gguf", "h5"] {
            let out = folder + "/both." + ext
            let converted = try CLI.run(["convert", source, out])
            #expect(converted.status == 0, "\(ext): \(converted.stderr)")
            #expect(try Set(Self.names(out)) == [Self.composed, Self.decomposed], "\(ext)")
            try Self.expectEachSpellingKeepsItsValues(out)
        }
        // NumPy reads the .npz Scalpel wrote under the same names (the zip's UTF-8 flag is set).
        let numpy = try ReferencePython.run([
            "-c", "import sys, numpy as np; print(sorted(k.encode().hex() for k in np.load(sys.argv[1]).files))",
            folder + "/both.npz",
        ])
        let expected = [Self.composed, Self.decomposed].map { $0.map { String(format: "%02x", $0) }.joined() }.sorted()
        #expect(numpy.status == 0 && numpy.output.contains("['\(expected[0])', '\(expected[1])']"), "\(numpy.output)")
    }
}
