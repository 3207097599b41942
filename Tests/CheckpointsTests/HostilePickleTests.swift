import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Damaged and hostile PyTorch pickles: every count, offset and stride is checked with
/// overflow-checked arithmetic against the storage that backs it, values cannot contain
/// themselves or nest without bound, and nothing walks a value in more than linear time.
/// Each is refused with one line naming the file and the problem, or read as torch reads it.
struct HostilePickleTests {
    static func open(
        _ entries: [(String, (inout PickleBuilder) -> Void)],
        storages: [(String, [UInt8])] = [("0", Array(repeating: 0, count: 24))]
    ) throws -> Result<Checkpoint, Error> {
        let folder = try Fixtures.scratchFolder()
        try HandMadeArchives.pytorch(pickle: PickleBuilder.stateDict(entries), storages: storages, at: folder + "/m.pt")
        return Result { try Checkpoint.open(folder + "/m.pt") }
    }

    static func message(_ result: Result<Checkpoint, Error>) -> String {
        guard case .failure(let error) = result else { return "read without error" }
        let text = "\(error)"
        return text.range(of: "/m.pt: ").map { String(text[$0.upperBound...]) } ?? text
    }

    @Test(
        arguments: [
            (
                "offset near Int.max", [2, 3], [3, 1], Int.max,
                "tensor \"w\" [2, 3] with strides [3, 1] from offset 9223372036854775807 reaches past the 6 F32 elements of its storage data/0: the file is damaged"
            ),
            (
                "a step that overflows", [3], [1 << 62], 0,
                "tensor \"w\" [3] with strides [4611686018427387904] from offset 0 reaches past the 6 F32 elements of its storage data/0: the file is damaged"
            ),
            (
                "steps whose sum overflows", [2, 2], [Int.max, Int.max], 0,
                "tensor \"w\" [2, 2] with strides [9223372036854775807, 9223372036854775807] from offset 0 reaches past the 6 F32 elements of its storage data/0: the file is damaged"
            ),
            (
                "a shape whose product overflows", [1 << 32, 1 << 32], [1 << 32, 1], 0,
                "tensor \"w\": shape [4294967296, 4294967296] has more elements than fit in 64 bits"
            ),
            (
                "a view past the end", [2, 3], [3, 1], 1,
                "tensor \"w\" [2, 3] with strides [3, 1] from offset 1 reaches past the 6 F32 elements of its storage data/0: the file is damaged"
            ),
            // Byte 192 is the REDUCE that applies _rebuild_tensor_v2 to the bad arguments.
            (
                "a negative offset", [2], [1], -1,
                "data.pkl: a tensor's storage offset is not a non-negative integer (at byte 192)"
            ),
            (
                "a negative stride", [2], [-1], 0,
                "data.pkl: a tensor stride is not a non-negative integer (at byte 192)"
            ),
        ] as [(String, [Int], [Int], Int, String)])
    func viewArithmeticIsCheckedNotTrapped(
        _ label: String, _ shape: [Int], _ stride: [Int], _ offset: Int, _ expected: String
    ) throws {
        let result = try Self.open([
            ("w", { $0.tensor(key: "0", count: 6, offset: offset, shape: shape, stride: stride) })
        ])
        #expect(Self.message(result) == expected, "\(label)")
    }

    @Test(
        arguments: [
            (
                "a typed storage whose byte count overflows", "FloatStorage", 1 << 62,
                "storage data/0 holds 24 bytes, fewer than the 4611686018427387904 elements the pickle declares"
            ),
            (
                "an untyped storage larger than its member", "UntypedStorage", Int.max,
                "storage data/0 holds 24 bytes, fewer than the 9223372036854775807 bytes the pickle declares"
            ),
        ] as [(String, String, Int, String)])
    func storageSizesAreCheckedAgainstTheArchive(_ label: String, _ type: String, _ count: Int, _ expected: String)
        throws
    {
        let result = try Self.open([
            (
                "w",
                {
                    $0.tensor(
                        type, key: "0", count: count, shape: [2], stride: [1],
                        dtype: type == "UntypedStorage" ? "uint16" : nil)
                }
            )
        ])
        #expect(Self.message(result) == expected, "\(label)")
    }

    @Test func oddViewsTorchAcceptsReadAsTorchReadsThem() throws {
        let values: [Float] = [1, 2, 3, 4]
        let checkpoint = try Self.open(
            [
                // An empty tensor reads nothing, wherever its offset points.
                ("empty", { $0.tensor(key: "0", count: 4, offset: Int.max, shape: [0, 3], stride: [3, 1]) }),
                // A dimension of length 1 never steps, whatever its stride.
                ("column", { $0.tensor(key: "0", count: 4, offset: 1, shape: [2, 1], stride: [2, Int.max]) }),
                // A single element at the storage's last place.
                ("last", { $0.tensor(key: "0", count: 4, offset: 3, shape: [], stride: []) }),
            ], storages: [("0", values.withUnsafeBytes { Array($0) })]
        ).get()
        #expect(try checkpoint.view(named: "empty").shape == [0, 3])
        #expect(try checkpoint.view(named: "column").floatValues() == [2, 4])
        #expect(try checkpoint.view(named: "last").floatValues() == [4])
    }

