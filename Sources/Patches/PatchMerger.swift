import Checkpoints
import Foundation
import Tensors

/// How patches are combined (TIES and DARE come with the rest of the merge work).
public enum MergeMethod: String, CaseIterable, Sendable {
    /// Refuses any element that two patches both change; otherwise the union. Exact.
    case disjoint
    /// Where patches overlap, the later one wins. Exact.
    case priority
    /// Task arithmetic: base + λ · Σ wᵢ · δᵢ.
    case sum
    /// The weighted mean of the deltas of the patches that change each element.
    case mean

    var isArithmetic: Bool { self == .sum || self == .mean }
}

/// Combines patches made against one base into one patch against that base.
public enum PatchMerger {
    public struct Summary: Sendable {
        public let entryCount: Int
        public let changedElements: Int
        /// Elements changed by more than one patch (resolved by the method).
        public let overlappingElements: Int
    }

    /// Shared elements between two patches, in total and per tensor.
    public struct Overlap: Sendable {
        public let first: Int
        public let second: Int
        public let shared: Int
        public let jaccard: Double
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
                for (name, a) in positions[i].sorted(by: { $0.key < $1.key }) {
                    guard let b = positions[j][name] else { continue }
                    let shared = intersectionCount(a, b)
                    if shared > 0 { perTensor.append((name, shared)) }
                }
                let shared = perTensor.reduce(0) { $0 + $1.1 }
                let union = counts[i] + counts[j] - shared
                overlaps.append(Overlap(first: i, second: j, shared: shared,
                                        jaccard: union == 0 ? 0 : Double(shared) / Double(union), perTensor: perTensor))
            }
        }
        return (counts, overlaps)
    }

    /// `weights` (one per patch, default 1) and `lambda` (default 1) apply to `sum` and `mean`.
    public static func merge(_ patches: [PatchFile], base: Checkpoint, method: MergeMethod,
                             weights: [Double]? = nil, lambda: Double = 1,
                             metadata: [(String, String)], to path: String) throws -> Summary {
        guard patches.count >= 2 else { throw PatchError(path, "merge needs at least two patches") }
        if let weights, weights.count != patches.count {
            throw PatchError(path, "\(weights.count) weights for \(patches.count) patches: give one weight per patch")
        }
        if !method.isArithmetic, weights != nil || lambda != 1 {
            throw PatchError(path, "--weights and --lambda apply to sum and mean, not \(method.rawValue)")
        }
        for patch in patches {
            guard patch.header.kind == .patch else {
                throw PatchError(patch.path, "is a mask, not a patch: masks cannot be merged as patches")
            }
            try patch.verifyIntegrity()
        }
        // Entries per tensor, in patch order.
        var names: [String] = []
        var byTensor: [String: [(PatchFile, PatchEntry)]] = [:]
        for patch in patches {
            for entry in patch.entries {
                if byTensor[entry.name] == nil { names.append(entry.name) }
                byTensor[entry.name, default: []].append((patch, entry))
            }
        }
        var pending: [PendingEntry] = []
        var overlapProblems: [String] = []
        var overlapping = 0
        for name in names {
            guard let entries = byTensor[name] else { continue }
            let (firstPatch, first) = entries[0]
            try checkBase(first, of: firstPatch, base: base)
            if entries.count == 1, !method.isArithmetic || first.operation != .xor {
                // Whole-tensor entries are carried over as they are, whatever the method.
                pending.append(try reencode(first, of: firstPatch))
                continue
            }
            for (patch, entry) in entries.dropFirst() {
                guard entry.operation == .xor, first.operation == .xor else {
                    throw PatchError(patch.path, "tensor \"\(name)\" is added, removed or replaced by one of the patches and changed by another: such patches cannot be merged")
                }
                guard entry.before == first.before else {
                    throw PatchError(patch.path, "tensor \"\(name)\": this patch was made against another base than \(firstPatch.path) (\(entry.before?.typeDescription ?? "") vs \(first.before?.typeDescription ?? ""), or different fingerprints)")
                }
            }
            let decoded = try entries.map { patch, entry in (try patch.positions(entry), try patch.xorPlanes(entry)) }
            if method.isArithmetic {
                guard let state = first.before, state.dtype.isFloatingPoint, let tensor = base.entry(named: name) else {
                    throw PatchError(firstPatch.path, "tensor \"\(name)\" is \(first.before?.dtype.rawValue ?? "not floating point"): \(method.rawValue) needs floating-point values (use priority)")
                }
                let indices = entries.map { entry in patches.firstIndex { $0 === entry.0 } ?? 0 }
                let chosen = indices.map { weights?[$0] ?? 1 }
                overlapping += decoded.reduce(0) { $0 + $1.0.count } - Set(decoded.flatMap(\.0)).count
                let (positions, planes) = MergeArithmetic.combine(base: base.view(tensor), decoded: decoded, weights: chosen,
                                                                  lambda: lambda, method: method)
                if !positions.isEmpty {
                    pending.append(try xorEntry(name, first: first, positions: positions, planes: planes, base: base))
                }
                continue
            }
            let size = first.before?.dtype.size ?? 1
            let (positions, planes, shared) = combine(decoded, elementSize: size)
            overlapping += shared
            if method == .disjoint, shared > 0 {
                overlapProblems.append("\(name): \(shared) element\(shared == 1 ? "" : "s")")
                continue
            }
            pending.append(try xorEntry(name, first: first, positions: positions, planes: planes, base: base))
        }
        if !overlapProblems.isEmpty {
            throw PatchError(path, "the patches overlap, which --method disjoint refuses (use priority, or check with --plan):\n  " + overlapProblems.joined(separator: "\n  "))
        }
        var fullMetadata = metadata
        fullMetadata.append(("merge.method", method.rawValue))
        if method.isArithmetic {
            fullMetadata.append(("merge.weights", (weights ?? patches.map { _ in 1 }).map { "\($0)" }.joined(separator: ",")))
            if method == .sum { fullMetadata.append(("merge.lambda", "\(lambda)")) }
        }
        fullMetadata.append(("merge.parents", JSONValue.array(patches.map { .string($0.id) }).serialized))
        try PatchWriter.write(kind: .patch, metadata: fullMetadata, entries: try PatchWriter.compress(pending), to: path)
        return Summary(entryCount: pending.count, changedElements: pending.reduce(0) { $0 + $1.nnz },
                       overlappingElements: overlapping)
    }

    /// Union of the positions; where several patches change one element, the last one's XOR
    /// (relative to the same base) is kept. Returns the shared element count too.
    static func combine(_ decoded: [([Int], [UInt8])], elementSize: Int) -> ([Int], [UInt8], Int) {
        var latest: [Int: (patch: Int, k: Int)] = [:]
        var order: [Int] = []
        var shared = 0
        for (patch, (positions, _)) in decoded.enumerated() {
            for (k, position) in positions.enumerated() {
                if latest.updateValue((patch, k), forKey: position) == nil { order.append(position) } else { shared += 1 }
            }
        }
        order.sort()
        let n = order.count
        var planes = [UInt8](repeating: 0, count: n * elementSize)
        for (j, position) in order.enumerated() {
            guard let (patch, k) = latest[position] else { continue }
            let source = decoded[patch].1, count = decoded[patch].0.count
            for p in 0..<elementSize { planes[p * n + j] = source[p * count + k] }
        }
        return (order, planes, shared)
    }

    /// A merged xor entry, its after-fingerprint computed on the base.
    static func xorEntry(_ name: String, first: PatchEntry, positions: [Int], planes: [UInt8], base: Checkpoint) throws -> PendingEntry {
        guard let state = first.before, let tensor = base.entry(named: name) else {
            throw PatchError(base.path, "tensor \"\(name)\" is missing")
        }
        let buffer = base.view(tensor).withBytes { ByteBuffer(copying: $0) }
        planes.withUnsafeBytes { BytePlanes.applyXor($0, into: buffer.bytes, at: positions, elementSize: state.dtype.size) }
        let after = TensorState(dtype: state.dtype, shape: state.shape, sha256: Fingerprint.sha256(UnsafeRawBufferPointer(buffer.bytes)))
        let (encoding, index) = IndexEncoding.encode(positions, elementCount: state.elementCount)
        return PendingEntry(name: name, operation: .xor, before: state, after: after, nnz: positions.count,
                            indexEncoding: encoding, streams: [(.index, index), (.values, planes)])
    }

    /// An entry that only one patch has, carried over unchanged.
    static func reencode(_ entry: PatchEntry, of patch: PatchFile) throws -> PendingEntry {
        var streams: [(FrameRole, [UInt8])] = []
        for (role, _) in entry.frames { streams.append((role, try patch.decompress(entry, role))) }
        return PendingEntry(name: entry.name, operation: entry.operation, before: entry.before, after: entry.after,
                            nnz: entry.nnz, indexEncoding: entry.indexEncoding, streams: streams)
    }

    /// The base must hold what the entry expects (the patches were made against it).
    static func checkBase(_ entry: PatchEntry, of patch: PatchFile, base: Checkpoint) throws {
        guard let expected = entry.before else {
            if base.entry(named: entry.name) != nil {
                throw PatchError(patch.path, "tensor \"\(entry.name)\" is added by the patch but the base \(base.path) already has it")
            }
            return
        }
        guard let tensor = base.entry(named: entry.name), tensor.dtype == expected.dtype, tensor.shape == expected.shape,
              base.view(tensor).sha256 == expected.sha256 else {
            throw PatchError(patch.path, "tensor \"\(entry.name)\": the patch was not made against the base \(base.path)")
        }
    }

    static func positionsByTensor(_ patch: PatchFile) throws -> [String: [Int]] {
        guard patch.header.kind == .patch || patch.header.kind == .mask else { return [:] }
        var out: [String: [Int]] = [:]
        for entry in patch.entries {
            switch entry.operation {
            case .xor, .mask: out[entry.name] = try patch.positions(entry)
            default: out[entry.name] = Array(0..<entry.elementCount)
            }
        }
        return out
    }

    static func intersectionCount(_ a: [Int], _ b: [Int]) -> Int {
        var i = 0, j = 0, count = 0
        while i < a.count, j < b.count {
            if a[i] < b[j] { i += 1 } else if b[j] < a[i] { j += 1 } else { count += 1; i += 1; j += 1 }
        }
        return count
    }
}
