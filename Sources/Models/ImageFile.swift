import Checkpoints
import Foundation
import Tensors

/// Preprocessed images as CLIP takes them: an array `images`, float32 (N, 3, H, H), in a
/// NumPy file (.npz or .npy) or any checkpoint format.
public enum ImageFile {
    /// The images of the file at `path`, each 3 · H · H floats, channel-major, and H.
    /// - Throws: `CheckpointError` when the file cannot be opened as a checkpoint; `ModelError` when it has no
    ///   array `images` (nor a single array), the array is not float32 (N, 3, H, H), or N is 0.
    public static func read(_ path: String) throws -> (images: [[Float]], size: Int) {
        try images(in: Checkpoint.open(path))
    }

    static func images(in archive: Checkpoint) throws -> (images: [[Float]], size: Int) {
        let path = archive.path
        guard let entry = archive.entry(named: "images") ?? (archive.tensors.count == 1 ? archive.tensors.first : nil)
        else {
            throw ModelError(
                path, "needs an array \"images\"; it has \(archive.tensors.map(\.name).joined(separator: ", "))")
        }
        guard entry.dtype == .f32, entry.shape.count == 4, entry.shape[1] == 3, entry.shape[2] == entry.shape[3] else {
            throw ModelError(
                path,
                """
                \"\(entry.name)\" must be float32 (N, 3, H, H), already preprocessed, not \(entry.dtype.rawValue) \
                \(Shape.describe(entry.shape))
                """
            )
        }
        guard entry.shape[0] > 0 else { throw ModelError(path, "has no images") }
        let values = archive.view(entry).floatValues()
        let size = entry.shape[2]
        let each = 3 * size * size
        return ((0..<entry.shape[0]).map { Array(values[($0 * each)..<(($0 + 1) * each)]) }, size)
    }
}
