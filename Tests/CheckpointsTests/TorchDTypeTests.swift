import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// PyTorch 2.1 and later save dtypes that have no legacy storage class (uint16/32/64,
/// float8) through `_rebuild_tensor_v3` and an untyped storage: Scalpel reads them as torch
/// does. Constructs torch's `weights_only` loader accepts but Scalpel cannot represent are
/// named as not supported; only names torch refuses are called unsafe.
struct TorchDTypeTests {
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures"

    /// The field cases (saved by PyTorch 2.15), with the bytes torch.load gives each tensor.
    @Test(
        arguments: [
            (
                "torch_float8_e4m3fn.pt", [("w", DType.f32, [2, 3]), ("q", .f8e4m3, [8]), ("scale", .f32, [1])],
                // q: -3, -2.25, -1.25, -0.4375, 0.4375, 1.25, 2.25, 3 in float8_e4m3fn; scale: 0.5.
                [
                    "w": "000000000000803f000000400000404000008040 0000a040", "q": "c4c1baae2e3a4144",
                    "scale": "0000003f",
                ]
            ),
            (
                "torch_float8_e5m2.pt", [("w", .f32, [2, 3]), ("q", .f8e5m2, [8])],
                // q: -3, -2, -1.25, -0.4375, 0.4375, 1.25, 2, 3 in float8_e5m2.
                ["w": "000000000000803f000000400000404000008040 0000a040", "q": "c2c0bdb7373d4042"]
            ),
            (
                "torch_uint16.pt", [("w", .f32, [2, 3]), ("idx", .u16, [3])],
                ["w": "000000000000803f000000400000404000008040 0000a040", "idx": "01000200ffff"]
            ),
        ] as [(String, [(String, DType, [Int])], [String: String])])
    func fieldCasesReadWithTheirDTypesAndValues(
        _ file: String, _ tensors: [(String, DType, [Int])], _ values: [String: String]
    ) throws {
        let checkpoint = try Checkpoint.open(Self.fixtures + "/field-cases/" + file)
        #expect(checkpoint.tensors.map(\.name) == tensors.map(\.0))
        for (name, dtype, shape) in tensors {
            let view = try checkpoint.view(named: name)
            #expect(view.dtype == dtype && view.shape == shape, "\(name)")
            #expect(TensorManifest.hex(view) == values[name]?.replacingOccurrences(of: " ", with: ""), "\(name)")
        }
    }

