import Foundation
import Checkpoints
import Models
import Patches

/// A base model with patches applied, for commands that work on the current state of a stack
/// (mask and train on top of earlier tasks). The patched model is written once, with apply's
/// checks, to a hidden file beside `beside` and removed when the command ends; with no
/// patches it is the base itself.
public final class PatchedModel {
    public let checkpoint: Checkpoint
    private let temporary: String?

    public init(base: String, patches: [String], beside: String) throws {
        guard !patches.isEmpty else {
            checkpoint = try Checkpoint.open(base)
            temporary = nil
            return
        }
        let url = URL(fileURLWithPath: beside)
        let path = url.deletingLastPathComponent().path + "/.\(url.lastPathComponent).scalpel-base.safetensors"
        TemporaryFiles.register(path)
        temporary = path
        try PatchApplier.run(.apply, model: Checkpoint.open(base), patches: patches.map(PatchFile.open), to: path)
        checkpoint = try Checkpoint.open(path)
    }

    /// The text encoder of this state, its tokenizer files read from beside the base's
    /// weights (the patched copy lives elsewhere).
    public func encoder(base: String) throws -> TextEncoder {
        let folder = try Checkpoint.open(base).files.first.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path }
        return try TextEncoder(checkpoint: checkpoint, tokenizerFolder: folder)
    }

    deinit {
        if let temporary {
            try? FileManager.default.removeItem(atPath: temporary)
            TemporaryFiles.unregister(temporary)
        }
    }
}
