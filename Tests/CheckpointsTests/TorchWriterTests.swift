import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Scalpel writes every dtype it has the way torch.save does: legacy storage classes and
/// `_rebuild_tensor_v2` where torch uses them, `_rebuild_tensor_v3` with an untyped storage for
/// U16, U32, U64 and float8, so `torch.load(weights_only=True)` loads the file.
struct TorchWriterTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures"

    /// Every dtype Scalpel has is written so that torch loads it (checked by Python's pickle
    /// machine with torch's semantics, and by torch.load where torch is installed) and reads
    /// back bit for bit.
    @Test func everyDTypeIsWrittenSoTorchLoadsIt() throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/all.pt"
        let tensors = Fixtures.everyDType()
        try PyTorchWriter.write(tensors.map { OutputTensor(name: $0.0, view: $0.1) }, extras: nil, to: path)
        try TensorManifest.write(tensors, to: folder + "/manifest.json")
        let result = try Python.run(["pytorch_interop.py", "check", path, folder + "/manifest.json"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok: \(tensors.count) tensors"), "\(result.output)")
        let reread = try Checkpoint.open(path)
        #expect(reread.tensors.map(\.name) == tensors.map(\.0))
        for (name, original) in tensors {
            #expect(try reread.view(named: name).isBitwiseEqual(to: original), "\(name)")
        }
    }

    /// The pickle Scalpel writes describes the same object torch.save's does (the same calls,
    /// the same persistent ids): compared with a file torch wrote.
    @Test func picklesMatchTheOnesTorchWrites() throws {
        let folder = try Fixtures.scratchFolder()
        let reference = Self.fixtures + "/pytorch/new_dtypes.pt"
        let source = try Checkpoint.open(reference)
        let path = folder + "/new_dtypes.pt"
        try PyTorchWriter.write(
            source.tensors.map { OutputTensor(name: $0.name, view: source.view($0)) }, extras: nil, to: path)
        let result = try Python.run(["pytorch_interop.py", "same-pickle", path, reference])
        #expect(result.status == 0, "\(result.output)")
        #expect(
            result.output.contains("same pickled object: collections.OrderedDict with 6 entries"), "\(result.output)")
    }

    @Test func storageKeysFollowTiesMatchedAsBytes() throws {
        // "café" spelled with U+00E9 and with e + U+0301 are two tensors; only the second is
        // tied to "tie" (equal bytes), so it shares that storage and the first does not.
        let nfc = "caf\u{E9}"
        let nfd = "cafe\u{301}"
        let tensors = [(nfc, [UInt8](repeating: 1, count: 4)), (nfd, [2, 2, 2, 2]), ("tie", [2, 2, 2, 2])].map {
            OutputTensor(name: $0.0, view: Fixtures.tensor(.f32, [1], bytes: $0.1))
        }
        #expect(try PyTorchWriter.storages(tensors, tied: [[nfd, "tie"]], path: "x.pt") == [0, 1, 1])
        #expect(try PyTorchWriter.storages(tensors, tied: [[nfc, "tie"]], path: "x.pt") == [0, 1, 2])
    }
}
