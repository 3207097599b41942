import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Patches

/// Bad patches and wrong models are refused with a clear message, and nothing is written.
struct RefusalTests {
    /// A base, a tuned model and the patch between them, in a fresh folder.
    static func setUp(_ label: String = #function) throws -> (
        folder: String, base: String, tuned: String, patch: String
    ) {
        let folder = try PatchFixtures.scratchFolder(label)
        try PatchFixtures.writeRandomPair(
            seed: 31, fraction: 0.2, structural: true, in: folder,
            baseName: "base.safetensors", tunedName: "tuned.safetensors")
        _ = try PatchCreator.create(
            base: Checkpoint.open(folder + "/base.safetensors"), tuned: Checkpoint.open(folder + "/tuned.safetensors"),
            to: folder + "/p.spatch")
        return (folder, folder + "/base.safetensors", folder + "/tuned.safetensors", folder + "/p.spatch")
    }

    /// Runs apply and returns its error's text, checking that no output appeared.
    static func applyError(base: String, patch: String, folder: String) -> String {
        applyFailure(base: base, patch: patch, folder: folder).message
    }

    /// Runs apply and returns the failure's family (nil when it is not a `FileError`) and
    /// text, checking that no output appeared.
    static func applyFailure(base: String, patch: String, folder: String) -> (kind: FileError.Kind?, message: String) {
        let output = folder + "/out.safetensors"
        do {
            try PatchApplier.run(.apply, model: Checkpoint.open(base), patches: [PatchFile.open(patch)], to: output)
            return (nil, "(accepted)")
        } catch {
            let left = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            if left.contains(where: { $0.hasPrefix("out.safetensors") || $0.hasPrefix(".out.safetensors") }) {
                return (nil, "(left output behind) \(error)")
            }
            return ((error as? FileError)?.kind, "\(error)")
        }
    }

    /// The base with one element of the patch's first `xor` tensor changed: one the patch
    /// changes too (`atAPosition`), or one it leaves alone.
    static func baseWithOneElementChanged(atAPosition: Bool, folder: String, basePath: String, patch: PatchFile) throws
        -> (path: String, tensor: String, element: Int)
    {
        let touched = try #require(patch.entries.first { $0.operation == .xor && $0.nnz < $0.elementCount })
        let positions = Set(try patch.positions(touched))
        let element = try #require((0..<touched.elementCount).first { positions.contains($0) == atAPosition })
        let base = try Checkpoint.open(basePath)
        var tensors = base.tensors.map { (name: $0.name, view: base.view($0)) }
        let i = try #require(tensors.firstIndex { $0.name == touched.name })
        var bytes = Array(tensors[i].view.bytes)
        bytes[element * tensors[i].view.dtype.size] ^= 0x01
        tensors[i].view = PatchFixtures.tensor(tensors[i].view.dtype, tensors[i].view.shape, bytes)
        let path = folder + "/other-\(atAPosition).safetensors"
        try PatchFixtures.write(tensors.map { ($0.name, $0.view) }, to: path)
        return (path, touched.name, element)
    }

