import Checkpoints
import Dispatch
import Foundation
import Tensors

/// Builds the patch that turns one checkpoint into another: every element whose bits differ.
public enum PatchCreator {
    /// What `create` may change and records.
    public struct Options: Sendable {
        /// Only these positions may change; any other difference is an error.
        public var mask: PatchFile?
        /// Key–value pairs written into the patch's metadata, in order.
        public var metadata: [(String, String)]

        /// Options with a mask (nil: any change allowed) and metadata.
        public init(mask: PatchFile? = nil, metadata: [(String, String)] = []) {
            self.mask = mask
            self.metadata = metadata
        }
    }

    /// What `create` wrote.
    public struct Summary: Sendable {
        /// Entries in the patch (tensors changed, added or removed).
        public let entryCount: Int
        /// Elements the patch changes (added and removed tensors count whole).
        public let changedElements: Int
        /// Size of the written file, in bytes.
        public let patchBytes: Int
    }

    /// Writes to `path` the patch that turns `base` into `tuned` (Formats/spatch.md): an `xor`
    /// entry for each tensor whose bits differ (the positions that differ and the XOR of their
    /// bytes), `add` and `remove` for tensors only one side has, `replace` where the dtype or
    /// shape changes. Tensors are compared by name bytes, elements by bits (so -0.0 vs 0.0 and
    /// NaN payloads count). The file is written to a temporary file and moved into place.
    /// - Throws: `PatchError` with `.outsideMask` when a mask is given and a change falls
    ///   outside it, `.wrongBase` when the mask was made for another base; reading errors of
    ///   either checkpoint; output errors. Nothing is written then.
    public static func create(base: Checkpoint, tuned: Checkpoint, options: Options = Options(), to path: String) throws
        -> Summary
    {
        let allowed = try options.mask.map { try maskPositions($0, base: base) }
        let jobs: [(TensorEntry?, TensorEntry?)] =
            base.tensors.map { ($0, tuned.entry(named: $0.name)) }
            + tuned.tensors.filter { base.entry(named: $0.name) == nil }.map { (nil, $0) }

        let results = ResultSlots<PendingEntry?>(count: jobs.count)
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            results.set(
                i,
                Result {
                    let (old, new) = jobs[i]
                    defer {
                        // Both tensors are done with: keep resident memory near one tensor pair.
                        if let old { base.releasePages(of: old) }
                        if let new { tuned.releasePages(of: new) }
                        WorkProgress.add((old ?? new)?.byteCount ?? 0)
                    }
                    guard let name = (old ?? new)?.name else { return nil }
                    return try entry(
                        old: old.map(base.view), new: new.map(tuned.view), name: name,
                        allowed: allowed, maskPath: options.mask?.path)
                })
        }
        let pending = try results.values().compactMap { $0 }
        let compressed = try PatchWriter.compress(pending)
        try PatchWriter.write(kind: .patch, metadata: options.metadata, entries: compressed, to: path)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return Summary(
            entryCount: pending.count,
            changedElements: pending.reduce(0) { $0 + $1.nnz }, patchBytes: size)
    }

    /// The entry for one tensor name, or nil when nothing changed.
    static func entry(old: TensorView?, new: TensorView?, name: String, allowed: NameMap<Set<Int>>?, maskPath: String?)
        throws -> PendingEntry?
    {
        switch (old, new) {
        case (let old?, let new?) where old.dtype == new.dtype && old.shape == new.shape:
            let (changed, xor) = ChangedElements.scan(
                old.bytes, new.bytes, elementSize: old.dtype.size, keepingXor: true)
            if changed.isEmpty { return nil }
            if let allowed {
                let permitted = allowed[name] ?? []
                let outside = changed.reduce(0) { $0 + (permitted.contains($1) ? 0 : 1) }
                if outside > 0 {
                    throw PatchError(
                        maskPath ?? "mask",
                        """
                        tensor \"\(name)\": \(outside) changed element\(outside == 1 ? "" : "s") outside the mask \
                        (of \(changed.count) changed)
                        """,
                        kind: .outsideMask)
                }
            }
            let (encoding, index) = IndexEncoding.encode(changed, elementCount: old.elementCount)
            let planes = xor.withUnsafeBytes { BytePlanes.split($0, elementSize: old.dtype.size) }
            let size = old.dtype.size
            let atPositions = PositionFingerprints(
                before: Fingerprint.sha256(PositionFingerprints.gather(old.bytes, at: changed, elementSize: size)),
                after: Fingerprint.sha256(PositionFingerprints.gather(new.bytes, at: changed, elementSize: size)))
            return PendingEntry(
                name: name, operation: .xor, before: TensorState(old), after: TensorState(new),
                nnz: changed.count, indexEncoding: encoding, streams: [(.index, index), (.values, planes)],
                atPositions: atPositions)
        case (let old?, let new?):
            if allowed != nil {
                throw PatchError(
                    maskPath ?? "mask",
                    """
                    tensor \"\(name)\" changes from \(TensorState(old).typeDescription) to \
                    \(TensorState(new).typeDescription), which a mask cannot allow
                    """,
                    kind: .outsideMask)
            }
            return PendingEntry(
                name: name, operation: .replace, before: TensorState(old), after: TensorState(new),
                nnz: new.elementCount, indexEncoding: nil,
                streams: [
                    (.beforeData, BytePlanes.split(old.bytes, elementSize: old.dtype.size)),
                    (.afterData, BytePlanes.split(new.bytes, elementSize: new.dtype.size)),
                ])
        case (let old?, nil):
            if allowed != nil {
                throw PatchError(
                    maskPath ?? "mask", "tensor \"\(name)\" is removed, which a mask cannot allow", kind: .outsideMask)
            }
            return PendingEntry(
                name: name, operation: .remove, before: TensorState(old), after: nil, nnz: old.elementCount,
                indexEncoding: nil, streams: [(.beforeData, BytePlanes.split(old.bytes, elementSize: old.dtype.size))])
        case (nil, let new?):
            if allowed != nil {
                throw PatchError(
                    maskPath ?? "mask", "tensor \"\(name)\" is added, which a mask cannot allow", kind: .outsideMask)
            }
            return PendingEntry(
                name: name, operation: .add, before: nil, after: TensorState(new), nnz: new.elementCount,
                indexEncoding: nil, streams: [(.afterData, BytePlanes.split(new.bytes, elementSize: new.dtype.size))])
        case (nil, nil):
            return nil
        }
    }

    /// The mask's positions per tensor, after checking it was made for this base.
    /// The positions a mask holds per tensor, after checking it was made for `base`.
    public static func maskPositions(_ mask: PatchFile, base: Checkpoint) throws -> NameMap<Set<Int>> {
        guard mask.header.kind == .mask else {
            throw PatchError(mask.path, "is a patch, not a mask (--mask takes a mask file)")
        }
        try mask.verifyIntegrity()
        var positions = NameMap<Set<Int>>()
        for entry in mask.entries {
            guard let tensor = base.entry(named: entry.name), let state = entry.before else {
                throw PatchError(
                    mask.path, "tensor \"\(entry.name)\" of the mask is not in the base \(base.path)",
                    kind: .wrongBase)
            }
            guard tensor.dtype == state.dtype, tensor.shape == state.shape else {
                throw PatchError(
                    mask.path,
                    """
                    tensor \"\(entry.name)\": mask is for \(state.typeDescription), the base has \
                    \(tensor.dtype.rawValue) \(Shape.describe(tensor.shape))
                    """,
                    kind: .wrongBase)
            }
            guard base.view(tensor).sha256 == state.sha256 else {
                throw PatchError(
                    mask.path, "tensor \"\(entry.name)\": the mask was made for another base (fingerprints differ)",
                    kind: .wrongBase)
            }
            positions[entry.name] = Set(try mask.positions(entry))
        }
        return positions
    }
}
