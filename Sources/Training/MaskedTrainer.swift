import Foundation
import Models
import Tensors

/// Trains an encoder's tensors (BERT or CLIP) under a mask with AdamW, on the cross-entropy
/// over the similarities between each input (text or image) and its task's class prompts;
/// for CLIP in its symmetric form, as CLIP was trained.
///
/// Only masked positions ever change: the optimizer keeps state for them alone and weight
/// decay touches them alone, so every other weight ends bit-identical to the base. A mask of
/// `.all` for every tensor is full fine-tuning.
public enum MaskedTrainer {
    /// Training settings; the defaults are sentence-transformers' fine-tuning ones.
    public struct Settings: Sendable {
        /// Passes over the training examples.
        public var epochs = 3
        /// The peak learning rate (after warmup).
        public var learningRate: Float = 1e-4
        /// Examples per optimizer step.
        public var batchSize = 32
        /// Decoupled weight decay (AdamW) on weight matrices and embeddings; biases and
        /// LayerNorm parameters are not decayed (Hugging Face's and sentence-transformers' rule).
        public var weightDecay: Float = 0.01
        /// The fraction of the steps the learning rate rises linearly, before the cosine decay.
        public var warmup: Double = 0.1
        /// Seeds the example order and the dropout masks: a run repeats exactly.
        public var seed: UInt64 = 0
        /// Logits are similarities divided by this; nil: multiplied by the checkpoint's
        /// learned scale where it has one (CLIP's exp(logit_scale)), else by 20 (0.05).
        public var temperature: Float?
        /// Dropout as the checkpoint's configuration says, while training only.
        public var dropout = true
        /// The defaults.
        public init() {}
    }

    /// What a training run did.
    public struct Result: Sendable {
        /// Optimizer steps taken.
        public let steps: Int
        /// Mean loss and accuracy over the last epoch's batches.
        public let finalLoss: Double
        /// A fraction in [0, 1].
        public let finalAccuracy: Double
        /// Wall-clock time of the training loop.
        public let seconds: Double
    }

    /// What may train in one tensor.
    public enum TensorMask: Sendable, Equatable {
        /// These flat positions (sorted, distinct).
        case positions([Int])
        /// Every element.
        case all

        /// Positions trained in a tensor of `tensorCount` elements.
        public func count(of tensorCount: Int) -> Int {
            switch self {
            case .positions(let positions): positions.count
            case .all: tensorCount
            }
        }
    }

    /// The logit scale training uses on `encoder`.
    public static func logitScale(_ settings: Settings, of encoder: any TrainableEncoder) -> Float {
        settings.temperature.map { 1 / $0 } ?? encoder.learnedLogitScale ?? 20
    }

    /// Where training stands after one optimizer step, for a progress display.
    public struct StepProgress: Sendable {
        /// Steps done (1-based) of `totalSteps`.
        public let step: Int
        /// Steps of the whole run.
        public let totalSteps: Int
        /// The epoch (1-based) of `epochs`.
        public let epoch: Int
        /// Epochs of the whole run.
        public let epochs: Int
        /// The mean loss over this epoch's examples so far.
        public let loss: Double
        /// The learning rate of the step just taken.
        public let learningRate: Float
    }

    /// What a caller sees while training runs: each step, and the end of each epoch (1-based),
    /// when the model holds that epoch's weights (an evaluation may run there).
    public struct Observer {
        /// Called after each optimizer step.
        public var step: ((StepProgress) -> Void)?
        /// Called after each epoch with its number (1-based); what it throws stops training.
        public var epochEnd: ((Int) throws -> Void)?
        /// An observer of the given callbacks.
        public init(step: ((StepProgress) -> Void)? = nil, epochEnd: ((Int) throws -> Void)? = nil) {
            self.step = step
            self.epochEnd = epochEnd
        }
    }

    /// Trains `encoder`'s model in place; `masks` by tensor name.
    public static func train(
        _ encoder: any TrainableEncoder, data: TrainingData, masks: [String: TensorMask], settings: Settings,
        observer: Observer = Observer()
    ) throws -> Result {
        let start = Date()
        guard masks.values.contains(where: { $0.count(of: 1) > 0 }) else {
            throw ModelError(data.tasks[0].folder, "the mask selects nothing to train", kind: .incompatible)
        }
        var optimizer = try AdamW(encoder: encoder, masks: masks, settings: settings)
        let prompts = data.tasks.flatMap { $0.prompts }
        let scale = logitScale(settings, of: encoder)
        let symmetric = encoder.symmetricLoss
        let promptOffsets = data.tasks.reduce(into: [0]) { $0.append($0.last! + $1.prompts.count) }
        let batchSize = max(1, settings.batchSize)
        let examples = data.examples
        let totalSteps = max(1, settings.epochs * ((examples.count + batchSize - 1) / batchSize))
        let warmupSteps = Int((settings.warmup * Double(totalSteps)).rounded())
        var step = 0
        var lastLoss = 0.0
        var lastCorrect = 0
        let names = Set(masks.keys)
        for epoch in 0..<max(0, settings.epochs) {
            let order = SeededGenerator.shuffled(Array(examples.indices), seed: settings.seed &+ UInt64(epoch))
            lastLoss = 0
            lastCorrect = 0
            for first in stride(from: 0, to: order.count, by: batchSize) {
                let items = order[first..<min(order.count, first + batchSize)].map { examples[$0] }
                let targets = items.map { item in
                    Target(
                        label: promptOffsets[item.task] + item.label,
                        classes: promptOffsets[item.task]..<promptOffsets[item.task + 1])
                }
                var correct = 0
                step += 1
                // Each step its own dropout stream, from the seed and the step.
                let dropoutSeed = settings.dropout ? settings.seed ^ Fingerprint.fnv1a("dropout \(step)") : nil
                let gradients = try encoder.gradients(
                    inputs: items.map(\.input), prompts: prompts, of: names, dropoutSeed: dropoutSeed
                ) { inputs, prompts in
                    let result = crossEntropy(
                        inputs: inputs, prompts: prompts, targets: targets, scale: scale, symmetric: symmetric)
                    correct = result.correct
                    return (result.loss, result.inputs, result.prompts)
                }
                let rate = learningRate(
                    step: step - 1, total: totalSteps, warmup: warmupSteps, peak: settings.learningRate)
                try optimizer.step(encoder, gradients: gradients.tensors, rate: rate)
                lastLoss += Double(gradients.loss) * Double(items.count)
                lastCorrect += correct
                observer.step?(
                    StepProgress(
                        step: step, totalSteps: totalSteps, epoch: epoch + 1, epochs: settings.epochs,
                        loss: lastLoss / Double(min(order.count, first + batchSize)), learningRate: rate))
            }
            try observer.epochEnd?(epoch + 1)
        }
        return Result(
            steps: step, finalLoss: lastLoss / Double(max(examples.count, 1)),
            finalAccuracy: Double(lastCorrect) / Double(max(examples.count, 1)),
            seconds: Date().timeIntervalSince(start))
    }