    @Test func aBaseWithOneElementChangedIsRefusedNamingTheTensor() throws {
        let (folder, basePath, tunedPath, patchPath) = try Self.setUp()
        let patch = try PatchFile.open(patchPath)
        // An element the patch does not change: refused, and --force applies it exactly on top.
        let other = try Self.baseWithOneElementChanged(
            atAPosition: false, folder: folder, basePath: basePath, patch: patch)
        let (kind, message) = Self.applyFailure(base: other.path, patch: patchPath, folder: folder)
        #expect(kind == .wrongBase, "\(message)")
        #expect(message.contains("tensor \"\(other.tensor)\""), "\(message)")
        #expect(message.contains("--force applies it exactly on top"), "\(message)")
        let summary = try PatchApplier.run(
            .apply, model: Checkpoint.open(other.path), patches: [patch], policy: .force,
            to: folder + "/forced.safetensors")
        #expect(summary.notes.count == 1 && summary.notes[0].contains("applied exactly on top"), "\(summary.notes)")
        // The result is the tuned model with that one element as the other base has it.
        let forced = try Checkpoint.open(folder + "/forced.safetensors")
        let tuned = try Checkpoint.open(tunedPath)
        for entry in tuned.tensors {
            var expected = try tuned.view(named: entry.name).withBytes { Array($0) }
            if entry.name == other.tensor { expected[other.element * entry.dtype.size] ^= 0x01 }
            #expect(try forced.view(named: entry.name).withBytes { Array($0) } == expected, "\(entry.name)")
        }

        // An element the patch changes: refused, --force or not, and nothing written.
        let clash = try Self.baseWithOneElementChanged(
            atAPosition: true, folder: folder, basePath: basePath, patch: patch)
        for policy in [CompositionPolicy.strict, .force] {
            do {
                try PatchApplier.run(
                    .apply, model: Checkpoint.open(clash.path), patches: [patch], policy: policy,
                    to: folder + "/clash.safetensors")
                Issue.record("an XOR onto elements that differ was accepted (\(policy))")
            } catch {
                #expect((error as? FileError)?.kind == .wrongBase, "\(error)")
                #expect("\(error)".contains("tensor \"\(clash.tensor)\""), "\(error)")
                #expect("\(error)".contains("--force or not"), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: folder + "/clash.safetensors"))
        }
    }

    @Test func revertRefusesAModelThePatchDidNotProduce() throws {
        let (folder, basePath, _, patchPath) = try Self.setUp()
        do {
            try PatchApplier.run(
                .revert, model: Checkpoint.open(basePath), patches: [PatchFile.open(patchPath)],
                to: folder + "/out.safetensors")
            Issue.record("revert of the unpatched base was accepted")
        } catch {
            #expect((error as? FileError)?.kind == .wrongBase, "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/out.safetensors"))
    }

    @Test func everyFlippedByteInTheDataSectionIsCaught() throws {
        let (folder, basePath, _, patchPath) = try Self.setUp()
        let original = try Data(contentsOf: URL(fileURLWithPath: patchPath))
        let patch = try PatchFile.open(patchPath)
        let dataStart = original.count - patch.entries.reduce(0) { $0 + $1.storedBytes }
        var positions = Array(
            stride(from: dataStart, to: original.count, by: max(1, (original.count - dataStart) / 40)))
        positions.append(original.count - 1)
        for position in positions {
            var corrupt = original
            corrupt[position] ^= 0x40
            let path = folder + "/corrupt.spatch"
            try corrupt.write(to: URL(fileURLWithPath: path))
            let (kind, message) = Self.applyFailure(base: basePath, patch: path, folder: folder)
            #expect(kind == .corrupt && message.hasPrefix(path + ": "), "byte \(position): \(message)")
        }
    }

    @Test(arguments: [
        ("truncated", FileError.Kind.malformed, "truncated"),
        ("truncated header", .malformed, "truncated"),
        ("wrong magic", .malformed, "not a .spatch patch"),
        ("safetensors given as a patch", .malformed, "not a .spatch patch: this is a safetensors"),
        ("future version", .unsupported, "version 3 is newer than this Scalpel reads"),
        ("not JSON", .malformed, "header is not valid JSON"),
        ("extra bytes", .malformed, "belong to no entry"),
    ])
    func malformedPatchFilesAreRefused(label: String, kind: FileError.Kind, expected: String) throws {
        let (folder, basePath, _, patchPath) = try Self.setUp(label)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: patchPath))
        switch label {
        case "truncated": bytes.removeLast(7)
        case "truncated header": bytes = bytes.prefix(40)
        case "wrong magic": bytes[1] = UInt8(ascii: "X")
        case "safetensors given as a patch": bytes = try Data(contentsOf: URL(fileURLWithPath: basePath))
        case "future version":
            let text = Data("\"version\":\(PatchFormat.version)".utf8)
            let range = try #require(bytes.range(of: text))
            bytes.replaceSubrange(range, with: Data("\"version\":\(PatchFormat.version + 1)".utf8))
        case "not JSON": bytes[16] = UInt8(ascii: "[")
        default: bytes.append(contentsOf: [0, 0, 0])
        }
        let path = folder + "/bad.spatch"
        try bytes.write(to: URL(fileURLWithPath: path))
        let failure = Self.applyFailure(base: basePath, patch: path, folder: folder)
        #expect(failure.kind == kind && failure.message.hasPrefix(path + ": "), "\(failure.message)")
        // What the user reads says which of the family's faults it is.
        #expect(failure.message.contains(expected), "\(label): \(failure.message)")
    }

    /// A patch whose positions are invalid though its checksums are right (a buggy writer).
    static func craftedPatch(_ index: [UInt8], nnz: Int, folder: String) throws -> (base: String, patch: String) {
        let values = [UInt8](repeating: 1, count: nnz * 4)
        let base: PatchFixtures.Model = [("w", PatchFixtures.tensor(.f32, [10], [UInt8](repeating: 0, count: 40)))]
        try PatchFixtures.write(base, to: folder + "/b.safetensors")
        let state = TensorState(base[0].1)
        let entry = PendingEntry(
            name: "w", operation: .xor, before: state, after: state, nnz: nnz,
            indexEncoding: .deltaVarint, streams: [(.index, index), (.values, values)],
            atPositions: PositionFingerprints(before: state.sha256, after: state.sha256))
        try PatchWriter.write(
            kind: .patch, metadata: [], entries: PatchWriter.compress([entry]), to: folder + "/crafted.spatch")
        return (folder + "/b.safetensors", folder + "/crafted.spatch")
    }

