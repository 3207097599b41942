import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Damaged zip archives (.npz, PyTorch): every length-prefixed record is read only inside the
/// structure that holds it, so nothing outside the file (or the record) is ever looked at, and
/// member names are bytes.
struct HostileZipTests {
    static let floats: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]
    static let npy = HandMadeArchives.npy(
        header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: floats)

    static func open(_ bytes: [UInt8], as name: String = "a.npz") throws -> (Result<Checkpoint, Error>, String) {
        let folder = try Fixtures.scratchFolder()
        try Fixtures.write(bytes, to: folder + "/" + name)
        return (Result { try Checkpoint.open(folder + "/" + name) }, folder + "/" + name)
    }

    static func le(_ value: Int, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    @Test func fieldCaseExtraFieldPastItsEndIsRefused() throws {
        let path = ReferencePython.packageRoot + "/Tests/Fixtures/field-cases/npz_zip64_extra_field_past_end.npz"
        #expect {
            try Checkpoint.open(path)
        } throws: {
            "\($0)" == path
                + ": zip member \"a.npy\": an extra field record of 65535 bytes runs past the 4-byte extra field (damaged archive)"
        }
    }

    @Test(
        arguments: [
            (
                "a record header cut short", [0x01, 0x00],
                "zip member \"a.npy\": its extra field ends inside a record header (damaged archive)"
            ),
            (
                "a record longer than the field", [0x01, 0x00, 0x10, 0x00] + [UInt8](repeating: 0, count: 8),
                "zip member \"a.npy\": an extra field record of 16 bytes runs past the 12-byte extra field (damaged archive)"
            ),
            (
                "a zip64 record too short for what is marked", [0x01, 0x00, 0x08, 0x00] + le(152, 8),
                "zip member \"a.npy\": its compressed size is marked as stored in the zip64 extra field, which is too short to hold it (damaged archive)"
            ),
        ] as [(String, [UInt8], String)])
    func extraFieldRecordsStayInsideTheirField(_ label: String, _ extra: [UInt8], _ expected: String) throws {
        let (result, path) = try Self.open(
            HandMadeArchives.zip([.init(name: Array("a.npy".utf8), data: Self.npy, size32: 0xFFFF_FFFF, extra: extra)]))
        #expect(throws: CheckpointError.self) { try result.get() }
        if case .failure(let error) = result { #expect("\(error)" == path + ": " + expected, "\(label)") }
    }

    @Test func zip64SizesAfterOtherRecordsAreRead() throws {
        // An extended timestamp record (0x5455), then zip64 with both sizes.
        let extra: [UInt8] =
            [0x55, 0x54, 0x05, 0x00, 0x01, 0, 0, 0, 0] + [0x01, 0x00, 0x10, 0x00] + Self.le(Self.npy.count, 8)
            + Self.le(Self.npy.count, 8)
        let (result, _) = try Self.open(
            HandMadeArchives.zip([.init(name: Array("a.npy".utf8), data: Self.npy, size32: 0xFFFF_FFFF, extra: extra)]))
        #expect(try result.get().view(named: "a").floatValues() == [1, 2])
    }

    @Test func membersAreNamedByTheirBytes() throws {
        // The same name twice is ambiguous; "é" as U+00E9 and as e + U+0301 are two names.
        let twice = HandMadeArchives.zip([
            .init(name: Array("a.npy".utf8), data: Self.npy), .init(name: Array("a.npy".utf8), data: Self.npy),
        ])
        let (result, path) = try Self.open(twice)
        if case .failure(let error) = result {
            #expect(
                "\(error)" == path
                    + ": zip archive: the member name \"a.npy\" appears twice, so which one is meant is ambiguous (damaged archive)"
            )
        } else {
            Issue.record("a duplicate member name was accepted")
        }
        let nfc = Array("\u{E9}.npy".utf8)
        let nfd = Array("e\u{301}.npy".utf8)
        let bytes = HandMadeArchives.zip([.init(name: nfc, data: Self.npy), .init(name: nfd, data: Self.npy)])
        let archive = try bytes.withUnsafeBytes { try ZipArchive($0, path: "x.npz") }
        #expect(archive.members.map(\.nameBytes) == [nfc, nfd])
    }

    @Test func namesFromTheFileCannotBreakTheMessageLine() throws {
        // A newline and a terminal escape in a member name are written as escapes.
        let (result, path) = try Self.open(
            HandMadeArchives.zip([.init(name: Array("a\n\u{1B}[31m.txt".utf8), data: [1])]))
        if case .failure(let error) = result {
            #expect(
                "\(error)" == path
                    + #": zip member "a\n\u{1B}[31m.txt" is not a NumPy array (.npy): not an .npz checkpoint"#)
        } else {
            Issue.record("a member that is not an array was accepted")
        }
    }

    @Test func npzMemberNamesEndInNpyAsBytes() throws {
        // U+0600 joins the character after it into one grapheme, so as Swift text the name
        // "x\u{600}.npy" does not end in ".npy"; as bytes it does, and NumPy reads it as "x\u{600}".
        let (result, _) = try Self.open(HandMadeArchives.zip([.init(name: Array("x\u{600}.npy".utf8), data: Self.npy)]))
        let checkpoint = try result.get()
        #expect(checkpoint.tensors.map { Array($0.name.utf8) } == [Array("x\u{600}".utf8)])
    }

    @Test func pytorchStoragesAndPickleAreFoundByBytes() throws {
        // Two storages whose keys are canonically equivalent but different bytes, in an
        // archive folder whose name ends in U+0600 (so "/data.pkl" is no Swift-text suffix).
        let nfc = "\u{E9}"
        let nfd = "e\u{301}"
        let pickle = PickleBuilder.stateDict([
            ("a", { $0.tensor(key: nfc, count: 1, shape: [1], stride: [1]) }),
            ("b", { $0.tensor(key: nfd, count: 1, shape: [1], stride: [1]) }),
        ])
        let bytes = HandMadeArchives.zip([
            .init(name: Array("m\u{600}/data.pkl".utf8), data: pickle),
            .init(name: Array("m\u{600}/data/\(nfc)".utf8), data: [0, 0, 0x80, 0x3F]),
            .init(name: Array("m\u{600}/data/\(nfd)".utf8), data: [0, 0, 0, 0x40]),
        ])
        let (result, _) = try Self.open(bytes, as: "m.pt")
        let checkpoint = try result.get()
        #expect(try checkpoint.view(named: "a").floatValues() == [1])
        #expect(try checkpoint.view(named: "b").floatValues() == [2])
    }

    @Test func fortranArraysWithHugeDimensionsAndNoElementsRead() throws {
        // Fortran strides of (0, 2^62, 2^62, 4) overflow 64 bits; the array has no elements.
        let member = HandMadeArchives.npy(
            header:
                "{'descr': '<f4', 'fortran_order': True, 'shape': (0, 4611686018427387904, 4611686018427387904, 4), }",
            data: [])
        let (result, _) = try Self.open(HandMadeArchives.zip([.init(name: Array("e.npy".utf8), data: member)]))
        let view = try result.get().view(named: "e")
        #expect(view.shape == [0, 1 << 62, 1 << 62, 4] && view.byteCount == 0)
    }
}