    @Test func gatheredViewsMayNotOutgrowTheFile() throws {
        // Transposed views of one 64×64 storage: each is gathered into a copy, and four of them
        // would hold more bytes than the whole file.
        let views = (0..<4).map { k in
            (
                "t\(k)",
                { (p: inout PickleBuilder) in p.tensor(key: "0", count: 4096, shape: [64, 64], stride: [1, 64]) }
            )
        }
        let result = try Self.open(views, storages: [("0", Array(repeating: 0, count: 4 * 4096))])
        #expect(
            Self.message(result).hasPrefix(
                "tensor \"t1\": its strided views would be copied into more memory than the file's "),
            "\(Self.message(result))")
        #expect(
            Self.message(result).hasSuffix(
                " bytes (views repeating one storage); Scalpel does not support this: save the tensors with .contiguous()"
            ))
        // One fits: the file is larger than one copy.
        let two = try Self.open(Array(views.prefix(1)), storages: [("0", Array(repeating: 0, count: 4 * 4096))])
        #expect(try two.get().tensors.count == 1)
    }

    static func run(_ pickle: [UInt8]) -> String {
        pickle.withUnsafeBytes { buffer in
            var unpickler = RestrictedUnpickler(buffer, path: "x.pt")
            do {
                _ = try unpickler.run()
                return "ran"
            } catch {
                return "\(error)"
            }
        }
    }

    @Test(
        arguments: [
            // ] q0 h0 a h0 .  — the handed case's pickle.
            (
                "a list that contains itself", [0x5D, 0x71, 0, 0x68, 0, 0x61, 0x68, 0, 0x2E],
                "x.pt: data.pkl: a list contains itself: not supported by Scalpel (at byte 7)"
            ),
            // } q0 X"k" h0 s .
            (
                "a dict that contains itself", [0x7D, 0x71, 0, 0x58, 1, 0, 0, 0, 0x6B, 0x68, 0, 0x73, 0x2E],
                "x.pt: data.pkl: a dict contains itself: not supported by Scalpel (at byte 13)"
            ),
            // ] q0 h0 TUPLE1 a .  — the list is placed in a tuple, then the tuple appended to it.
            (
                "a list changed after being placed", [0x5D, 0x71, 0, 0x68, 0, 0x85, 0x61, 0x2E],
                "x.pt: data.pkl: a list or dict is changed after being placed in another value, as pickle does only for a value that contains itself: not supported by Scalpel (at byte 8)"
            ),
        ] as [(String, [UInt8], String)])
    func valuesNeverContainThemselves(_ label: String, _ body: [UInt8], _ expected: String) {
        #expect(Self.run([0x80, 0x02] + body) == expected, "\(label)")
    }

    @Test func nestingIsBoundedWhateverTheContainer() {
        // Dicts nested 100,000 deep (each SETITEM puts the inner dict into the outer one).
        var dicts: [UInt8] = [0x80, 0x02, 0x7D]
        for _ in 0..<100_000 { dicts += [0x8C, 1, 0x6B, 0x7D] }
        dicts += [UInt8](repeating: 0x73, count: 100_000) + [0x2E]
        #expect(Self.run(dicts).hasPrefix("x.pt: data.pkl: values nest more than 200 deep (at byte "))
        // Lists of 65 items nested 1,000 deep.
        var lists: [UInt8] = [0x80, 0x02]
        for _ in 0..<1000 { lists += [0x5D, 0x28] + [UInt8](repeating: 0x4E, count: 64) + [0x65] }
        lists += [UInt8](repeating: 0x61, count: 999) + [0x2E]
        #expect(Self.run(lists).hasPrefix("x.pt: data.pkl: values nest more than 200 deep (at byte "))
    }

    @Test func sharedValuesAreNotWalkedAgain() {
        // A tuple of two references to the previous one, 150 times: 2^150 paths through a
        // value of 150 nodes. Measuring it must not follow the paths.
        var pickle: [UInt8] = [0x80, 0x02, 0x4E]
        for _ in 0..<150 { pickle += [0x71, 0, 0x68, 0, 0x86] }
        pickle += [0x2E]
        #expect(Self.run(pickle) == "ran")
    }

    @Test func fieldCasesAreRefusedWithOneLine() throws {
        let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/field-cases/"
        #expect {
            try Checkpoint.open(fixtures + "pt_view_offset_overflow.pt")
        } throws: {
            "\($0)" == fixtures
                + "pt_view_offset_overflow.pt: tensor \"weight\" [2, 3] with strides [3, 1] from offset 9223372036854775807 reaches past the 6 F32 elements of its storage data/0: the file is damaged"
        }
        #expect {
            try Checkpoint.open(fixtures + "pt_self_containing_list.pt")
        } throws: {
            "\($0)" == fixtures
                + "pt_self_containing_list.pt: data.pkl: a list contains itself: not supported by Scalpel (at byte 7)"
        }
    }
}