    @Test func positionsOutOfRangeOrUnsortedAreRefused() throws {
        let folder = try PatchFixtures.scratchFolder()
        let cases: [([UInt8], Int, String)] = [
            ([12], 1, "index 12 is out of range for a tensor of 10 elements"),
            ([3, 0], 2, "not strictly increasing"),
            ([3, 2], 3, "xor entry has nnz 3, more positions than its 2-byte index can hold"),
            ([3, 0x82, 0x00], 3, "holds 2 indices, the header says 3"),  // 2 as a two-byte varint
            ([0x80], 1, "malformed varint"),
        ]
        for (index, nnz, expected) in cases {
            let (base, patch) = try Self.craftedPatch(index, nnz: nnz, folder: folder)
            let (kind, message) = Self.applyFailure(base: base, patch: patch, folder: folder)
            #expect(kind == .malformed && message.contains(expected), "\(message)")
        }
    }

    @Test func createRefusesChangesOutsideTheMask() throws {
        let (folder, basePath, _, _) = try Self.setUp()
        var random = RandomSource(seed: 3)
        let base = try Checkpoint.open(basePath)
        let tensors = base.tensors.map { ($0.name, base.view($0)) }
        let tuned = PatchFixtures.tuned(tensors, fraction: 0.1, structural: false, &random)
        try PatchFixtures.write(tuned, to: folder + "/masked-tuned.safetensors")
        // A mask allowing only the first tensor's first element.
        try MaskWriter.write(positions: [(tensors[0].0, [0])], base: base, metadata: [], to: folder + "/mask.spatch")
        let mask = try PatchFile.open(folder + "/mask.spatch")
        #expect(mask.header.kind == .mask)
        do {
            _ = try PatchCreator.create(
                base: base, tuned: Checkpoint.open(folder + "/masked-tuned.safetensors"),
                options: .init(mask: mask), to: folder + "/masked.spatch")
            Issue.record("changes outside the mask were accepted")
        } catch {
            #expect((error as? FileError)?.kind == .outsideMask, "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/masked.spatch"))
        // A mask cannot be applied.
        #expect(Self.applyFailure(base: basePath, patch: folder + "/mask.spatch", folder: folder).kind == .incompatible)
    }

    @Test func createWithAMaskAcceptsChangesInsideIt() throws {
        let folder = try PatchFixtures.scratchFolder()
        var random = RandomSource(seed: 8)
        let base: PatchFixtures.Model = [
            ("w", PatchFixtures.tensor(.f32, [100], random.bytes(400))),
            ("b", PatchFixtures.tensor(.f32, [4], random.bytes(16))),
        ]
        var changed = Array(base[0].1.bytes)
        for element in [3, 50, 99] { changed[element * 4] ^= 0x10 }
        try PatchFixtures.write(base, to: folder + "/b.safetensors")
        try PatchFixtures.write(
            [("w", PatchFixtures.tensor(.f32, [100], changed)), base[1]], to: folder + "/t.safetensors")
        let checkpoint = try Checkpoint.open(folder + "/b.safetensors")
        try MaskWriter.write(
            positions: [("w", [3, 50, 99, 7])], base: checkpoint, metadata: [], to: folder + "/m.spatch")
        let summary = try PatchCreator.create(
            base: checkpoint, tuned: Checkpoint.open(folder + "/t.safetensors"),
            options: .init(mask: PatchFile.open(folder + "/m.spatch")), to: folder + "/p.spatch")
        #expect(summary.changedElements == 3)
        #expect(
            try PatchFile.open(folder + "/p.spatch").positions(PatchFile.open(folder + "/p.spatch").entries[0]) == [
                3, 50, 99,
            ])
    }
}

/// The Python reference reader makes the specification's reader checks too.
struct ReferenceReaderChecksTests {
    @Test func theReferenceReaderRefusesAnEntryCountThatDoesNotFitItsTensor() throws {
        let fixtures = ReferencePython.fieldCases
        let result = try PatchFixtures.runPython([
            PatchFixtures.referenceReader, "info", fixtures + "/spatch_remove_entry_huge_nnz.spatch",
        ])
        #expect(
            result.status == 1 && result.output.contains("nnz must equal the element count for remove"),
            "\(result.output)")
    }
}
