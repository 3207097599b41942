// Times one SPU scoring batch and one masked training step (and, for scale, one full
// fine-tuning step where the architecture has one) as `scalpel mask` and `scalpel train` run
// them, for Samples/benchmarks/spu_step.py (BERT) and spu_step_clip.py (CLIP), which run
// PyTorch on the same model, batch and mask sizes in the same run. Prints one JSON line of
// per-repeat seconds.
//
//   spu-bench MODEL_FOLDER TASK_FOLDER [--repeats 5]
//
// TASK_FOLDER holds one batch of training texts or images (the Python drivers write it).
import Checkpoints
import Foundation
import Models
import Relevance
import Training

var arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: spu-bench MODEL_FOLDER TASK_FOLDER [--repeats 5]\n".utf8))
    exit(2)
}
let (folder, taskFolder) = (arguments[0], arguments[1])
let repeats = arguments.count >= 4 && arguments[2] == "--repeats" ? Int(arguments[3]) ?? 5 : 5

func timed(_ body: () throws -> Void) rethrows -> [Double] {
    var seconds: [Double] = []
    for _ in 0..<(repeats + 1) {  // the first run warms up
        let start = Date()
        try body()
        seconds.append(Date().timeIntervalSince(start))
    }
    return Array(seconds.dropFirst())
}

do {
    let task = try TaskFolder(folder: taskFolder)
    let data = try TrainingData(task: task)
    let batch = data.examples.count
    let encoder = try Architecture.encoder(Checkpoint.open(folder))
    let eligible = try LayerGroup.tensors("first-mlp", of: encoder)
    var scoring = RelevanceScorer.Settings()
    scoring.batchSize = batch
    scoring.scoreFraction = 1  // the task is one batch
    var scores: [String: [Float]] = [:]
    let score = try timed {
        scores = try RelevanceScorer.scores(encoder, task: task, tensors: eligible, settings: scoring)
    }
    var masks: [String: MaskedTrainer.TensorMask] = [:]
    for (name, values) in scores {
        masks[name] = .positions(try MaskSelection.top(values, rate: 0.1))
        if let bias = LayerGroup.bias(of: name, in: encoder) { masks[bias] = .all }
    }
    var settings = MaskedTrainer.Settings()
    settings.epochs = 1
    settings.batchSize = batch
    settings.warmup = 0
    settings.learningRate = 1e-9  // the step's cost, not its effect
    let step = try timed { _ = try MaskedTrainer.train(encoder, data: data, masks: masks, settings: settings) }
    var full: [Double]?
    if encoder.trainsEveryTensor {
        let all = Dictionary(uniqueKeysWithValues: encoder.trainableNames.map { ($0, MaskedTrainer.TensorMask.all) })
        full = try timed { _ = try MaskedTrainer.train(encoder, data: data, masks: all, settings: settings) }
    }
    let kept = masks.reduce(0) { $0 + $1.value.count(of: encoder.values(of: $1.key)?.count ?? 0) }
    func list(_ x: [Double]) -> String { "[" + x.map { String($0) }.joined(separator: ", ") + "]" }
    print(
        "{\"score\": \(list(score)), \"step\": \(list(step)), \"full_step\": \(full.map(list) ?? "null"), \"masked_elements\": \(kept)}"
    )
} catch {
    FileHandle.standardError.write(Data("spu-bench: \(error)\n".utf8))
    exit(1)
}
