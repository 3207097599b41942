import Foundation
import Models
import Tensors

/// What one training run learns from: the task's training examples (texts or images) and,
/// for experience replay, a buffer of examples from earlier tasks, each scored against its
/// own task's class prompts.
public struct TrainingData: Sendable {
    /// One training example.
    public struct Example: Sendable, Equatable {
        /// A text or an image (3 × size × size floats, channel-major).
        public let input: EncoderInput
        /// The class, an index into its task's classes.
        public let label: Int
        /// Its task, an index into `tasks` (0: the task being trained).
        public let task: Int
    }

    /// The task being trained first, then the replayed tasks.
    public let tasks: [TaskFolder]
    /// The task's examples in file order, then the replay buffer's.
    public let examples: [Example]

    /// `task`'s training set, with a buffer of `buffer` examples drawn from the training sets
    /// of `replay` (earlier tasks): as evenly over the tasks as their sizes allow (the first
    /// tasks take the remainder), each task's share a seeded random sample keyed by the task
    /// folder's name.
    public init(task: TaskFolder, replay: [TaskFolder] = [], buffer: Int = 0, seed: UInt64 = 0) throws {
        // Earlier tasks join only when some of their examples do (else their prompts would
        // be encoded in every batch for nothing).
        tasks = [task] + (buffer > 0 ? replay : [])
        let (inputs, labels) = try task.inputs("train")
        var examples = zip(inputs, labels).map { Example(input: $0, label: $1, task: 0) }
        if !replay.isEmpty, buffer > 0 {
            for (k, earlier) in replay.enumerated() {
                let share = buffer / replay.count + (k < buffer % replay.count ? 1 : 0)
                let (pool, poolLabels) = try earlier.inputs("train")
                let chosen = SeededGenerator.shuffled(
                    Array(pool.indices),
                    seed: seed ^ Fingerprint.fnv1a(URL(fileURLWithPath: earlier.folder).lastPathComponent)
                ).prefix(share)
                examples += chosen.map { Example(input: pool[$0], label: poolLabels[$0], task: k + 1) }
            }
        }
        self.examples = examples
    }

    /// How many examples come from each of `tasks`.
    public var counts: [Int] { tasks.indices.map { k in examples.filter { $0.task == k }.count } }
}
