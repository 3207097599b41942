// Times Scalpel's CLIP forward + backward with gradients for every first-MLP weight (mlp.c_fc
// of both towers) only, for Samples/benchmarks/clip_runtime.py, which runs open_clip on the
// same inputs in the same run. Prints one JSON line: per-iteration seconds and the loss.
//
//   clip-bench MODEL_FOLDER INPUTS.safetensors [--repeats 3] [--images-only]
//
// INPUTS holds "images" (N, 3, 224, 224) float32 and "texts" (N, 77) int64 token ids. With
// --images-only the text tower is left out and the loss is Σ_i (Σ_k I_ik)².
import Checkpoints
import Foundation
import Models

var arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: clip-bench MODEL_FOLDER INPUTS.safetensors [--repeats 3]\n".utf8))
    exit(2)
}
let repeats = arguments.firstIndex(of: "--repeats").flatMap { Int(arguments[$0 + 1]) } ?? 3
let imagesOnly = arguments.contains("--images-only")

do {
    let folder = arguments[0]
    let model = try CLIPModel(
        checkpoint: Checkpoint.open(folder + "/model.safetensors"), configFile: folder + "/open_clip_config.json")
    let inputs = try Checkpoint.open(arguments[1])
    let (images, _) = try ImageFile.read(arguments[1])
    let ids = try inputs.view(named: "texts").floatValues().map { Int32($0) }
    let length = try inputs.view(named: "texts").shape[1]
    // Each sequence up to its end token (what the causal tower can see from there).
    let texts = (0..<images.count).map { b -> [Int32] in
        let row = Array(ids[(b * length)..<((b + 1) * length)])
        return Array(row.prefix((row.firstIndex(of: row.max() ?? 0) ?? 0) + 1))
    }
    let names = Set((imagesOnly ? [] : model.firstMLPNames.text) + model.firstMLPNames.vision)
    // Loss: Σ_ij (I_i · T_j)², or Σ_i (Σ_k I_ik)² for the image tower alone, as clip_runtime.py computes them.
    let loss: CLIPModel.EmbeddingLoss = { images, texts in
        if imagesOnly {
            var total: Float = 0
            let gradients = images.map { image -> [Float] in
                let sum = image.reduce(0, +)
                total += sum * sum
                return image.map { _ in 2 * sum }
            }
            return (total, gradients, [])
        }
        var total: Float = 0
        var dImages = images.map { $0.map { _ in Float(0) } }
        var dTexts = texts.map { $0.map { _ in Float(0) } }
        for (i, image) in images.enumerated() {
            for (j, text) in texts.enumerated() {
                let dot = zip(image, text).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                total += dot * dot
                for k in image.indices {
                    dImages[i][k] += 2 * dot * text[k]
                    dTexts[j][k] += 2 * dot * image[k]
                }
            }
        }
        return (total, dImages, dTexts)
    }
    var seconds: [Double] = []
    var value: Float = 0
    for _ in 0..<(repeats + 1) {  // the first run warms up
        let start = Date()
        value = try model.gradients(images: images, texts: imagesOnly ? [] : texts, of: names, loss: loss).loss
        seconds.append(Date().timeIntervalSince(start))
    }
    print("{\"seconds\": [\(seconds.dropFirst().map { String($0) }.joined(separator: ", "))], \"loss\": \(value)}")
} catch {
    FileHandle.standardError.write(Data("clip-bench: \(error)\n".utf8))
    exit(1)
}
