import Checkpoints
import Dispatch
import Foundation
import Tensors

/// Combines patches made against one base into one patch against that base.
///
/// Each tensor is merged on its own (two at a time, one per core): the patches' entries for it
/// are decoded, their positions joined by one k-way merge, and the result written into a copy
/// of the base tensor, from which the merged entry's XOR and after-fingerprint are taken.
public enum PatchMerger {
    /// What a merge wrote.
    public struct Summary: Sendable {
        /// Entries in the merged patch (tensors touched).
        public let entryCount: Int
        /// Elements the merged patch changes, each counted once.
        public let changedElements: Int
        /// Elements changed by more than one patch (resolved by the method), counted once per
        /// extra patch.
        public let overlappingElements: Int
    }

    /// Shared elements between two patches, in total and per tensor.
    public struct Overlap: Sendable {
        /// The earlier patch's place among the inputs (0-based, command-line order).
        public let first: Int
        /// The later patch's place.
        public let second: Int
        /// Elements both patches change.
        public let shared: Int
        /// shared / (elements either changes): 0 disjoint, 1 the same positions.
        public let jaccard: Double
        /// Shared elements per tensor, tensors with none left out.
        public let perTensor: [(String, Int)]
    }

    /// The overlap of every pair of patches, and each patch's element count.
    public static func plan(_ patches: [PatchFile]) throws -> (counts: [Int], overlaps: [Overlap]) {
        let positions = try patches.map(positionsByTensor)
        let counts = positions.map { $0.values.reduce(0) { $0 + $1.count } }
        var overlaps: [Overlap] = []
        for i in patches.indices {
            for j in patches.indices where j > i {
                var perTensor: [(String, Int)] = []
                // Names in UTF-8 byte order (String's < compares canonical equivalents).
                for (name, a) in positions[i].sorted(by: { $0.name.precedesByBytes($1.name) }) {
                    guard let b = positions[j][name] else { continue }
                    let shared = intersectionCount(a, b)
                    if shared > 0 { perTensor.append((name, shared)) }
                }
                let shared = perTensor.reduce(0) { $0 + $1.1 }
                let union = counts[i] + counts[j] - shared
                overlaps.append(
                    Overlap(
                        first: i, second: j, shared: shared,
                        jaccard: union == 0 ? 0 : Double(shared) / Double(union), perTensor: perTensor))
            }
        }
        return (counts, overlaps)
    }

    /// Merges `patches` (in order: later ones win for `priority`) with `method`. Nothing is
    /// written unless every check passes.
    public static func merge(
        _ patches: [PatchFile], base: Checkpoint, method: MergeMethod,
        parameters: MergeParameters = MergeParameters(),
        metadata: [(String, String)], to path: String
    ) throws -> Summary {
        guard patches.count >= 2 else {
            throw PatchError(patches.first?.path ?? path, "merge needs at least two patches, got \(patches.count)")
        }
        if let problem = parameters.problem(for: method, patchCount: patches.count) {
            throw PatchError(Self.list(patches.map(\.path)), problem)
        }
        for patch in patches {
            guard patch.header.kind == .patch else {
                throw PatchError(
                    patch.path, "is a mask, not a patch: masks cannot be merged as patches", kind: .incompatible)
            }
            try patch.verifyIntegrity()
        }
        // Entries per tensor, with their patch's place on the command line.
        var names: [String] = []
        var byTensor = NameMap<[Contribution]>()
        for (index, patch) in patches.enumerated() {
            for entry in patch.entries {
                if byTensor[entry.name] == nil { names.append(entry.name) }
                byTensor[entry.name, default: []].append(Contribution(index: index, patch: patch, entry: entry))
            }
        }
        let groups = names.map { ($0, byTensor[$0] ?? []) }
        let results = ResultSlots<TensorResult>(count: groups.count)
        DispatchQueue.concurrentPerform(iterations: groups.count) { i in
            results.set(
                i,
                Result {
                    try mergeTensor(groups[i].0, groups[i].1, base: base, method: method, parameters: parameters)
                })
        }
        let merged = try results.values()
        let overlaps = merged.compactMap(\.overlap)
        if !overlaps.isEmpty { throw MergeOverlapError(patches: patches, tensors: overlaps) }
        let pending = merged.compactMap(\.entry)
        var fullMetadata = metadata
        fullMetadata.append(("merge.method", method.rawValue))
        fullMetadata += parameters.metadata(for: method, patchCount: patches.count)
        fullMetadata.append(("merge.parents", JSONValue.array(patches.map { .string($0.id) }).serialized))
        try PatchWriter.write(
            kind: .patch, metadata: fullMetadata, entries: try PatchWriter.compress(pending), to: path)
        return Summary(
            entryCount: pending.count, changedElements: pending.map(\.nnz).saturatingSum(),
            overlappingElements: merged.reduce(0) { $0 + $1.shared })
    }

