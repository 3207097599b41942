import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// The field cases for PyTorch and zip files (Tests/Fixtures/field-cases), through the
/// command line as a user meets them: files PyTorch 2.15 saved with float8 and uint16 tensors
/// are inspected and converted with their dtypes and values; damaged files found by fuzzing
/// end with one line naming the file and the problem and exit status 2, never a crash.
struct PyTorchFieldCaseTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/field-cases/"

    @Test(
        arguments: [
            (
                "torch_float8_e4m3fn.pt", "q      F8_E4M3  [8]", ["w": DType.f32, "q": .f8e4m3, "scale": .f32],
                "c4c1baae2e3a4144"
            ),
            ("torch_float8_e5m2.pt", "q     F8_E5M2  [8]", ["w": .f32, "q": .f8e5m2], "c2c0bdb7373d4042"),
            ("torch_uint16.pt", "idx   U16    [3]", ["w": .f32, "idx": .u16], "01000200ffff"),
        ] as [(String, String, [String: DType], String)])
    func modernTorchFilesInspectAndConvert(
        _ file: String, _ row: String, _ dtypes: [String: DType], _ newDTypeHex: String
    ) throws {
        let inspect = try CLI.run(["inspect", Self.fixtures + file])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains(row), "\(inspect.stdout)")
        let folder = try CLI.scratchFolder()
        let out = folder + "/out.safetensors"
        let convert = try CLI.run(["convert", Self.fixtures + file, out])
        #expect(convert.status == 0, "\(convert.stderr)")
        let converted = try Checkpoint.open(out)
        #expect(Dictionary(uniqueKeysWithValues: converted.tensors.map { ($0.name, $0.dtype) }) == dtypes)
        let newDType = try #require(converted.tensors.first { $0.dtype != .f32 })
        #expect(converted.view(newDType).withBytes { $0.map { String(format: "%02x", $0) }.joined() } == newDTypeHex)
        #expect(try converted.view(named: "w").floatValues() == [0, 1, 2, 3, 4, 5])
    }

    @Test(arguments: [
        (
            "pt_view_offset_overflow.pt",
            "tensor \"weight\" [2, 3] with strides [3, 1] from offset 9223372036854775807 reaches past the 6 F32 elements of its storage data/0: the file is damaged"
        ),
        ("pt_self_containing_list.pt", "data.pkl: a list contains itself: not supported by Scalpel (at byte 7)"),
        (
            "npz_zip64_extra_field_past_end.npz",
            "zip member \"a.npy\": an extra field record of 65535 bytes runs past the 4-byte extra field (damaged archive)"
        ),
    ])
    func fuzzedFilesEndWithOneLineAndStatusTwo(_ file: String, _ problem: String) throws {
        for arguments in [
            ["inspect", Self.fixtures + file],
            ["convert", Self.fixtures + file, try CLI.scratchFolder() + "/out.safetensors"],
        ] {
            let result = try CLI.run(arguments)
            #expect(result.status == 2, "\(arguments[0]): \(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr == "Error: \(Self.fixtures + file): \(problem)\n", "\(arguments[0])")
        }
    }
}
