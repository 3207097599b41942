import Foundation
import TestSupport
import Testing

/// A patch whose header states an impossible count (fuzz/spatch_remove_entry_huge_nnz.spatch):
/// refused by every command with one line, nothing written.
struct HostilePatchCommandTests {
    static let fieldCases = ReferencePython.fieldCases

    @Test func aPatchWithAnImpossibleCountIsRefusedByAuditAndApply() throws {
        let folder = try CLI.scratchFolder()
        let patch = Self.fieldCases + "/spatch_remove_entry_huge_nnz.spatch"
        let base = Self.fieldCases + "/spatch_base.safetensors"
        let expected =
            "Error: \(patch): tensor \"gone\": remove entry has nnz 9223372036854775801, but the removed tensor has 6 elements (nnz is its element count)\n"
        let audit = try CLI.run(["audit", patch])
        #expect(audit.status == 2 && audit.stderr == expected, "\(audit.stderr)")
        let out = folder + "/out.safetensors"
        let apply = try CLI.run(["apply", base, patch, "-o", out])
        #expect(apply.status == 2 && apply.stderr == expected, "\(apply.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }
}
