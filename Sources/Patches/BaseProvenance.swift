import Crypto
import Foundation
import Tensors

/// The base a patch was made against, as its metadata records it, so `audit` without a model
/// can say which model the patch belongs to: `base` (the base's file or folder name, as the
/// command was given it) and `base.fingerprint`.
///
/// `base.fingerprint` is the SHA-256 of the lines `NAME\tDTYPE\tSHAPE\tSHA256\n` of every tensor
/// the patch touches, in the state the patch expects (its entries' `before`; a tensor the patch
/// adds contributes `NAME\t-\n`), in the byte order of the names. It covers exactly what apply
/// checks: two models with the same value are equally valid bases for the patch, whatever
/// their other tensors hold.
public enum BaseProvenance {
    /// Metadata key of the base's name.
    public static let nameKey = "base"
    /// Metadata key of the base's fingerprint.
    public static let fingerprintKey = "base.fingerprint"

    /// The fingerprint of the base `entries` expect.
    public static func fingerprint(_ entries: [PatchEntry]) -> String {
        fingerprint(entries.map { ($0.name, $0.before) })
    }

    /// The fingerprint of tensors in the states given (nil: absent from the base).
    public static func fingerprint(_ states: [(name: String, before: TensorState?)]) -> String {
        var hasher = SHA256()
        for (name, before) in states.sorted(by: { $0.name.precedesByBytes($1.name) }) {
            let line =
                before.map {
                    "\(name)\t\($0.dtype.rawValue)\t\($0.shape.map(String.init).joined(separator: ","))\t\($0.sha256)\n"
                }
                ?? "\(name)\t-\n"
            hasher.update(data: Array(line.utf8))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// `metadata` with the base's fingerprint for `entries` added (replacing any earlier one).
    static func recording(_ metadata: [(String, String)], entries: [PatchEntry]) -> [(String, String)] {
        metadata.filter { !$0.0.hasSameBytes(as: fingerprintKey) } + [(fingerprintKey, fingerprint(entries))]
    }
}
