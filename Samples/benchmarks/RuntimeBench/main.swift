// Times Scalpel's BERT forward + backward (weight gradients for every first-MLP weight
// only), for Samples/benchmarks/runtime.py, which runs PyTorch on the same batch in the same
// run. Prints one JSON line: per-iteration seconds and the loss.
//
//   runtime-bench MODEL_FOLDER [--batch 32] [--tokens 32] [--repeats 5]
import Foundation
import Models

var arguments = CommandLine.arguments.dropFirst()
guard let folder = arguments.popFirst() else {
    FileHandle.standardError.write(
        Data("usage: runtime-bench MODEL_FOLDER [--batch 32] [--tokens 32] [--repeats 5]\n".utf8))
    exit(2)
}
var settings = ["--batch": 32, "--tokens": 32, "--repeats": 5]
while let flag = arguments.popFirst() {
    guard settings[flag] != nil, let value = arguments.popFirst().flatMap(Int.init) else {
        FileHandle.standardError.write(Data("runtime-bench: unknown or incomplete option \(flag)\n".utf8))
        exit(2)
    }
    settings[flag] = value
}
let batchSize = settings["--batch"]!
let tokens = settings["--tokens"]!
let repeats = settings["--repeats"]!

do {
    let encoder = try TextEncoder(path: folder)
    let vocabulary = encoder.model.configuration.vocabulary
    // The batch runtime.py builds too: [CLS] (101), ids 1000 + (7·b + 13·t) mod 20000, [SEP] (102).
    let batch = (0..<batchSize).map { b in
        [Int32(101)] + (1..<(tokens - 1)).map { t in Int32(1000 + (7 * b + 13 * t) % min(20_000, vocabulary - 1000)) }
            + [Int32(102)]
    }
    let model = encoder.model
    let names = Set((0..<model.configuration.layers).map { model.tensorName(layer: $0, "intermediate.dense.weight") })
    // Loss: the sum over the batch of the squared sum of each embedding's values.
    let loss: BertModel.EmbeddingLoss = { embeddings in
        var total: Float = 0
        let gradients = embeddings.map { e -> [Float] in
            let s = e.reduce(0, +)
            total += s * s
            return e.map { _ in 2 * s }
        }
        return (total, gradients)
    }
    var seconds: [Double] = []
    var value: Float = 0
    for _ in 0..<(repeats + 1) {  // the first run warms up
        let start = Date()
        value = try model.gradients(batch, of: names, loss: loss).loss
        seconds.append(Date().timeIntervalSince(start))
    }
    print("{\"seconds\": [\(seconds.dropFirst().map { String($0) }.joined(separator: ", "))], \"loss\": \(value)}")
} catch {
    FileHandle.standardError.write(Data("runtime-bench: \(error)\n".utf8))
    exit(1)
}