    /// One patch's entry for a tensor.
    struct Contribution: Sendable {
        let index: Int
        let patch: PatchFile
        let entry: PatchEntry
    }

    /// The merged entry of one tensor (nil when the merge leaves it as the base has it), and
    /// how many of its elements more than one patch changed; with `disjoint`, which patches.
    struct TensorResult {
        let entry: PendingEntry?
        let shared: Int
        var overlap: MergeOverlapError.Tensor? = nil
    }

    private static func mergeTensor(
        _ name: String, _ contributions: [Contribution], base: Checkpoint, method: MergeMethod,
        parameters: MergeParameters
    ) throws -> TensorResult {
        let first = contributions[0]
        try checkBase(first.entry, of: first.patch, base: base)
        if contributions.count == 1, !method.isArithmetic || first.entry.operation != .xor {
            // Whole-tensor entries are carried over as they are, whatever the method.
            return TensorResult(entry: try reencode(first.entry, of: first.patch, base: base), shared: 0)
        }
        if first.entry.operation != .xor,
            contributions.allSatisfy({
                $0.entry.operation == first.entry.operation && $0.entry.after == first.entry.after
            })
        {
            // Several patches add (or replace, or remove) the tensor the same way: nothing to resolve.
            return TensorResult(entry: try reencode(first.entry, of: first.patch, base: base), shared: 0)
        }
        let paths = contributions.map(\.patch.path)
        if contributions.contains(where: { $0.entry.operation != .xor }) {
            // A whole-tensor change (add, remove, replace) and another change of the same tensor.
            let what = contributions.map { "\($0.patch.path) \(Self.verb($0.entry.operation))" }
            throw PatchError(
                Self.list(paths),
                """
                tensor \"\(name)\": \(Self.list(what)); a whole-tensor change merges only with the very same \
                change, so merge without one of these patches
                """
            )
        }
        for other in contributions.dropFirst() {
            guard other.entry.before == first.entry.before else {
                throw PatchError(
                    other.patch.path,
                    """
                    tensor \"\(name)\": this patch was made against another base than \(first.patch.path) \
                    (\(other.entry.before?.typeDescription ?? "") vs \
                    \(first.entry.before?.typeDescription ?? ""), or different fingerprints)
                    """,
                    kind: .wrongBase)
            }
        }
        guard let state = first.entry.before, let tensor = base.entry(named: name) else {
            throw PatchError(
                base.path,
                "tensor \"\(name)\", which \(Self.list(paths)) change\(paths.count == 1 ? "s" : ""), is missing",
                kind: .wrongBase)
        }
        if method.isArithmetic, !state.dtype.isFloatingPoint {
            throw PatchError(
                Self.list(paths),
                """
                tensor \"\(name)\" is \(state.dtype.rawValue): \(method.rawValue) computes on floating-point \
                values (F64, F32, F16, BF16); merge these patches with priority
                """
            )
        }
        let view = base.view(tensor)
        let positions = try contributions.map { try $0.patch.positions($0.entry) }
        let planes = try contributions.map { try $0.patch.xorPlanes($0.entry) }
        let shared = positions.count > 1 ? positions.reduce(0) { $0 + $1.count } - PositionUnion.count(positions) : 0
        let buffer = view.withBytes { ByteBuffer(copying: $0) }
        let candidates: [Int]
        if method.isArithmetic {
            var deltas: [MergeArithmetic.Delta] = []
            for (c, contribution) in contributions.enumerated() {
                var delta = try MergeArithmetic.delta(
                    base: view, positions: positions[c], planes: planes[c],
                    weight: parameters.weights?[contribution.index] ?? 1,
                    tensor: name, patchPath: contribution.patch.path)
                let stream = SeededStream(seed: parameters.seed ?? 0, patch: contribution.index, tensor: name)
                if method == .ties, let density = parameters.density {
                    delta = MergeArithmetic.trim(
                        delta, density: density, elementCount: state.elementCount, ties: stream)
                }
                if method.drops, let drop = parameters.drop {
                    delta = MergeArithmetic.drop(delta, probability: drop, stream: stream)
                }
                deltas.append(delta)
            }
            candidates = MergeArithmetic.combine(
                deltas, method: method, lambda: parameters.lambda, base: view, into: buffer.bytes)
        } else {
            let union = PositionUnion(positions)
            if method == .disjoint, shared > 0 {
                // Refused: no entry to build, only what to tell the user.
                return TensorResult(
                    entry: nil, shared: shared,
                    overlap: MergeOverlapError.Tensor(name: name, union: union, places: contributions.map(\.index)))
            }
            // Each patch writes its tuned values in turn, so the later one wins where they overlap.
            let size = state.dtype.size
            for c in contributions.indices {
                let n = positions[c].count
                for (k, position) in positions[c].enumerated() {
                    for p in 0..<size {
                        buffer.bytes[position * size + p] = view.bytes[position * size + p] ^ planes[c][p * n + k]
                    }
                }
            }
            candidates = union.positions
        }
        let entry = xorEntry(name, state: state, base: view, merged: buffer, candidates: candidates)
        return TensorResult(entry: entry, shared: shared)
    }

