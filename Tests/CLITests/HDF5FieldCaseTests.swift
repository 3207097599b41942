import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// The HDF5 files of issue 15's field cases (copied into Tests/Fixtures/field-cases), through
/// the command line as users ran them.
struct HDF5FieldCaseTests {
    static let fieldCases = ReferencePython.fieldCases

    /// Damaged files: a one-line error naming the file and the problem, exit status 2.
    @Test(arguments: [
        (
            "h5_chunked_huge_declared_shape.h5",
            "HDF5 dataset \"huge\" declares shape [1099511627776] (4398046511104 bytes) but the file stores 0 bytes of it: refused, as Scalpel fills at most 64 MiB in all with values a file does not store, beyond 1100 bytes per stored byte (damaged file?)"
        ),
        // libhdf5 1.10 (Debian's) crashes on this file; HDF5 2.0 reports an error instead.
        (
            "h5_damaged_global_heap.h5",
            "libhdf5 crashed (segmentation fault) while reading the attribute \"dtype\" of \"/layers/dense/vars/1\": the file is damaged (it was read in a separate process, which alone stopped)|cannot read the attribute \"dtype\" of \"/layers/dense/vars/1\" (damaged file?)"
        ),
    ])
    func damagedFilesGetOneLineAndExitStatusTwo(_ file: String, _ problems: String) throws {
        let path = Self.fieldCases + "/" + file
        let result = try CLI.run(["inspect", path])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(
            problems.split(separator: "|").map { "Error: \(path): \($0)\n" }.contains(result.stderr), "\(result.stderr)"
        )
    }

    /// Root string attributes of every string type are metadata, in `inspect --json` and in
    /// what `convert` writes.
    @Test(arguments: [
        (
            "keras_vlen_ascii_attrs.h5",
            [("backend", "tensorflow"), ("keras_version", "2.15.0"), ("layer_names", "dense")]
        ),
        ("attrs_utf8_first.h5", [("a_note", "utf8 text"), ("backend", "tensorflow")]),
        ("attrs_utf8_last.h5", [("backend", "tensorflow"), ("z_note", "utf8 text")]),
    ])
    func everyRootStringAttributeIsMetadata(_ file: String, _ expected: [(String, String)]) throws {
        let path = Self.fieldCases + "/" + file
        let inspect = try CLI.run(["inspect", path, "--json"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let metadata = try JSONValue.parse(inspect.stdout)["metadata"]
        #expect(metadata == .object(expected.map { ($0.0, .string($0.1)) }), "\(inspect.stdout)")
        let out = try CLI.scratchFolder("attrs-\(file)") + "/out.safetensors"
        let convert = try CLI.run(["convert", path, out])
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(try Checkpoint.open(out).metadata.map { "\($0.0)=\($0.1)" } == expected.map { "\($0.0)=\($0.1)" })
    }
}
