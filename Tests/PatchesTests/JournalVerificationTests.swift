import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Patches

/// The undo journal of `apply --in-place` is verified whole before any byte is restored
/// (Formats/undo-journal.md): a damaged, truncated, unverifiable or nonsensical journal is
/// refused, and then neither the model nor the journal changes.
struct JournalVerificationTests {
    static let fieldCases = ReferencePython.fieldCases

    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
    static func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// Puts `model` and `journal` in place, tries to open the model, and checks the refusal:
    /// an error naming the file and saying nothing changed, both files as they were.
    static func expectRefusal(
        model: String, modelBytes: [UInt8], journal: [UInt8], mentioning fragment: String,
        _ label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try write(modelBytes, model)
        try write(journal, InPlaceJournal.path(for: model))
        do {
            _ = try Checkpoint.open(model)
            Issue.record("\(label): restored or opened", sourceLocation: sourceLocation)
        } catch let error as CheckpointError {
            let text = error.description
            #expect(
                text.hasPrefix(model + ": an in-place edit of this file did not finish"), "\(label): \(text)",
                sourceLocation: sourceLocation)
            #expect(
                text.contains("Nothing was changed") && text.contains(fragment), "\(label): \(text)",
                sourceLocation: sourceLocation)
        }
        #expect(try read(model) == modelBytes, "\(label): the model changed", sourceLocation: sourceLocation)
        #expect(
            try read(InPlaceJournal.path(for: model)) == journal, "\(label): the journal changed",
            sourceLocation: sourceLocation)
    }

    @Test func everyDamagedOrTruncatedJournalIsRefusedWithoutTouchingAnything() throws {
        let (model, original, edited, journal) = try InPlaceTests.interruptedEdit()
        // Every byte changed, in two ways (one bit, all bits): never a restore.
        for index in journal.indices {
            for mask: UInt8 in [0x01, 0xFF] {
                var damaged = journal
                damaged[index] ^= mask
                try Self.expectRefusal(
                    model: model, modelBytes: edited, journal: damaged, mentioning: "cannot be used",
                    "byte \(index) ^ \(mask)")
            }
        }
        // Cut short at every length, and grown by a byte.
        for length in 0..<journal.count {
            try Self.expectRefusal(
                model: model, modelBytes: edited, journal: Array(journal.prefix(length)),
                mentioning: length == 0 ? "not a Scalpel undo journal" : "cannot be used", "truncated to \(length)")
        }
        try Self.expectRefusal(
            model: model, modelBytes: edited, journal: journal + [0], mentioning: "damaged", "one byte more")
        // The intact journal still restores the original exactly.
        try Self.write(journal, InPlaceJournal.path(for: model))
        #expect(try Checkpoint.open(model).recoveredInterruptedEdit)
        #expect(try Self.read(model) == original)
    }

    @Test func handedVersionOneJournalsAreRefusedAndStay() throws {
        // fuzz/journal_huge_header_length: a header length of 2^63 + 506 trapped every command;
        // fuzz/journal_flipped_saved_byte: one saved byte changed was "restored", wrongly.
        for name in ["journal_huge_header_length", "journal_flipped_saved_byte"] {
            let folder = try PatchFixtures.scratchFolder(name)
            let model = folder + "/m.safetensors"
            let modelBytes = try Self.read(Self.fieldCases + "/\(name)/m.safetensors")
            let journal = try Self.read(Self.fieldCases + "/\(name)/m.safetensors.scalpel-undo")
            for attempt in 1...2 {
                try Self.expectRefusal(
                    model: model, modelBytes: modelBytes, journal: journal,
                    mentioning: "written by an older Scalpel (journal version 1), which kept no checksum",
                    "\(name) #\(attempt)")
            }
        }
    }

    // MARK: journals whose checksum holds but whose content does not

    /// A version-2 journal with `header` and `data`, closed by a correct checksum, so that
    /// only the content checks stand between it and the file.
    static func journal(_ header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        var length = (declaredLength ?? UInt64(json.count)).littleEndian
        var bytes = InPlaceJournal.magic + withUnsafeBytes(of: &length) { Array($0) } + json + data
        var checksum = StreamingSHA256()
        checksum.update(bytes)
        bytes += checksum.digest()
        return bytes
    }

    static func compressed(_ bytes: [UInt8]) throws -> [UInt8] { try bytes.withUnsafeBytes { try Zstd.compress($0) } }

    @Test func contentIsCheckedEvenWhenTheChecksumHolds() throws {
        let folder = try PatchFixtures.scratchFolder()
        let model = folder + "/m.safetensors"
        try PatchFixtures.write([("w", DiffAuditTests.floats([1, 2, 3, 4]))], to: model)
        let modelBytes = try Self.read(model)
        let size = modelBytes.count
        let headerSize = try Checkpoint.open(model).files[0].headerLength + 8
        // Frames: the saved header, positions [1, 3] of w, and their original bytes.
        let savedHeader = try Self.compressed(Array(modelBytes.prefix(headerSize)))
        var varints: [UInt8] = []
        Varint.append(1, to: &varints)
        Varint.append(2, to: &varints)
        let positions = try Self.compressed(varints)
        let values = try Self.compressed(
            Array(modelBytes[(headerSize + 4)..<(headerSize + 8)] + modelBytes[(headerSize + 12)..<(headerSize + 16)]))
        let data = savedHeader + positions + values
        func frame(_ offset: Int, _ length: Int, _ size: Int) -> String {
            #"{"offset":\#(offset),"length":\#(length),"size":\#(size)}"#
        }
        let headerFrame = frame(0, savedHeader.count, headerSize)
        let positionsFrame = frame(savedHeader.count, positions.count, 2)
        let valuesFrame = frame(savedHeader.count + positions.count, values.count, 8)
        func header(version: Int = 2, targetSize: Int = size, saved: String = headerFrame, region: String? = nil)
            -> String
        {
            let region =
                region
                ?? #"{"offset":\#(headerSize),"element_size":4,"count":2,"positions":\#(positionsFrame),"values":\#(valuesFrame)}"#
            return #"{"version":\#(version),"target_size":\#(targetSize),"header":\#(saved),"regions":[\#(region)]}"#
        }
        func region(
            offset: Int = headerSize, elementSize: Int = 4, count: Int = 2, positions: String = positionsFrame,
            values: String = valuesFrame
        ) -> String {
            #"{"offset":\#(offset),"element_size":\#(elementSize),"count":\#(count),"positions":\#(positions),"values":\#(values)}"#
        }
        // Positions 1 then 1 again, and a position past the file's end, as their own frames.
        var repeated: [UInt8] = []
        Varint.append(1, to: &repeated)
        Varint.append(0, to: &repeated)
        var far: [UInt8] = []
        Varint.append(1, to: &far)
        Varint.append(UInt64(size), to: &far)
        let cases: [(String, [UInt8], String)] = [
            (
                "header length beyond the journal", Self.journal(header(), data: data, declaredLength: UInt64.max),
                "header length 18446744073709551615 runs past its end"
            ),
            ("header not JSON", Self.journal("{nope", data: data), "header is not valid JSON"),
            (
                "newer version", Self.journal(header(version: 3), data: data),
                "journal version 3, newer than this Scalpel reads (2)"
            ),
            ("version 1 with a checksum", Self.journal(header(version: 1), data: data), "declares journal version 1"),
            (
                "another file's size", Self.journal(header(targetSize: size + 4), data: data),
                "is for a file of \(size + 4) bytes and this one has \(size)"
            ),
            (
                "frame offset overflowing", Self.journal(header(saved: frame(Int.max, 10, headerSize)), data: data),
                "runs past the journal's data"
            ),
            (
                "frame past the data", Self.journal(header(saved: frame(0, data.count + 1, headerSize)), data: data),
                "runs past the journal's data"
            ),
            (
                "frame size beyond zstd's ratio",
                Self.journal(header(saved: frame(0, savedHeader.count, Int.max)), data: data),
                "more than zstd expands to"
            ),
            (
                "frame of the wrong size",
                Self.journal(header(saved: frame(0, savedHeader.count, headerSize - 1)), data: data),
                "does not decompress"
            ),
            (
                "negative frame length", Self.journal(header(saved: frame(0, -1, headerSize)), data: data),
                "no frame of non-negative offset"
            ),
            (
                "saved header of 4 bytes",
                Self.journal(
                    header(saved: frame(data.count, try Self.compressed([0, 0, 0, 0]).count, 4)),
                    data: data + (try Self.compressed([0, 0, 0, 0]))), "saved header is 4 bytes, outside 8…\(size)"
            ),
            (
                "element size 3", Self.journal(header(region: region(elementSize: 3)), data: data),
                "element size 3, not 1, 2, 4 or 8"
            ),
            (
                "region inside the saved header", Self.journal(header(region: region(offset: 2)), data: data),
                "starts at byte 2, outside the file's data"
            ),
            (
                "region past the file", Self.journal(header(region: region(offset: size + 1)), data: data),
                "outside the file's data"
            ),
            (
                "count beyond its positions", Self.journal(header(region: region(count: Int.max)), data: data),
                "counts 9223372036854775807 positions in 2 bytes"
            ),
            (
                "count below its positions", Self.journal(header(region: region(count: 1)), data: data),
                "holds 8 bytes of values for 1 elements"
            ),
            ("negative count", Self.journal(header(region: region(count: -1)), data: data), "counts -1 positions"),
            (
                "repeated position",
                Self.journal(
                    header(region: region(positions: frame(data.count, try Self.compressed(repeated).count, 2))),
                    data: data + (try Self.compressed(repeated))), "positions are malformed, repeated"
            ),
            (
                "position past the file",
                Self.journal(
                    header(region: region(positions: frame(data.count, try Self.compressed(far).count, far.count))),
                    data: data + (try Self.compressed(far))), "past the end of the file"
            ),
            (
                "no regions",
                Self.journal(#"{"version":2,"target_size":\#(size),"header":\#(headerFrame)}"#, data: data),
                "no \"regions\" array"
            ),
        ]
        for (label, journal, fragment) in cases {
            try Self.expectRefusal(model: model, modelBytes: modelBytes, journal: journal, mentioning: fragment, label)
        }
        // The same journal, sound: it restores (so the refusals above are the checks' doing).
        var edited = modelBytes
        edited[headerSize + 4] ^= 0xFF
        edited[headerSize + 15] ^= 0x01
        try Self.write(edited, model)
        try Self.write(Self.journal(header(), data: data), InPlaceJournal.path(for: model))
        #expect(try Checkpoint.open(model).recoveredInterruptedEdit)
        #expect(try Self.read(model) == modelBytes)
    }
}