    /// What an entry does to its tensor, as a verb phrase for messages.
    private static func verb(_ operation: EntryOperation) -> String {
        switch operation {
        case .xor: "changes some of its elements"
        case .add: "adds it"
        case .remove: "removes it"
        case .replace: "replaces it"
        case .mask: "masks it"
        }
    }

    /// "a", "a and b", "a, b and c": the patches a message is about.
    static func list(_ items: [String]) -> String {
        items.count <= 2
            ? items.joined(separator: " and ") : items.dropLast().joined(separator: ", ") + " and " + (items.last ?? "")
    }

    /// The entry that turns `base` into `merged`, whose changes all lie at `candidates`
    /// (sorted); nil when nothing changed.
    private static func xorEntry(
        _ name: String, state: TensorState, base: TensorView, merged: ByteBuffer, candidates: [Int]
    )
        -> PendingEntry?
    {
        let size = state.dtype.size
        let mergedBytes = UnsafeRawBufferPointer(merged.bytes)
        let positions = candidates.filter { position in
            (0..<size).contains { mergedBytes[position * size + $0] != base.bytes[position * size + $0] }
        }
        guard !positions.isEmpty else { return nil }
        let planes = BytePlanes.xor(base.bytes, mergedBytes, at: positions, elementSize: size)
        let after = TensorState(dtype: state.dtype, shape: state.shape, sha256: Fingerprint.sha256(mergedBytes))
        let (encoding, index) = IndexEncoding.encode(positions, elementCount: state.elementCount)
        let atPositions = planes.withUnsafeBytes {
            PositionFingerprints.of(base.bytes, at: positions, planes: $0, elementSize: size)
        }
        return PendingEntry(
            name: name, operation: .xor, before: state, after: after, nnz: positions.count,
            indexEncoding: encoding, streams: [(.index, index), (.values, planes)], atPositions: atPositions)
    }

    /// An entry that only one patch has, carried over unchanged (a version 1 `xor` entry gains
    /// its position fingerprints, computed from `base`, which `checkBase` has matched).
    private static func reencode(_ entry: PatchEntry, of patch: PatchFile, base: Checkpoint) throws -> PendingEntry {
        var streams: [(FrameRole, [UInt8])] = []
        for (role, _) in entry.frames { streams.append((role, try patch.decompress(entry, role))) }
        var atPositions = entry.atPositions
        if entry.operation == .xor, atPositions == nil, let state = entry.before,
            let tensor = base.entry(named: entry.name),
            let planes = streams.first(where: { $0.0 == .values })?.1
        {
            let positions = try patch.positions(entry)
            atPositions = planes.withUnsafeBytes {
                PositionFingerprints.of(
                    base.view(tensor).bytes, at: positions, planes: $0, elementSize: state.dtype.size)
            }
        }
        return PendingEntry(
            name: entry.name, operation: entry.operation, before: entry.before, after: entry.after,
            nnz: entry.nnz, indexEncoding: entry.indexEncoding, streams: streams, atPositions: atPositions)
    }

    /// The base must hold what the entry expects (the patches were made against it).
    private static func checkBase(_ entry: PatchEntry, of patch: PatchFile, base: Checkpoint) throws {
        guard let expected = entry.before else {
            if base.entry(named: entry.name) != nil {
                throw PatchError(
                    patch.path,
                    "tensor \"\(entry.name)\" is added by the patch but the base \(base.path) already has it",
                    kind: .wrongBase)
            }
            return
        }
        guard let tensor = base.entry(named: entry.name), tensor.dtype == expected.dtype,
            tensor.shape == expected.shape,
            base.view(tensor).sha256 == expected.sha256
        else {
            throw PatchError(
                patch.path, "tensor \"\(entry.name)\": the patch was not made against the base \(base.path)",
                kind: .wrongBase)
        }
    }

    private static func positionsByTensor(_ patch: PatchFile) throws -> NameMap<[Int]> {
        guard patch.header.kind == .patch || patch.header.kind == .mask else { return NameMap() }
        var out = NameMap<[Int]>()
        for entry in patch.entries {
            switch entry.operation {
            case .xor, .mask: out[entry.name] = try patch.positions(entry)
            default: out[entry.name] = Array(0..<entry.elementCount)
            }
        }
        return out
    }

    static func intersectionCount(_ a: [Int], _ b: [Int]) -> Int {
        var i = 0
        var j = 0
        var count = 0
        while i < a.count, j < b.count {
            if a[i] < b[j] {
                i += 1
            } else if b[j] < a[i] {
                j += 1
            } else {
                count += 1
                i += 1
                j += 1
            }
        }
        return count
    }
}
