import Checkpoints
import Tensors

/// Writes masks: the `.spatch` container with positions and no values.
public enum MaskWriter {
    /// Writes a mask holding, for each named tensor of `base`, the given flat positions
    /// (sorted and de-duplicated here). Each entry records the base tensor's fingerprint, so
    /// a mask cannot be used with another base by mistake.
    public static func write(
        positions: [(String, [Int])], base: Checkpoint, metadata: [(String, String)], to path: String
    ) throws {
        let pending: [PendingEntry] = try positions.map { name, raw in
            guard let tensor = base.entry(named: name) else {
                throw PatchError(path, "tensor \"\(name)\" is not in the base \(base.path)")
            }
            let sorted = Array(Set(raw)).sorted()
            if let bad = sorted.first(where: { $0 < 0 || $0 >= tensor.elementCount }) {
                throw PatchError(
                    path, "tensor \"\(name)\": position \(bad) is out of range for \(tensor.elementCount) elements")
            }
            let (encoding, index) = IndexEncoding.encode(sorted, elementCount: tensor.elementCount)
            return PendingEntry(
                name: name, operation: .mask, before: TensorState(base.view(tensor)), after: nil,
                nnz: sorted.count, indexEncoding: encoding, streams: [(.index, index)])
        }
        try PatchWriter.write(kind: .mask, metadata: metadata, entries: try PatchWriter.compress(pending), to: path)
    }
}
