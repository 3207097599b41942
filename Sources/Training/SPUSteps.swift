import Checkpoints
import Foundation
import Models
import Patches
import Relevance
import Tensors

/// The two steps of SPU on a task, as files: a mask of the task-relevant weights, and the
/// masked training that turns it into a patch. Both work on base + earlier patches. SPU is
/// Zhang et al., "Overcoming Generic Knowledge Loss with Selective Parameter Update", CVPR 2024.
public enum SPUSteps {
    /// What `mask` wrote.
    public struct MaskSummary: Sendable {
        /// Tensors the mask covers.
        public let tensors: Int
        /// Positions selected.
        public let kept: Int
        /// Elements of the eligible tensors.
        public let eligible: Int
        /// Elements of the whole model.
        public let modelParameters: Int
    }

    /// Scores the tensors `layers` selects (a group name or globs, `LayerGroup`) in base +
    /// `patches` for `task` and writes the top `rate` of each (with their Linear layers'
    /// biases whole when `denseBias`) as a mask. The knowledge-aware scores also read the
    /// generic text file of `settings.generic`, whose SHA-256 the mask records.
    public static func mask(
        base: String, patches: [String], task: String, rate: Double, layers: String = "first-mlp",
        settings: RelevanceScorer.Settings, denseBias: Bool, metadata: [(String, String)], to output: String
    ) throws -> MaskSummary {
        guard rate > 0, rate <= 1 else {
            throw ModelError(output, "the mask rate must be in (0, 1], not \(rate)", kind: .invalidSetting)
        }
        try KnowledgeAwareScores.check(settings, rate: rate)
        let model = try PatchedModel(base: base, patches: patches, beside: output)
        let encoder = try model.encoder(base: base)
        let eligibleTensors = try LayerGroup.tensors(layers, of: encoder)
        let scores = try RelevanceScorer.scores(
            encoder, task: try TaskFolder(folder: task), tensors: eligibleTensors, settings: settings)
        var positions: [(String, [Int])] = []
        var kept = 0
        var eligible = 0
        let biases = Set(denseBias ? eligibleTensors.compactMap { LayerGroup.bias(of: $0, in: encoder) } : [])
        for name in encoder.trainableNames {
            if let values = scores[name] {
                let top: [Int]
                do {
                    top = try MaskSelection.top(values, rate: rate)
                } catch let shortage as MaskSelection.Shortage {
                    throw ModelError(
                        name, shortage.description + "; lower --rate or --protected-fraction", kind: .invalidSetting)
                }
                positions.append((name, top))
                kept += top.count
                eligible += values.count
            } else if biases.contains(name), let count = encoder.values(of: name)?.count {
                positions.append((name, Array(0..<count)))
                kept += count
                eligible += count
            }
        }
        let recorded =
            metadata + [
                (BaseProvenance.nameKey, URL(fileURLWithPath: base).lastPathComponent),
                ("task", URL(fileURLWithPath: task).lastPathComponent), ("task.folder", task),
                ("mask.score", settings.method.rawValue),
                ("mask.rate", "\(rate)"), ("mask.layers", layers), ("mask.score_fraction", "\(settings.scoreFraction)"),
                ("mask.batch", "\(settings.batchSize)"), ("mask.seed", "\(settings.seed)"),
                ("mask.dense_bias", "\(denseBias)"),
                ("mask.logit_scale", "\(settings.logitScale ?? encoder.learnedLogitScale ?? 20)"),
                ("data.sha256", try dataFingerprint(task)),
            ] + (try genericMetadata(settings))
        try MaskWriter.write(positions: positions, base: model.checkpoint, metadata: recorded, to: output)
        return MaskSummary(
            tensors: positions.count, kept: kept, eligible: eligible, modelParameters: model.checkpoint.parameterCount)
    }

    /// What `train` did and wrote.
    public struct TrainSummary: Sendable {
        /// The training run's steps, last-epoch loss and accuracy, time.
        public let result: MaskedTrainer.Result
        /// Elements the written patch changes.
        public let changedElements: Int
        /// Tensors the written patch touches.
        public let tensors: Int
        /// Elements the optimizer could move (the mask's size; every element for full fine-tuning).
        public let trainableElements: Int
        /// Accuracy (a fraction) on the task's test split before training and after it, nil
        /// when the task has no test split.
        public let testAccuracyBefore: Double?
        /// After training (a fraction), nil without a test split.
        public let testAccuracyAfter: Double?
        /// With `evaluateEveryEpoch`: the test accuracy after each epoch (the last equals `testAccuracyAfter`).
        public let testAccuracyPerEpoch: [Double]
    }

