import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Damaged and unverifiable undo journals from the command line: one line of error, a non-zero
/// exit, neither the model nor the journal changed (Formats/undo-journal.md).
struct JournalCommandTests {
    static let fieldCases = ReferencePython.fieldCases

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func unusableJournalsStopEveryCommandWithOneLineAndChangeNothing() throws {
        for name in ["journal_huge_header_length", "journal_flipped_saved_byte"] {
            let folder = try CLI.scratchFolder(name)
            let model = folder + "/m.safetensors"
            let journal = model + ".scalpel-undo"
            try Self.bytes(Self.fieldCases + "/\(name)/m.safetensors").write(to: URL(fileURLWithPath: model))
            try Self.bytes(Self.fieldCases + "/\(name)/m.safetensors.scalpel-undo").write(
                to: URL(fileURLWithPath: journal))
            let modelBytes = try Self.bytes(model)
            let journalBytes = try Self.bytes(journal)
            for arguments in [["inspect", model], ["inspect", model], ["diff", model, model]] {
                let result = try CLI.run(arguments)
                #expect(result.status == 2, "\(name) \(arguments)")
                #expect(
                    result.stderr.hasPrefix(
                        "Error: \(model): an in-place edit of this file did not finish, and its undo journal \(journal) cannot be used: it was written by an older Scalpel (journal version 1)"
                    ), "\(result.stderr)")
                #expect(result.stderr.filter { $0 == "\n" }.count == 1, "\(result.stderr)")
                #expect(try Self.bytes(model) == modelBytes && Self.bytes(journal) == journalBytes)
            }
            // Deleting the journal, as the message offers, accepts the file as it is.
            try FileManager.default.removeItem(atPath: journal)
            #expect(try CLI.run(["inspect", model]).status == 0)
        }
    }

    @Test func aDamagedJournalOfAGenuineCrashIsRefusedAndTheIntactOneRestores() throws {
        let (base, patch) = try InPlaceCommandTests.valuesOnlyPatch(in: try CLI.scratchFolder())
        let original = try Self.bytes(base)
        let crashed = try CLI.run(
            ["apply", base, patch, "--in-place", "--no-record"], environment: ["SCALPEL_TEST_CRASH_AFTER_TENSORS": "1"])
        #expect(crashed.status == 70)
        let journal = base + ".scalpel-undo"
        let intact = try Self.bytes(journal)
        let edited = try Self.bytes(base)
        #expect(edited != original)

        var damaged = intact
        damaged[damaged.count / 2] ^= 0x10
        try damaged.write(to: URL(fileURLWithPath: journal))
        let refused = try CLI.run(["inspect", base])
        #expect(refused.status == 2)
        #expect(
            refused.stderr.contains(
                "cannot be used: it is damaged (its checksum does not match its content: truncated or changed)"),
            "\(refused.stderr)")
        #expect(try Self.bytes(base) == edited && Self.bytes(journal) == damaged)
        // apply --in-place does not write a new journal over the damaged one either.
        #expect(try CLI.run(["apply", base, patch, "--in-place", "--no-record"]).status == 2)
        #expect(try Self.bytes(base) == edited && Self.bytes(journal) == damaged)

        try intact.write(to: URL(fileURLWithPath: journal))
        let restored = try CLI.run(["inspect", "--summary", base])
        #expect(restored.status == 0)
        #expect(
            restored.stderr
                == "note: \(base): an earlier in-place edit did not finish; the original bytes were restored from \(journal)\n"
        )
        #expect(try Self.bytes(base) == original)
        #expect(!FileManager.default.fileExists(atPath: journal))
    }
}