    /// (Their values are compared with torch's by PyTorchTests.filesTorchSavedReadWithTorchsValues.)
    @Test func stridedViewsOfNewDTypesAreGathered() throws {
        let checkpoint = try Checkpoint.open(Self.fixtures + "/pytorch/new_dtypes_views.pt")
        #expect(
            checkpoint.tensors.map { "\($0.name) \($0.dtype.rawValue) \(Shape.describe($0.shape))" }
                == ["u16.transposed U16 [4, 3]", "f8.odd F8_E4M3 [4]", "u64.element U64 []"])
        // The transpose and the odd-element slice are gathered; the single element is viewed in place.
        #expect(try checkpoint.view(named: "u16.transposed").fileRange == nil)
        #expect(try checkpoint.view(named: "f8.odd").fileRange == nil)
        #expect(try checkpoint.view(named: "u64.element").fileRange != nil)
    }

    static func refusal(
        _ entries: [(String, (inout PickleBuilder) -> Void)],
        storages: [(String, [UInt8])] = [("0", [UInt8](repeating: 0, count: 16))]
    ) throws -> String {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/m.pt"
        try HandMadeArchives.pytorch(pickle: PickleBuilder.stateDict(entries), storages: storages, at: path)
        do {
            _ = try Checkpoint.open(path)
            return "read without error"
        } catch {
            return "\(error)".replacingOccurrences(of: folder, with: "DIR")
        }
    }

    /// Constructs torch.load(weights_only=True) accepts but Scalpel cannot represent: named as
    /// not supported, with the tensor, and never called unsafe.
    @Test(arguments: [
        ("complex64 through _rebuild_tensor_v3", "a torch.complex64 tensor"),
        ("a ComplexFloatStorage", "a tensor in a torch.ComplexFloatStorage"),
        ("_rebuild_qtensor", "a quantized tensor (torch._utils._rebuild_qtensor)"),
        ("_rebuild_sparse_tensor", "a sparse tensor (torch._utils._rebuild_sparse_tensor)"),
        ("a DTensor", "a distributed tensor (torch.distributed.tensor.DTensor)"),
        ("a Parameter around a quantized tensor", "a quantized tensor (torch._utils._rebuild_qtensor)"),
        (
            "an expanded view",
            "repeats elements of its storage of 4 (an expanded or overlapping view), which is not supported by Scalpel"
        ),
    ])
    func legitimateConstructsScalpelLacksAreNamedAsUnsupported(_ construct: String, _ words: String) throws {
        let value: (inout PickleBuilder) -> Void
        switch construct {
        case "complex64 through _rebuild_tensor_v3":
            value = { $0.tensor("UntypedStorage", key: "0", count: 16, shape: [2], stride: [1], dtype: "complex64") }
        case "a ComplexFloatStorage":
            value = { $0.tensor("ComplexFloatStorage", key: "0", count: 2, shape: [2], stride: [1]) }
        case "_rebuild_qtensor", "_rebuild_sparse_tensor":
            value = {
                $0.global("torch._utils", construct)
                $0.op(0x28)
                $0.int(1)
                $0.op(0x74, 0x52)
            }
        case "a DTensor":
            value = {
                $0.global("torch.distributed.tensor", "DTensor")
                $0.op(0x29, 0x81)
            }
        case "a Parameter around a quantized tensor":
            value = {
                $0.global("torch._utils", "_rebuild_parameter")
                $0.global("torch._utils", "_rebuild_qtensor")
                $0.op(0x29, 0x52)
                $0.op(0x89)
                $0.orderedDict()
                $0.op(0x87, 0x52)
            }
        default:
            value = { $0.tensor(key: "0", count: 4, shape: [3, 4], stride: [1, 0]) }
        }
        let message = try Self.refusal([("w", value)])
        #expect(message.contains("DIR/m.pt: "), "\(message)")
        #expect(message.contains("tensor \"w\""), "\(message)")
        #expect(message.contains(words), "\(message)")
        #expect(message.contains("not supported by Scalpel"), "\(message)")
        #expect(!message.contains("unsafe"), "\(message)")
    }

    @Test func namesTorchRefusesAreCalledUnsafe() throws {
        let message = try Self.refusal([
            (
                "w",
                {
                    $0.global("torch.nn.modules.linear", "Linear")
                    $0.op(0x29, 0x81)
                }
            )
        ])
        #expect(
            message
                == "DIR/m.pt: data.pkl: refuses the global torch.nn.modules.linear.Linear: torch.load(weights_only=True) refuses it too, and unpickling it would import and run code the file names (unsafe); Scalpel runs nothing from the file (a whole model saved with torch.save(model): save model.state_dict() instead) (at byte 36)"
        )
    }

    /// Values torch accepts beside the tensors (a torch.Size, a set, bytes through
    /// _codecs.encode, a Counter, a big integer) are kept out of the tensors and named.
    @Test func otherValuesTorchAcceptsAreSkipped() throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/m.pt"
        let pickle = PickleBuilder.stateDict([
            ("w", { $0.tensor(key: "0", count: 2, shape: [2], stride: [1]) }),
            (
                "size",
                {
                    $0.global("torch", "Size")
                    $0.tuple([2, 3])
                    $0.op(0x85, 0x52)
                }
            ),
            (
                "set",
                {
                    $0.global("builtins", "set")
                    $0.op(0x5D, 0x85, 0x52)
                }
            ),
            (
                "blob",
                {
                    $0.global("_codecs", "encode")
                    $0.string("ab")
                    $0.string("latin1")
                    $0.op(0x86, 0x52)
                }
            ),
            (
                "counts",
                {
                    $0.global("collections", "Counter")
                    $0.op(0x7D, 0x85, 0x52)
                }
            ),
            (
                "big",
                {
                    $0.op(0x8A, 9)
                    $0.bytes += [UInt8](repeating: 0xFF, count: 8) + [0x7F]
                }
            ),
            ("empty_set", { $0.op(0x8F) }),
        ])
        try HandMadeArchives.pytorch(pickle: pickle, storages: [("0", [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40])], at: path)
        let checkpoint = try Checkpoint.open(path)
        #expect(checkpoint.tensors.map(\.name) == ["w"])
        #expect(try checkpoint.view(named: "w").floatValues() == [1, 2])
        #expect(
            checkpoint.metadata.first { $0.0 == "pytorch.not_tensors" }?.1 == "size, set, blob, counts, big, empty_set")
    }
}
