import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Patches

/// Counts, sizes and offsets a patch's header states are checked against the tensor of their
/// entry and the bytes the file stores, when the patch is opened: a hostile header is refused
/// with a message, never a trap or an allocation beyond what its frames can expand to.
struct HostilePatchTests {
    static let fieldCases = ReferencePython.fieldCases

    @Test func handedRemoveEntryWithHugeNnzIsRefused() throws {
        // fuzz/spatch_remove_entry_huge_nnz.spatch: audit and apply trapped summing nnz.
        let path = Self.fieldCases + "/spatch_remove_entry_huge_nnz.spatch"
        #expect {
            try PatchFile.open(path)
        } throws: { error in
            "\(error)" == path
                + ": tensor \"gone\": remove entry has nnz 9223372036854775801, but the removed tensor has 6 elements (nnz is its element count)"
        }
    }

    /// A patch with every kind of entry: `w` (xor, delta-varint), `m` (xor, bitmap), `gone`
    /// (remove), `re` (replace), `new` (add).
    static func patch(in folder: String) throws -> String {
        let bytes: (Int, UInt8) -> [UInt8] = { count, seed in
            (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(seed)) }
        }
        try PatchFixtures.write(
            [
                ("w", DiffAuditTests.floats([1, 2, 3, 4])), ("m", PatchFixtures.tensor(.u8, [16], bytes(16, 0))),
                ("gone", PatchFixtures.tensor(.i32, [6], bytes(24, 1))),
                ("re", PatchFixtures.tensor(.f32, [2, 3], bytes(24, 2))),
            ], to: folder + "/a.safetensors")
        try PatchFixtures.write(
            [
                ("w", DiffAuditTests.floats([1, 2.5, 3, 4])), ("m", PatchFixtures.tensor(.u8, [16], bytes(16, 9))),
                ("re", PatchFixtures.tensor(.f16, [3, 2], bytes(12, 3))),
                ("new", PatchFixtures.tensor(.u8, [5], bytes(5, 4))),
            ], to: folder + "/b.safetensors")
        let path = folder + "/p.spatch"
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/a.safetensors"), tuned: Checkpoint.open(folder + "/b.safetensors"),
            to: path)
        return path
    }

    /// `value` with the member at `path` (object keys) set to `new`.
    static func setting(_ value: JSONValue, _ path: [String], to new: JSONValue) -> JSONValue {
        guard let key = path.first, case .object(let members) = value else { return new }
        return .object(members.map { $0.0 == key ? ($0.0, setting($0.1, Array(path.dropFirst()), to: new)) : $0 })
    }

    /// The patch at `path` with `changes` made to the entry of tensor `name`, written beside it.
    static func rewritten(_ path: String, entry name: String, _ changes: [([String], JSONValue)]) throws -> String {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let length = Int(bytes[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try bytes[16..<(16 + length)].withUnsafeBytes { try JSONValue.parse($0) }
        let entries = try #require(header["entries"]?.arrayValue).map { entry in
            entry["name"]?.stringValue == name ? changes.reduce(entry) { setting($0, $1.0, to: $1.1) } : entry
        }
        let json = Array(setting(header, ["entries"], to: .array(entries)).serialized.utf8)
        var newLength = UInt64(json.count).littleEndian
        let out = path + ".\(name).\(changes.map { $0.0.joined(separator: ".") }.joined(separator: "+")).spatch"
        try Data(PatchFormat.magic + withUnsafeBytes(of: &newLength) { Array($0) } + json + bytes[(16 + length)...])
            .write(to: URL(fileURLWithPath: out))
        return out
    }

    @Test func everyCountIsCheckedAgainstItsTensor() throws {
        let folder = try PatchFixtures.scratchFolder()
        let path = try Self.patch(in: folder)
        let sound = try PatchFile.open(path)
        #expect(sound.entries.map(\.name).sorted() == ["gone", "m", "new", "re", "w"])
        #expect(
            sound.entry(named: "m")?.indexEncoding == .bitmap && sound.entry(named: "w")?.indexEncoding == .deltaVarint)
        let wIndex = try #require(sound.entry(named: "w")?.frame(.index))
        let huge = JSONValue.integer(Int.max)
        let cases: [(String, [([String], JSONValue)], String)] = [
            (
                "gone", [(["nnz"], .integer(Int.max - 6))],
                "remove entry has nnz 9223372036854775801, but the removed tensor has 6 elements (nnz is its element count)"
            ),
            (
                "new", [(["nnz"], .integer(4))],
                "add entry has nnz 4, but the added tensor has 5 elements (nnz is its element count)"
            ),
            (
                "re", [(["nnz"], .integer(Int.max))],
                "replace entry has nnz 9223372036854775807, but the new tensor has 6 elements (nnz is its element count)"
            ),
            ("w", [(["nnz"], .integer(5))], "xor entry has nnz 5 above the tensor's 4 elements"),
            (
                "w", [(["nnz"], .integer(2)), (["frames", "values", "size"], .integer(8))],
                "xor entry has nnz 2, more positions than its \(wIndex.rawLength)-byte index can hold"
            ),
            (
                "w", [(["frames", "index", "size"], huge)],
                "frame \"index\" claims 9223372036854775807 bytes from \(wIndex.length) stored bytes, more than zstd expands to (at most 32768 times): the patch is corrupt"
            ),
            // A one-byte tensor of Int.max elements: its bitmap size once overflowed computing it.
            (
                "m", [(["before", "shape"], .array([huge])), (["after", "shape"], .array([huge]))],
                "xor entry bitmap size does not match the tensor"
            ),
        ]
        for (name, changes, expected) in cases {
            let hostile = try Self.rewritten(path, entry: name, changes)
            #expect {
                try PatchFile.open(hostile)
            } throws: { error in
                "\(error)" == "\(hostile): tensor \"\(name)\": \(expected)"
            }
        }
    }

    @Test func bitmapSizeAndSumsDoNotOverflow() {
        #expect(IndexEncoding.bitmapSize(elementCount: Int.max) == Int.max / 8 + 1)
        #expect(IndexEncoding.bitmapSize(elementCount: 16) == 2 && IndexEncoding.bitmapSize(elementCount: 17) == 3)
        #expect(IndexEncoding.bitmapSize(elementCount: 0) == 0)
        #expect([Int.max - 6, 6, 9].saturatingSum() == Int.max)
        #expect([3, 4].saturatingSum() == 7)
    }
}
