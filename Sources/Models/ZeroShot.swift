import Foundation
import Tensors

/// Zero-shot classification: each input goes to the class whose prompt's embedding is the most
/// similar (cosine; the embeddings are normalised, so a dot product).
public enum ZeroShot {
    /// The outcome of classifying a split.
    public struct Result: Sendable {
        /// Inputs whose predicted class is their label.
        public let correct: Int
        /// Inputs classified.
        public let total: Int
        /// Correct and total counts of each class, by class index (classes.txt's order).
        public let perClass: [(correct: Int, total: Int)]
        /// `correct` / `total`, from 0 to 1 (0 for no inputs).
        public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
    }

    /// Texts against the class prompts, or images when the split is `split.npz`.
    /// - Throws: `ModelError` when the split cannot be read (`TaskFolder.inputs`) or the encoder cannot embed its
    ///   inputs or the prompts (an image task given a text-only encoder, among others).
    public static func evaluate(_ encoder: any ZeroShotEncoder, task: TaskFolder, split: String = "test") throws
        -> Result
    {
        let (examples, labels) = try task.inputs(split)
        WorkProgress.expect(task.prompts.count + examples.count)
        let classEmbeddings = try encoder.embed(texts: task.prompts)
        let predicted = predictions(try encoder.embed(inputs: examples), among: classEmbeddings)
        var perClass = Array(repeating: (correct: 0, total: 0), count: task.labels.count)
        var correct = 0
        for (label, guess) in zip(labels, predicted) {
            perClass[label].total += 1
            if guess == label {
                correct += 1
                perClass[label].correct += 1
            }
        }
        return Result(correct: correct, total: labels.count, perClass: perClass)
    }

    /// For each input embedding, the index of the class embedding with the largest dot
    /// product; a tie goes to the earliest class. Every embedding has the same length d;
    /// `inputs` is N × d, `classes` C × d (C ≥ 1); the scores are one N × C product (OpenBLAS).
    public static func predictions(_ inputs: [[Float]], among classes: [[Float]]) -> [Int] {
        guard let d = classes.first?.count, !inputs.isEmpty else { return [] }
        precondition(
            classes.allSatisfy { $0.count == d } && inputs.allSatisfy { $0.count == d },
            "embeddings of different lengths")
        let a = inputs.flatMap { $0 }
        let b = classes.flatMap { $0 }
        var scores = [Float](repeating: 0, count: inputs.count * classes.count)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                scores.withUnsafeMutableBufferPointer { c in
                    Blas.sgemm(
                        transposeB: true, m: inputs.count, n: classes.count, k: d,
                        a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d, c: c.baseAddress!, ldc: classes.count)
                }
            }
        }
        return (0..<inputs.count).map { i in
            let row = scores[(i * classes.count)..<((i + 1) * classes.count)]
            var best = row.startIndex
            for j in row.indices where row[j] > row[best] { best = j }
            return best - row.startIndex
        }
    }
}
