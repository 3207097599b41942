import Checkpoints
import Foundation
import Models
import Patches

/// A base model with patches applied, for commands that work on the current state of a stack
/// (mask and train on top of earlier tasks). The patched model is written once, with apply's
/// checks, to a hidden file beside `beside` and removed when the command ends; with no
/// patches it is the base itself.
public final class PatchedModel {
    /// The patched model (the base itself without patches).
    public let checkpoint: Checkpoint
    private let temporary: String?

    /// Opens `base` and, with `patches`, writes base + patches beside the output `beside`.
    /// - Throws: what opening the base and the patches, and applying them, throws (`PatchError`,
    ///   `CheckpointError`, `AlreadyAppliedError`): nothing is trained on a model that is not
    ///   exactly base + patches.
    public init(base: String, patches: [String], beside: String) throws {
        guard !patches.isEmpty else {
            checkpoint = try Checkpoint.open(base)
            temporary = nil
            return
        }
        let url = URL(fileURLWithPath: beside)
        let path =
            url.deletingLastPathComponent().path + "/.\(url.lastPathComponent).scalpel-\(getpid())-base.safetensors"
        TemporaryFiles.register(path)
        temporary = path
        try PatchApplier.run(.apply, model: Checkpoint.open(base), patches: patches.map(PatchFile.open), to: path)
        checkpoint = try Checkpoint.open(path)
    }

    /// The encoder of this state (BERT or CLIP, from its tensor names), its tokenizer and
    /// configuration files read from beside the base's weights (the patched copy lives elsewhere).
    public func encoder(base: String) throws -> any TrainableEncoder {
        try Architecture.encoder(checkpoint, folder: Self.folder(of: base))
    }

    /// The folder of a model's weights, where its tokenizer and configuration files are.
    static func folder(of base: String) throws -> String? {
        try Checkpoint.open(base).files.first.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path }
    }

    deinit {
        if let temporary {
            try? FileManager.default.removeItem(atPath: temporary)
            TemporaryFiles.unregister(temporary)
        }
    }
}
