import Checkpoints
import Dispatch
import Foundation
import Tensors

/// `apply --in-place`: rewrites only the bytes a patch changes in a safetensors file.
///
/// Only patches whose every entry changes values (`xor`) qualify: adding, removing or
/// reshaping a tensor moves bytes, which needs a new file. The patch stack is recorded in the
/// file's header when the header has room (files written by `scalpel apply` keep some).
/// Crash safety comes from `InPlaceJournal`: the original bytes of every element about to
/// change are synced to `FILE.scalpel-undo` first, and the next command that opens the file
/// restores them if the edit did not finish.
public enum InPlaceApplier {
    /// Set (to a number of tensors) only by the test suite: the process exits abruptly after
    /// changing that many tensors, as a crash would, to prove the journal restores the file.
    static let faultInjectionVariable = "SCALPEL_TEST_CRASH_AFTER_TENSORS"

    /// The sorted union of two sorted, duplicate-free position lists.
    static func union(_ a: [Int], _ b: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0
        var j = 0
        while i < a.count, j < b.count {
            if a[i] < b[j] {
                out.append(a[i])
                i += 1
            } else if b[j] < a[i] {
                out.append(b[j])
                j += 1
            } else {
                out.append(a[i])
                i += 1
                j += 1
            }
        }
        out += a[i...]
        out += b[j...]
        return out
    }

    /// Applies `patches` (XOR entries only) to the single safetensors file at `path` in place:
    /// the bytes about to change go to an undo journal first (`InPlaceJournal`), then the
    /// changed elements are written through a shared mapping, synced, and the journal removed.
    /// An interrupted run is undone from the journal the next time the file is opened.
    /// - Parameter record: writes the patches' ids into the file's `scalpel.patches` record
    ///   (refused when the header has no room for it: `.cannotWrite`); false leaves the
    ///   header as it is.
    /// - Throws: `PatchError` for another format or a sharded model, a mask, an entry that is
    ///   not an XOR, a damaged patch, a model in another state than the patches expect (the
    ///   file is then untouched), a result whose fingerprint does not match (the file is
    ///   restored); `AlreadyAppliedError` when some of the patches are in the model already.
    @discardableResult
    public static func apply(
        _ path: String, patches: [PatchFile], policy: CompositionPolicy = .strict, record: Bool = true
    ) throws -> PatchApplier.Summary {
        let model = try Checkpoint.open(path)
        guard model.format == .safetensors, model.files.count == 1 else {
            throw PatchError(
                path, "--in-place works on a single safetensors file; write a new file with -o instead",
                kind: .unsupported)
        }
        for patch in patches {
            guard patch.header.kind == .patch else {
                throw PatchError(
                    patch.path, "is a mask, not a patch: a mask holds positions only and cannot be applied",
                    kind: .incompatible)
            }
            try patch.verifyIntegrity()
            if let moving = patch.entries.first(where: { $0.operation != .xor }) {
                throw PatchError(
                    patch.path,
                    """
                    tensor \"\(moving.name)\" is \
                    \(moving.operation == .add ? "added" : moving.operation == .remove ? "removed" : "replaced"): \
                    --in-place only changes values; write a new file with -o instead
                    """
                )
            }
        }
        let plans = try PatchApplier.prepare(.apply, model: model, patches: patches, policy: policy)

        // The new header, same length as the old one, or a refusal before anything changes.
        let file = model.files[0]
        var metadata = model.metadata
        AppliedPatches.write(AppliedPatches.read(metadata) + patches.map(\.id), into: &metadata)
        var json = SafetensorsWriter.headerJSON(model.tensors, dataStart: 8 + file.headerLength, metadata: metadata)
        if record {
            guard json.count <= file.headerLength else {
                throw PatchError(
                    path,
                    """
                    no room in the header to record the applied patches (\(json.count - file.headerLength) bytes \
                    short); write a new file once with -o (Scalpel leaves room there for later in-place applies), \
                    or pass --no-record
                    """,
                    kind: .cannotWrite)
            }
            json += [UInt8](repeating: 0x20, count: file.headerLength - json.count)
        } else {
            json = []
        }

        // Decode everything first: a bad frame must fail before the file changes.
        var work: [(TensorEntry, [(positions: [Int], planes: [UInt8])], String?)] = []
        for name in plans.names.sorted(by: { $0.precedesByBytes($1) }) {
            guard let tensor = model.entry(named: name), let plan = plans[name] else { continue }
            let decoded = try plan.steps.map { (try $0.patch.positions($0.entry), try $0.patch.xorPlanes($0.entry)) }
            work.append((tensor, decoded, plan.expectedResult))
        }
        let regions = work.map { tensor, decoded, _ in
            InPlaceJournal.Region(
                offset: tensor.offset, elementSize: tensor.dtype.size,
                positions: decoded.dropFirst().reduce(decoded.first?.positions ?? []) { union($0, $1.positions) })
        }
        let mapping = try MappedFile(path: path, writable: true)
        try InPlaceJournal.record(mapping, headerLength: file.headerLength, regions: regions)

        // Tensors are independent: change and check them on all cores.
        let crashAfter = ProcessInfo.processInfo.environment[faultInjectionVariable].flatMap(Int.init)
        let finished = Counter()
        let slots = ResultSlots<String?>(count: work.count)  // the name of a tensor whose result is wrong
        let output = UncheckedSendable(mapping.mutableBytes)
        let items = work
        DispatchQueue.concurrentPerform(iterations: items.count) { i in
            let (tensor, decoded, expected) = items[i]
            let bytes = UnsafeMutableRawBufferPointer(
                rebasing: output.value[tensor.offset..<(tensor.offset + tensor.byteCount)])
            for (positions, planes) in decoded {
                planes.withUnsafeBytes {
                    BytePlanes.applyXor($0, into: bytes, at: positions, elementSize: tensor.dtype.size)
                }
            }
            if let crashAfter, finished.increment() >= crashAfter { _exit(70) }
            // Composed tensors (no whole fingerprint expected) were checked position by position.
            let wrong = expected.map { Fingerprint.sha256(UnsafeRawBufferPointer(bytes)) != $0 } == true
            slots.set(i, .success(wrong ? tensor.name : nil))
        }
        if let wrong = try slots.values().compactMap({ $0 }).first {
            try InPlaceJournal.recoverIfNeeded(path)
            throw PatchError(
                path, "tensor \"\(wrong)\": the result does not match the patch's fingerprint; the file was restored",
                kind: .resultMismatch)
        }
        // each element once, however many patches change it
        let changed = regions.reduce(0) { $0 + $1.positions.count }
        for (i, byte) in json.enumerated() { mapping.mutableBytes[8 + i] = byte }
        do {
            try mapping.sync()
        } catch {
            throw PatchError(
                path, "\(error); the journal \(InPlaceJournal.path(for: path)) restores the file on the next command")
        }
        InPlaceJournal.finish(path)
        return PatchApplier.Summary(
            touchedTensors: work.count, changedElements: changed, outputs: [path],
            notes: plans.names.sorted { $0.precedesByBytes($1) }.flatMap { plans[$0]?.notes ?? [] })
    }
}

/// A thread-safe count of finished tensors (for the fault injection point).
private final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()

    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
