import Tensors

/// SHA-256 of the raw bytes of the elements an `xor` entry changes, before and after it
/// (format version 2, `Formats/spatch.md` § "at_positions").
///
/// A tensor's fingerprint says whether the whole tensor is the one a patch was made against;
/// these say whether the elements the patch changes are. An XOR is exact exactly where the
/// old bits match, so they let `apply` put a patch onto a tensor that differs elsewhere (a
/// sibling patch's elements, another change) and refuse it, `--force` or not, where the
/// elements themselves differ.
public struct PositionFingerprints: Sendable, Equatable {
    /// Of the elements at the entry's positions, in index order, as the base holds them.
    public let before: String
    /// The same elements as the result holds them.
    public let after: String

    /// Fingerprints as a header records them (SHA-256, hex).
    public init(before: String, after: String) {
        self.before = before
        self.after = after
    }

    /// The fingerprints of the elements at `positions` (sorted flat indices) of `old`, and of
    /// the same elements with `planes` (the entry's XOR byte planes) applied.
    static func of(
        _ old: UnsafeRawBufferPointer, at positions: [Int], planes: UnsafeRawBufferPointer,
        elementSize: Int
    ) -> PositionFingerprints {
        var gathered = gather(old, at: positions, elementSize: elementSize)
        let before = Fingerprint.sha256(gathered)
        xor(planes, into: &gathered, elementSize: elementSize)
        return PositionFingerprints(before: before, after: Fingerprint.sha256(gathered))
    }

    /// The elements of `tensor` at `positions`, one after another (`elementSize` bytes each).
    static func gather(_ tensor: UnsafeRawBufferPointer, at positions: [Int], elementSize: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: positions.count * elementSize)
        out.withUnsafeMutableBytes { target in
            guard let destination = target.baseAddress, let source = tensor.baseAddress else { return }
            for (k, position) in positions.enumerated() {
                (destination + k * elementSize).copyMemory(
                    from: source + position * elementSize, byteCount: elementSize)
            }
        }
        return out
    }

    /// XORs byte `planes` (plane p holds byte p of each of n elements) into `elements`, n
    /// contiguous elements: the entry applied to gathered elements.
    static func xor(_ planes: UnsafeRawBufferPointer, into elements: inout [UInt8], elementSize: Int) {
        let n = elements.count / max(elementSize, 1)
        elements.withUnsafeMutableBytes { target in
            for k in 0..<n {
                for p in 0..<elementSize { target[k * elementSize + p] ^= planes[p * n + k] }
            }
        }
    }
}

extension Fingerprint {
    static func sha256(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { sha256($0) } }
}