    /// How `train` reports while it runs: each step, and each evaluation of the test split
    /// (the epoch, 0 before training, and the accuracy as a fraction).
    public struct TrainReporting {
        /// Whether the test split is evaluated at all (`continual` evaluates every state itself).
        public var evaluate = true
        /// Whether the test split is also evaluated after each epoch.
        public var evaluateEveryEpoch = false
        /// Called after each optimizer step.
        public var step: ((MaskedTrainer.StepProgress) -> Void)?
        /// Called after each evaluation with the epoch (0: before training) and the accuracy.
        public var evaluated: ((Int, Double) -> Void)?
        /// Reporting with the given callbacks.
        public init(
            evaluate: Bool = true, evaluateEveryEpoch: Bool = false,
            step: ((MaskedTrainer.StepProgress) -> Void)? = nil,
            evaluated: ((Int, Double) -> Void)? = nil
        ) {
            self.evaluate = evaluate
            self.evaluateEveryEpoch = evaluateEveryEpoch
            self.step = step
            self.evaluated = evaluated
        }
    }

    /// Accuracy (a fraction) of `encoder` on `task`'s test split, nil when the task has none
    /// or the encoder does not classify zero-shot.
    private static func testAccuracy(_ encoder: any TrainableEncoder, task: TaskFolder) throws -> Double? {
        guard let classifier = encoder as? any ZeroShotEncoder, task.hasSplit("test") else { return nil }
        return try ZeroShot.evaluate(classifier, task: task, split: "test").accuracy
    }

