import Foundation
import Tensors
import Testing

@testable import Checkpoints
@testable import Patches

/// Every family of `FileError.Kind` that the readers, the patch layer and the writers throw,
/// each from a real situation: the family (what callers and the exit status branch on), and
/// once per family the wording the user reads. The other tests assert families only, so a
/// message can be reworded without changing behaviour. (`invalidSetting` is thrown by
/// Relevance and Training: KnowledgeAwareSelectionTests; `refusedConstruct` by the pickle
/// reader: PyTorchTests.)
struct FailureKindTests {
    /// The error `body` throws, as a `FileError` (a test failure when it throws none or another).
    static func failure(_ body: () throws -> Void) throws -> FileError {
        do {
            try body()
        } catch let error as FileError {
            return error
        } catch {
            Issue.record("not a FileError: \(error)")
            throw error
        }
        Issue.record("nothing was thrown")
        throw FileError("-", "nothing was thrown")
    }

    static func apply(_ model: String, _ patches: [String], to output: String) throws {
        try PatchApplier.run(
            .apply, model: Checkpoint.open(model), patches: patches.map(PatchFile.open), to: output)
    }

    /// Checks family, category and wording, and that `output` was not written.
    static func expect(
        _ error: FileError, _ kind: FileError.Kind, _ category: FileError.Category, path: String, says: String,
        output: String? = nil
    ) {
        #expect(error.kind == kind, "\(error)")
        #expect(error.kind.category == category, "\(error.kind)")
        #expect(error.path == path, "\(error)")
        #expect("\(error)".contains(says), "\(error)")
        if let output { #expect(!FileManager.default.fileExists(atPath: output), "\(output)") }
    }

    @Test func everyFamilyHasOneCategory() {
        let badInput: [FileError.Kind] = [
            .notFound, .unreadable, .malformed, .corrupt, .unsupported, .refusedConstruct, .incompatible,
        ]
        let checks: [FileError.Kind] = [
            .wrongBase, .notChained, .overlappingSiblings, .outsideMask, .notRevertible, .resultMismatch,
        ]
        let outputs: [FileError.Kind] = [.outputExists, .outputIsInput, .cannotWrite]
        #expect(badInput.allSatisfy { $0.category == .badInput })
        #expect(checks.allSatisfy { $0.category == .checkFailed })
        #expect(outputs.allSatisfy { $0.category == .output })
        #expect(FileError.Kind.invalidSetting.category == .usage)
        #expect(badInput.count + checks.count + outputs.count + 1 == FileError.Kind.allCases.count)
    }

    // MARK: The input cannot be used

    @Test func notFound() throws {
        let folder = try PatchFixtures.scratchFolder()
        let missing = folder + "/missing.spatch"
        Self.expect(
            try Self.failure { _ = try PatchFile.open(missing) }, .notFound, .badInput, path: missing,
            says: "no such file")
        let inMissingFolder = folder + "/nowhere/model.safetensors"
        Self.expect(
            try Self.failure { _ = try Checkpoint.open(inMissingFolder) }, .notFound, .badInput, path: inMissingFolder,
            says: "folder \(folder)/nowhere does not exist")
    }

    @Test func unreadable() throws {
        Self.expect(
            try Self.failure { _ = try MappedFile(path: "/dev/null") }, .unreadable, .badInput, path: "/dev/null",
            says: "not a regular file")
    }

    @Test func malformed() throws {
        let s = try RefusalTests.setUp()
        let truncated = s.folder + "/truncated.spatch"
        try Data(try Data(contentsOf: URL(fileURLWithPath: s.patch)).prefix(40)).write(
            to: URL(fileURLWithPath: truncated))
        let output = s.folder + "/out.safetensors"
        Self.expect(
            try Self.failure { try Self.apply(s.base, [truncated], to: output) }, .malformed, .badInput,
            path: truncated,
            says: "truncated", output: output)
    }

    @Test func corrupt() throws {
        let s = try RefusalTests.setUp()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: s.patch))
        bytes[bytes.count - 1] ^= 0x40
        let damaged = s.folder + "/damaged.spatch"
        try bytes.write(to: URL(fileURLWithPath: damaged))
        let output = s.folder + "/out.safetensors"
        Self.expect(
            try Self.failure { try Self.apply(s.base, [damaged], to: output) }, .corrupt, .badInput, path: damaged,
            says: "does not match its checksum: the patch is corrupt", output: output)
    }

    @Test func unsupported() throws {
        let s = try RefusalTests.setUp()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: s.patch))
        let version = Data("\"version\":\(PatchFormat.version)".utf8)
        let range = try #require(bytes.range(of: version))
        bytes.replaceSubrange(range, with: Data("\"version\":\(PatchFormat.version + 1)".utf8))
        let newer = s.folder + "/newer.spatch"
        try bytes.write(to: URL(fileURLWithPath: newer))
        Self.expect(
            try Self.failure { _ = try PatchFile.open(newer) }, .unsupported, .badInput, path: newer,
            says: "is newer than this Scalpel reads")
    }

    @Test func incompatible() throws {
        let s = try RefusalTests.setUp()
        let base = try Checkpoint.open(s.base)
        let mask = s.folder + "/mask.spatch"
        try MaskWriter.write(positions: [(base.tensors[0].name, [0])], base: base, metadata: [], to: mask)
        let output = s.folder + "/out.safetensors"
        Self.expect(
            try Self.failure { try Self.apply(s.base, [mask], to: output) }, .incompatible, .badInput, path: mask,
            says: "is a mask, not a patch", output: output)
    }

    // MARK: A check said no

    @Test func wrongBase() throws {
        let s = try RefusalTests.setUp()
        let other = try RefusalTests.baseWithOneElementChanged(
            atAPosition: false, folder: s.folder, basePath: s.base, patch: PatchFile.open(s.patch))
        let output = s.folder + "/out.safetensors"
        Self.expect(
            try Self.failure { try Self.apply(other.path, [s.patch], to: output) }, .wrongBase, .checkFailed,
            path: s.patch, says: "differs from the base the patch was made for", output: output)
    }

    @Test func notChained() throws {
        // P1 made against the base; P3 against t2, a state the base with P1 applied is not.
        let s = try MergeTests.setUp(first: [0, 1], second: [5, 6])
        var t3 = s.t2
        t3[40] ^= 0x10
        let b = try Checkpoint.open(s.folder + "/t2.safetensors").view(named: "b")
        try PatchFixtures.write(
            [("a", PatchFixtures.tensor(.f32, [100], t3)), ("b", b)], to: s.folder + "/t3.safetensors")
        let p3 = s.folder + "/p3.spatch"
        _ = try PatchCreator.create(
            base: Checkpoint.open(s.folder + "/t2.safetensors"), tuned: Checkpoint.open(s.folder + "/t3.safetensors"),
            to: p3)
        let output = s.folder + "/out.safetensors"
        Self.expect(
            try Self.failure { try Self.apply(s.base, [s.p1, p3], to: output) }, .notChained, .checkFailed, path: p3,
            says: "the patches are not a chain", output: output)
    }

    @Test func overlappingSiblings() throws {
        let s = try MergeTests.setUp(first: [0, 1, 2], second: [2, 1, 60])
        let output = s.folder + "/out.safetensors"
        let error = try Self.failure { try Self.apply(s.base, [s.p1, s.p2], to: output) }
        #expect(error.kind == .overlappingSiblings && error.kind.category == .checkFailed, "\(error)")
        #expect("\(error)".contains("2 shared elements"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func outsideMask() throws {
        let s = try MergeTests.setUp(first: [0, 1], second: [5, 6])
        let base = try Checkpoint.open(s.base)
        let mask = s.folder + "/mask.spatch"
        try MaskWriter.write(positions: [("a", [0])], base: base, metadata: [], to: mask)
        let output = s.folder + "/masked.spatch"
        Self.expect(
            try Self.failure {
                _ = try PatchCreator.create(
                    base: base, tuned: Checkpoint.open(s.folder + "/t1.safetensors"),
                    options: .init(mask: PatchFile.open(mask)), to: output)
            }, .outsideMask, .checkFailed, path: mask, says: "1 changed element outside the mask (of 2 changed)",
            output: output)
    }

    @Test func notRevertible() throws {
        let s = try MergeTests.setUp(first: [0, 1], second: [1, 2])
        let v1 = s.folder + "/v1.safetensors"
        try Self.apply(s.base, [s.p1], to: v1)
        let output = s.folder + "/out.safetensors"
        Self.expect(
            try Self.failure {
                try PatchReverter.revert(model: Checkpoint.open(v1), patch: PatchFile.open(s.p2), to: output)
            }, .notRevertible, .checkFailed, path: s.p2, says: "was not applied to \(v1)", output: output)
    }

    @Test func resultMismatch() throws {
        // Sound frames, right position fingerprints, a wrong fingerprint of the whole result
        // (a buggy writer): the result is computed, checked and refused before it is placed.
        let folder = try PatchFixtures.scratchFolder()
        let zeros = PatchFixtures.tensor(.f32, [10], [UInt8](repeating: 0, count: 40))
        try PatchFixtures.write([("w", zeros)], to: folder + "/b.safetensors")
        let claimed = TensorState(PatchFixtures.tensor(.f32, [10], [UInt8](repeating: 2, count: 40)))
        let entry = PendingEntry(
            name: "w", operation: .xor, before: TensorState(zeros), after: claimed, nnz: 1,
            indexEncoding: .deltaVarint, streams: [(.index, [3]), (.values, [1, 1, 1, 1])],
            atPositions: PositionFingerprints(
                before: Fingerprint.sha256([0, 0, 0, 0]), after: Fingerprint.sha256([1, 1, 1, 1])))
        let patch = folder + "/wrong-result.spatch"
        try PatchWriter.write(kind: .patch, metadata: [], entries: PatchWriter.compress([entry]), to: patch)
        let output = folder + "/out.safetensors"
        Self.expect(
            try Self.failure { try Self.apply(folder + "/b.safetensors", [patch], to: output) }, .resultMismatch,
            .checkFailed, path: patch, says: "the result does not match the patch's fingerprint", output: output)
    }

    // MARK: The output cannot be written

    @Test func outputExists() throws {
        // A folder of other files (a file named as output exists too, but the library lets
        // run folders rewrite their own files: the command line refuses those, CLITests).
        let s = try RefusalTests.setUp()
        let full = s.folder + "/full"
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: full + "/notes.txt"))
        let error = try Self.failure { try Self.apply(s.base, [s.patch], to: full + "/") }
        #expect(error.kind == .outputExists && error.kind.category == .output, "\(error)")
        #expect("\(error)".contains("is a folder holding 1 file"), "\(error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: full) == ["notes.txt"])
    }

    @Test func outputIsInput() throws {
        let s = try RefusalTests.setUp()
        let before = try Data(contentsOf: URL(fileURLWithPath: s.base))
        Self.expect(
            try Self.failure { try Self.apply(s.base, [s.patch], to: s.base) }, .outputIsInput, .output, path: s.base,
            says: "Scalpel never writes over its own input")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.base)) == before)
    }

    @Test func cannotWrite() throws {
        let s = try RefusalTests.setUp()
        let output = s.folder + "/nowhere/out.safetensors"
        Self.expect(
            try Self.failure { try Self.apply(s.base, [s.patch], to: output) }, .cannotWrite, .output, path: output,
            says: "cannot write: folder \(s.folder)/nowhere does not exist")
    }
}
