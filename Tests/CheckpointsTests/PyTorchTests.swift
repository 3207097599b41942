import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// PyTorch zip checkpoints: files torch.save wrote (committed fixtures, made by
/// Tests/Fixtures/make_pytorch_fixtures.py) read with torch's values; files Scalpel writes have
/// the structure torch.load expects (and load in torch where it is installed); hostile pickles
/// are refused without running anything.
struct PyTorchTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/pytorch"

    /// new_dtypes*: U16, U32, U64 and float8 tensors, which torch saves through _rebuild_tensor_v3.
    @Test(arguments: ["state_dict", "nested", "parameters", "sharded", "new_dtypes", "new_dtypes_views"])
    func filesTorchSavedReadWithTorchsValues(_ name: String) throws {
        let checkpoint = try Checkpoint.open(Self.fixtures + (name == "sharded" ? "/sharded" : "/\(name).pt"))
        #expect(checkpoint.format == (name == "sharded" ? .pytorchIndex : .pytorch))
        let expected = try Checkpoint.open(Self.fixtures + "/expected_\(name).safetensors")
        #expect(checkpoint.tensors.map(\.name).sorted() == expected.tensors.map(\.name).sorted())
        for entry in expected.tensors {
            let view = try checkpoint.view(named: entry.name)
            #expect(view.dtype == entry.dtype && view.shape == entry.shape, "\(entry.name)")
            #expect(TensorManifest.hex(view) == TensorManifest.hex(expected.view(entry)), "\(entry.name)")
        }
    }

    @Test func tiedWeightsAndViewsAreRecognised() throws {
        let checkpoint = try Checkpoint.open(Self.fixtures + "/state_dict.pt")
        guard case .pytorch(_, let tied)? = checkpoint.extras else {
            Issue.record("no PyTorch extras")
            return
        }
        #expect(tied == [["encoder.weight", "decoder.weight"]])
        // The transposed view is gathered; the tied weight is viewed in place.
        #expect(try checkpoint.view(named: "transposed").fileRange == nil)
        #expect(try checkpoint.view(named: "encoder.weight").fileRange != nil)
    }

    @Test func scalpelFilesHaveTheStructureTorchLoads() throws {
        let folder = try Fixtures.scratchFolder()
        let source = try Checkpoint.open(Self.fixtures + "/state_dict.pt")
        let path = folder + "/model.bin"
        let outputs = source.tensors.map { OutputTensor(name: $0.name, view: source.view($0)) }
        try CheckpointWriter.write(outputs, metadata: [], format: .pytorch, extras: source.extras, to: path)
        try TensorManifest.write(
            source.tensors.map { ($0.name, source.view($0)) },
            extra: [("tied", .array([.array([.string("encoder.weight"), .string("decoder.weight")])]))],
            to: folder + "/manifest.json")
        let result = try Python.run(["pytorch_interop.py", "check", path, folder + "/manifest.json"])
        #expect(result.status == 0, "\(result.output)")
        // Says whether torch.load itself ran (it does where torch is installed).
        #expect(result.output.contains("torch.load: "), "\(result.output)")
        // And Scalpel reads its own file back, the tie kept.
        let reread = try Checkpoint.open(path)
        guard case .pytorch(_, let tied)? = reread.extras else { return }
        #expect(tied == [["encoder.weight", "decoder.weight"]])
    }

    @Test(arguments: [
        ("os_system.pt", FileError.Kind.refusedConstruct, "refuses the global posix.system"),
        ("builtins_eval.pt", .refusedConstruct, "refuses the global builtins.eval"),
        ("huge_memo.pt", .malformed, "memo grows beyond"),
        ("deep.pt", .malformed, "nest more than"),
        ("legacy.pt", .unsupported, "legacy (pre-1.6) PyTorch pickle"),
    ])
    func hostileAndLegacyFilesAreRefused(_ file: String, _ kind: FileError.Kind, _ message: String) throws {
        // The family (a refused construct is never called unsupported, nor the reverse), and
        // the wording of the refused-construct family, which names what was refused.
        #expect {
            try Checkpoint.open(Self.fixtures + "/" + file)
        } throws: { ($0 as? FileError)?.kind == kind && "\($0)".contains(file) && "\($0)".contains(message) }
    }

    @Test func unpicklerRefusesOpcodesAndCallsOutsideTheAllowList() throws {
        func run(_ bytes: [UInt8]) throws {
            var unpickler = RestrictedUnpickler(UnsafeRawBufferPointer(start: nil, count: 0), path: "x")
            try bytes.withUnsafeBytes { buffer in
                unpickler = RestrictedUnpickler(buffer, path: "x")
                _ = try unpickler.run()
            }
        }
        // INST (0x69), OBJ (0x6F), NEWOBJ applied to OrderedDict via REDUCE of a non-global.
        for bad: [UInt8] in [
            [0x80, 0x02, 0x69] + Array("os\nsystem\n".utf8), [0x80, 0x02, 0x28, 0x6F, 0x2E],
            [0x80, 0x02, 0x29, 0x29, 0x52, 0x2E], [0x80, 0x02, 0x2E], [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F],
        ] {
            #expect(throws: CheckpointError.self, "\(bad)") { try run(bad) }
        }
    }
}