    /// Trains the masked weights of base + `patches` on `task` (with a replay buffer of
    /// `buffer` examples from the `replay` tasks) and writes the update: a patch against base +
    /// `patches` made under the mask. `mask` is a mask file, or nil to train every tensor of
    /// the encoder (full fine-tuning).
    public static func train(
        base: String, patches: [String], task: String, mask: String?, replay: [String] = [], buffer: Int = 0,
        settings: MaskedTrainer.Settings, metadata: [(String, String)], to output: String,
        reporting: TrainReporting = TrainReporting()
    ) throws -> TrainSummary {
        let patched = try PatchedModel(base: base, patches: patches, beside: output)
        let checkpoint = patched.checkpoint
        let encoder = try patched.encoder(base: base)
        let maskFile = try mask.map(PatchFile.open)
        var masks: [String: MaskedTrainer.TensorMask] = [:]
        if let maskFile {
            for (name, positions) in try PatchCreator.maskPositions(maskFile, base: checkpoint) where !positions.isEmpty
            {
                guard encoder.values(of: name) != nil else {
                    throw ModelError(
                        maskFile.path, "masks tensor \"\(name)\", which is not a trainable tensor of the encoder",
                        kind: .incompatible)
                }
                masks[name] = .positions(positions.sorted())
            }
        } else {
            guard encoder.trainsEveryTensor else {
                throw ModelError(
                    base,
                    """
                    is a \(encoder.architecture) model, whose runtime computes gradients of the first MLP linears \
                    only, so it cannot be fully fine-tuned here: give a mask (scalpel mask --rate 1 selects all \
                    of those linears)
                    """,
                    kind: .unsupported
                )
            }
            for name in encoder.trainableNames { masks[name] = .all }
        }
        let replayTasks = try replay.map(replayTask)
        let data = try TrainingData(
            task: TaskFolder(folder: task), replay: replayTasks, buffer: buffer, seed: settings.seed)
        let taskFolder = data.tasks[0]
        let before = reporting.evaluate ? try testAccuracy(encoder, task: taskFolder) : nil
        if let before { reporting.evaluated?(0, before) }
        var perEpoch: [Double] = []
        let observer = MaskedTrainer.Observer(
            step: reporting.step,
            epochEnd: { epoch in
                guard before != nil, reporting.evaluateEveryEpoch || epoch == settings.epochs,
                    let accuracy = try testAccuracy(encoder, task: taskFolder)
                else { return }
                perEpoch.append(accuracy)
                reporting.evaluated?(epoch, accuracy)
            })
        let result = try MaskedTrainer.train(encoder, data: data, masks: masks, settings: settings, observer: observer)

        // The trained tensors in the base's dtypes, in a hidden file beside the output, from
        // which the patch is made (under the mask, when there is one).
        var replaced: [String: TensorView] = [:]
        for name in masks.keys {
            guard let entry = checkpoint.entry(named: name), let values = encoder.values(of: name) else { continue }
            let f32 = TensorView.make(dtype: .f32, shape: entry.shape) { buffer in
                values.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            replaced[name] = entry.dtype == .f32 ? f32 : f32.converted(to: entry.dtype)
        }
        let url = URL(fileURLWithPath: output)
        let tuned = url.deletingLastPathComponent().path + "/.\(url.lastPathComponent).scalpel-trained.safetensors"
        TemporaryFiles.register(tuned)
        defer {
            try? FileManager.default.removeItem(atPath: tuned)
            TemporaryFiles.unregister(tuned)
        }
        try SafetensorsWriter.write(
            checkpoint.tensors.map { entry in
                OutputTensor(name: entry.name, view: replaced[entry.name] ?? checkpoint.view(entry))
            },
            metadata: checkpoint.metadata, to: tuned)
        let s = settings
        var recorded =
            metadata + [
                (BaseProvenance.nameKey, URL(fileURLWithPath: base).lastPathComponent),
                ("task", URL(fileURLWithPath: task).lastPathComponent), ("task.folder", task),
                ("train.mask", maskFile?.id ?? "all"),
                ("train.on", JSONValue.array(try patches.map { .string(try PatchFile.open($0).id) }).serialized),
                ("train.epochs", "\(s.epochs)"), ("train.lr", "\(s.learningRate)"), ("train.batch", "\(s.batchSize)"),
                ("train.weight_decay", "\(s.weightDecay)"), ("train.warmup", "\(s.warmup)"),
                ("train.logit_scale", "\(MaskedTrainer.logitScale(s, of: encoder))"),
                ("train.loss", encoder.symmetricLoss ? "symmetric cross-entropy" : "cross-entropy"),
                ("train.dropout", s.dropout ? encoder.dropoutDescription : "none"),
                ("train.seed", "\(s.seed)"), ("train.optimizer", "AdamW(0.9, 0.999, 1e-8), cosine schedule"),
                ("data.sha256", try dataFingerprint(task)),
            ]
        if data.tasks.count > 1 {
            recorded.append(
                (
                    "train.replay",
                    JSONValue.array(
                        zip(replayTasks, data.counts.dropFirst()).map { task, count in
                            .object([
                                ("task", .string(URL(fileURLWithPath: task.folder).lastPathComponent)),
                                ("examples", .integer(count)),
                            ])
                        }
                    ).serialized
                ))
        }
        recorded += [
            ("train.steps", "\(result.steps)"), ("train.final_loss", String(format: "%.6f", result.finalLoss)),
            ("train.final_accuracy", String(format: "%.4f", result.finalAccuracy)),
            ("train.seconds", String(format: "%.1f", result.seconds)),
        ]
        let summary = try PatchCreator.create(
            base: checkpoint, tuned: Checkpoint.open(tuned),
            options: PatchCreator.Options(mask: maskFile, metadata: recorded), to: output)
        return TrainSummary(
            result: result, changedElements: summary.changedElements, tensors: summary.entryCount,
            trainableElements: masks.reduce(0) { $0 + $1.value.count(of: encoder.values(of: $1.key)?.count ?? 0) },
            testAccuracyBefore: before, testAccuracyAfter: perEpoch.last,
            testAccuracyPerEpoch: reporting.evaluateEveryEpoch ? perEpoch : [])
    }

    /// A replay source: a task folder, or a patch whose metadata says where its task's data is.
    private static func replayTask(_ path: String) throws -> TaskFolder {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try TaskFolder(folder: path)
        }
        let patch = try PatchFile.open(path)
        guard let folder = patch.header.metadataValue("task.folder") else {
            throw ModelError(
                path, "does not record its task's folder (task.folder); give the task folder to --replay instead",
                kind: .incompatible)
        }
        guard FileManager.default.fileExists(atPath: folder + "/classes.txt") else {
            throw ModelError(
                path,
                "was trained on \(folder), which is not a task folder here; give the task folder to --replay instead",
                kind: .incompatible)
        }
        return try TaskFolder(folder: folder)
    }

    /// What a knowledge-aware score was measured on and with (none for the other scores):
    /// the generic text file, its SHA-256, how many of its texts, and the score's parameter.
    private static func genericMetadata(_ settings: RelevanceScorer.Settings) throws -> [(String, String)] {
        guard settings.method.usesGenericImportance, let file = settings.generic.textFile else { return [] }
        return [
            (
                "mask.importance",
                "MAS: mean over the generic texts of |d ||p||^2 / dw|, p the embedding before its L2 normalisation"
            ),
            ("mask.generic_text", file), ("mask.generic_text.sha256", try GenericImportance.fingerprint(file)),
            ("mask.generic_examples", "\(settings.generic.examples)"),
            settings.method == .spuMASRatio
                ? ("mask.importance_floor", "\(settings.importanceFloor)")
                : ("mask.protected_fraction", "\(settings.protectedFraction)"),
        ]
    }

    /// The SHA-256 of the task's training data file (train.jsonl or train.npz).
    private static func dataFingerprint(_ task: String) throws -> String {
        let file = try TaskFolder(folder: task).dataFile("train")
        let data = FileManager.default.contents(atPath: file) ?? Data()
        return data.withUnsafeBytes { Fingerprint.sha256($0) }
    }
}
