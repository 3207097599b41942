import Foundation

/// Zero-shot classification: each input goes to the class whose prompt's embedding is the most
/// similar (cosine; the embeddings are normalised, so a dot product).
public enum ZeroShot {
    public struct Result: Sendable {
        public let correct: Int
        public let total: Int
        public let perClass: [(correct: Int, total: Int)]
        public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
    }

    /// Texts against the class prompts, or images when the split is `split.npz`.
    public static func evaluate(_ encoder: any ZeroShotEncoder, task: TaskFolder, split: String = "test") throws -> Result {
        let classEmbeddings = try encoder.embed(texts: task.prompts)
        let (examples, labels) = try task.inputs(split)
        let inputs = try encoder.embed(inputs: examples)
        var perClass = Array(repeating: (correct: 0, total: 0), count: task.labels.count)
        var correct = 0
        for (label, embedding) in zip(labels, inputs) {
            let scores = classEmbeddings.map { zip($0, embedding).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            let predicted = scores.indices.max { scores[$0] < scores[$1] } ?? 0
            perClass[label].total += 1
            if predicted == label {
                correct += 1
                perClass[label].correct += 1
            }
        }
        return Result(correct: correct, total: labels.count, perClass: perClass)
    }
}