    /// The rate of the optimizer step `step` (0-based) of `total`: linear warmup from 0 over
    /// `warmup` steps, then a half cosine towards 0, exactly as transformers'
    /// get_cosine_schedule_with_warmup (so the reference run's schedule is the same).
    static func learningRate(step: Int, total: Int, warmup: Int, peak: Float) -> Float {
        if step < warmup { return peak * Float(step) / Float(max(1, warmup)) }
        let progress = Double(step - warmup) / Double(max(1, total - warmup))
        return peak * Float(0.5 * (1 + cos(Double.pi * min(1, progress))))
    }

    /// A text's class among the prompts of the batch: its label and its task's prompts.
    struct Target {
        let label: Int
        let classes: Range<Int>
    }

    /// Mean cross-entropy of logits = scale · e_i · p_c of each input against its task's
    /// prompts; its gradients with respect to every embedding; the number of inputs whose best
    /// prompt is their label. `symmetric` (CLIP) averages it with the other direction, as
    /// CLIP's contrastive loss has with the class prompts as captions: each class prompt of the
    /// batch against the batch's inputs, the inputs of its class the positives
    /// (−log Σ_positives softmax), weighted by its share of the inputs.
    static func crossEntropy(
        inputs: [[Float]], prompts: [[Float]], targets: [Target], scale: Float,
        symmetric: Bool = false
    ) -> (loss: Float, inputs: [[Float]], prompts: [[Float]], correct: Int) {
        let n = targets.count
        var dInputs = inputs.map { [Float](repeating: 0, count: $0.count) }
        var dPrompts = prompts.map { [Float](repeating: 0, count: $0.count) }
        var loss: Float = 0
        var correct = 0
        let weight: Float = symmetric ? 0.5 : 1
        for (i, target) in targets.enumerated() {
            let e = inputs[i]
            let classes = Array(target.classes)
            let logits = classes.map { c in scale * zip(e, prompts[c]).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            let highest = logits.max() ?? 0
            let exps = logits.map { exp($0 - highest) }
            let sum = exps.reduce(0, +)
            let label = target.label - target.classes.lowerBound
            loss += weight * (log(sum) + highest - logits[label]) / Float(n)
            if logits.indices.max(by: { logits[$0] < logits[$1] }) == label { correct += 1 }
            for (k, c) in classes.enumerated() {
                let d = weight * (exps[k] / sum - (k == label ? 1 : 0)) / Float(n) * scale
                let p = prompts[c]
                for j in e.indices {
                    dInputs[i][j] += d * p[j]
                    dPrompts[c][j] += d * e[j]
                }
            }
        }
        guard symmetric else { return (loss, dInputs, dPrompts, correct) }
        // Prompts to inputs: each class prompt of the batch against every input, the inputs
        // of its class the positives (a batch holds several inputs per class, so CLIP's
        // one-positive form would push them apart), weighted by its share of the inputs.
        var members: [Int: [Int]] = [:]
        for (i, target) in targets.enumerated() { members[target.label, default: []].append(i) }
        for (c, positives) in members.sorted(by: { $0.key < $1.key }) {
            let p = prompts[c]
            let logits = inputs.map { e in scale * zip(e, p).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            let highest = logits.max() ?? 0
            let exps = logits.map { exp($0 - highest) }
            let sum = exps.reduce(0, +)
            let positiveSum = positives.reduce(Float(0)) { $0 + exps[$1] }
            let share = weight * Float(positives.count) / Float(n)
            loss += share * (log(sum) - log(positiveSum))
            let isPositive = Set(positives)
            for (j, e) in inputs.enumerated() {
                let d = share * (exps[j] / sum - (isPositive.contains(j) ? exps[j] / positiveSum : 0)) * scale
                for k in e.indices {
                    dInputs[j][k] += d * p[k]
                    dPrompts[c][k] += d * e[k]
                }
            }
        }
        return (loss, dInputs, dPrompts, correct)
    }
}
