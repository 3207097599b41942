import Foundation
import Patches
import Tensors
import Testing

@testable import Checkpoints

/// embed and eval on a CLIP model: the tiny random open_clip model of the fixtures, given the
/// real tokenizer's vocabulary size so prompts tokenize, and an image task.
struct CLIPCommandTests {
    static let vocabulary = DefaultModelFiles.root + "/.cache/models/clip-bpe/bpe_simple_vocab_16e6.txt.gz"

    /// A model folder and an image task folder with four images (labels as given).
    static func setUp(labels: [Int64]) throws -> (model: String, task: String) {
        let folder = try CLI.scratchFolder()
        let fixtures = DefaultModelFiles.root + "/Tests/Fixtures/clip"
        let source = try Checkpoint.open(fixtures + "/tiny_open_clip.safetensors")
        var generator = SeededGenerator(seed: 5)
        let tokens = TensorView.make(dtype: .f32, shape: [49_408, 32]) { buffer in
            let floats = buffer.bindMemory(to: Float.self)
            for i in floats.indices { floats[i] = Float(Int(generator.next() % 2001) - 1000) * 2e-5 }
        }
        let tensors = source.tensors.filter { !$0.name.hasPrefix("expected.") }.map { entry in
            OutputTensor(name: entry.name, view: entry.name == "token_embedding.weight" ? tokens : source.view(entry))
        }
        try FileManager.default.createDirectory(atPath: folder + "/model", withIntermediateDirectories: true)
        try SafetensorsWriter.write(tensors, metadata: [], to: folder + "/model/model.safetensors")
        try FileManager.default.copyItem(
            atPath: fixtures + "/open_clip_config.json", toPath: folder + "/model/open_clip_config.json")
        try FileManager.default.copyItem(atPath: vocabulary, toPath: folder + "/model/bpe_simple_vocab_16e6.txt.gz")
        // The task: two copies of the fixture's two images.
        let pixels = try source.view(named: "expected.images").floatValues()
        let images = TensorView.make(dtype: .f32, shape: [4, 3, 32, 32]) { buffer in
            (pixels + pixels).withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        let labelView = TensorView.make(dtype: .i64, shape: [4]) { buffer in
            labels.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        try FileManager.default.createDirectory(atPath: folder + "/task", withIntermediateDirectories: true)
        try SafetensorsWriter.write(
            [OutputTensor(name: "images", view: images), OutputTensor(name: "labels", view: labelView)],
            metadata: [], to: folder + "/arrays.safetensors")
        #expect(try CLI.run(["convert", folder + "/arrays.safetensors", folder + "/task/test.npz"]).status == 0)
        try "noise\ta photo of noise\nstatic\ta photo of static\nsnow\ta photo of snow\n".write(
            toFile: folder + "/task/classes.txt", atomically: true, encoding: .utf8)
        return (folder + "/model", folder + "/task")
    }

    @Test func embedAndEvalRunCLIPOnImagesAndTexts() throws {
        guard FileManager.default.fileExists(atPath: Self.vocabulary) else {
            print("skipped: \(Self.vocabulary) is missing (./test.sh fetches it)")
            return
        }
        let (model, task) = try Self.setUp(labels: [0, 1, 0, 1])
        let embedded = try CLI.run([
            "embed", model, "--images", task + "/test.npz", "--text", "a photo of snow", "--json",
        ])
        #expect(embedded.status == 0, "\(embedded.stderr)")
        let json = try JSONValue.parse(embedded.stdout)
        #expect(json["architecture"]?.stringValue == "CLIP" && json["dimension"]?.intValue == 16)
        let rows = try #require(json["embeddings"]?.arrayValue)
        #expect(rows.count == 5)
        for row in rows {
            let values = (row["embedding"]?.arrayValue ?? []).compactMap { value -> Double? in
                if case .number(let x) = value { return x }
                return nil
            }
            #expect(values.count == 16 && abs(values.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
        }
        let evaluated = try CLI.run(["eval", model, "--task", task, "--json"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let result = try JSONValue.parse(evaluated.stdout)
        #expect(result["total"]?.intValue == 4 && result["architecture"]?.stringValue == "CLIP")
        // Labels outside the classes, and images given to a text encoder, are refused.
        let (_, badTask) = try Self.setUp(labels: [0, 1, 7, 1])
        let bad = try CLI.run(["eval", model, "--task", badTask])
        #expect(bad.status != 0 && bad.stderr.contains("\"labels\"[2] is 7, outside the 3 classes"), "\(bad.stderr)")
        if DefaultModelFiles.isAvailable {
            let bert = try CLI.run(["embed", DefaultModelFiles.model, "--images", task + "/test.npz"])
            #expect(bert.status != 0 && bert.stderr.contains("no image tower"), "\(bert.stderr)")
        }
    }
}

/// SPU end to end on CLIP: mask, train and continual over image tasks on the tiny model.
struct CLIPSPUTests {
    /// An image task with two classes told apart by a per-class pattern plus noise
    /// (`count` images per class in each split), written as train.npz and test.npz.
    static func imageTask(_ folder: String, classes: [String], seed: UInt64, count: Int = 8) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var generator = SeededGenerator(seed: seed)
        func noise() -> Float { Float(Int(generator.next() % 2001) - 1000) / 1000 }
        // Strong patterns: the tiny random model embeds every image nearly alike.
        let patterns = classes.map { _ in (0..<(3 * 32 * 32)).map { _ in 3 * noise() } }
        for split in ["train", "test"] {
            var pixels: [Float] = []
            var labels: [Int64] = []
            for _ in 0..<count {
                for (label, pattern) in patterns.enumerated() {
                    pixels += pattern.map { $0 + 0.5 * noise() }
                    labels.append(Int64(label))
                }
            }
            let images = TensorView.make(dtype: .f32, shape: [labels.count, 3, 32, 32]) { buffer in
                pixels.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            let labelView = TensorView.make(dtype: .i64, shape: [labels.count]) { buffer in
                labels.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            let arrays = folder + "/\(split).safetensors"
            try SafetensorsWriter.write(
                [OutputTensor(name: "images", view: images), OutputTensor(name: "labels", view: labelView)],
                metadata: [], to: arrays)
            #expect(try CLI.run(["convert", arrays, folder + "/\(split).npz"]).status == 0)
            try FileManager.default.removeItem(atPath: arrays)
        }
        try classes.map { "\($0)\ta photo of \($0)" }.joined(separator: "\n").write(
            toFile: folder + "/classes.txt", atomically: true, encoding: .utf8)
        return folder
    }

    @Test func maskTrainAndContinualRunOnCLIPImageTasks() throws {
        guard FileManager.default.fileExists(atPath: CLIPCommandTests.vocabulary) else {
            print("skipped: \(CLIPCommandTests.vocabulary) is missing (./test.sh fetches it)")
            return
        }
        let (model, control) = try CLIPCommandTests.setUp(labels: [0, 1, 2, 0])
        let folder = try CLI.scratchFolder()
        let first = try Self.imageTask(folder + "/stripes", classes: ["stripes", "dots"], seed: 11)
        let second = try Self.imageTask(folder + "/waves", classes: ["waves", "grid"], seed: 12)
        let fcNames = (0..<2).flatMap {
            ["transformer.resblocks.\($0).mlp.c_fc", "visual.transformer.resblocks.\($0).mlp.c_fc"]
        }

        // The mask: c_fc of both towers, each weight its own top 10 %, the biases whole.
        let mask = folder + "/mask.spatch"
        let masked = try CLI.run(["mask", model, "--task", first, "-o", mask, "--batch", "4"])
        #expect(masked.status == 0, "\(masked.stderr)")
        let maskAudit = try JSONValue.parse(try CLI.run(["audit", mask, "--json"]).stdout)
        let maskEntries = try #require(maskAudit["entries"]?.arrayValue)
        #expect(
            Set(maskEntries.compactMap { $0["name"]?.stringValue })
                == Set(fcNames.flatMap { [$0 + ".weight", $0 + ".bias"] }))
        for entry in maskEntries {
            let weight = entry["name"]?.stringValue?.hasSuffix(".weight") == true
            // c_fc: 64 × 32
            #expect(entry["elements_selected"]?.intValue == (weight ? Int((0.1 * 64 * 32).rounded()) : 64), "\(entry)")
        }
        let checkpoint = try Checkpoint.open(model + "/model.safetensors")
        let scale = exp(try checkpoint.view(named: "logit_scale").floatValues()[0])
        #expect(maskAudit["metadata"]?["mask.logit_scale"]?.stringValue == "\(scale)")

        // Training under it changes masked elements of both towers and nothing else, and the
        // training loss falls below the base model's (the tiny random model embeds every
        // image and prompt nearly alike, so its accuracy moves slowly; the loss is the signal).
        let patch = folder + "/stripes.spatch"
        func train(lr: String, to output: String) throws -> JSONValue {
            let trained = try CLI.run([
                "train", model, "--task", first, "--mask", mask, "-o", output, "--epochs", "6", "--batch", "8", "--lr",
                lr,
            ])
            #expect(trained.status == 0, "\(trained.stderr)")
            return try JSONValue.parse(try CLI.run(["audit", output, "--json"]).stdout)
        }
        func finalLoss(_ audit: JSONValue) -> Double {
            Double(audit["metadata"]?["train.final_loss"]?.stringValue ?? "") ?? .nan
        }
        let audit = try train(lr: "1e-2", to: patch)
        let baseLoss = finalLoss(try train(lr: "1e-12", to: folder + "/unmoved.spatch"))
        #expect(finalLoss(audit) < baseLoss - 0.05, "training loss \(baseLoss) → \(finalLoss(audit))")
        let changed = try #require(audit["entries"]?.arrayValue).compactMap { $0["name"]?.stringValue }
        #expect(
            changed.allSatisfy { $0.contains("mlp.c_fc") } && changed.contains { $0.hasPrefix("visual.") }
                && changed.contains { !$0.hasPrefix("visual.") }, "\(changed)")
        #expect(audit["metadata"]?["train.loss"]?.stringValue == "symmetric cross-entropy")
        #expect(
            audit["metadata"]?["train.logit_scale"]?.stringValue == "\(scale)"
                && audit["metadata"]?["train.dropout"]?.stringValue == "none")
        #expect(try CLI.run(["eval", model, patch, "--task", first]).status == 0)

        // What CLIP's runtime cannot train is refused by name.
        let attention = try CLI.run([
            "mask", model, "--task", first, "-o", folder + "/x.spatch", "--layers", "attention",
        ])
        #expect(attention.status != 0 && attention.stderr.contains("first MLP linears"), "\(attention.stderr)")
        let full = try CLI.run(["train", model, "--task", first, "--mask", "all", "-o", folder + "/x.spatch"])
        #expect(full.status != 0 && full.stderr.contains("cannot be fully fine-tuned"), "\(full.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.spatch"))

        // A continual run over the two image tasks, the first task's images as the control.
        let run = folder + "/run"
        let continual = try CLI.run([
            "continual", model, "--tasks", first, second, "--control", control, "-o", run,
            "--epochs", "2", "--batch", "8", "--lr", "1e-2",
        ])
        #expect(continual.status == 0, "\(continual.stderr)")
        let report = try JSONValue.parse(String(contentsOfFile: run + "/report.json", encoding: .utf8))
        #expect(report["protocol"]?.stringValue == "class")
        for section in ["class_incremental", "task_incremental"] {
            #expect(
                report[section]?["accuracy_matrix"]?.arrayValue?.map { $0.arrayValue?.count ?? 0 } == [1, 2],
                "\(section)")
        }
        let trainable = report["trainable_parameters"]?.intValue ?? 0
        let changedCount = report["changed_parameters"]?.intValue ?? 0
        #expect(changedCount > 0 && changedCount <= trainable, "\(changedCount) of \(trainable)")
    }
}

/// SPU on CLIP against PyTorch and open_clip (Tests/Fixtures/make_clip_spu_fixture.py): the
/// same model, images and prompts give the same mask and the same trained weights.
struct CLIPSPUParityTests {
    static let fixtures = DefaultModelFiles.root + "/Tests/Fixtures/clip/spu"

    @Test func maskAndTrainingMatchOpenCLIP() throws {
        guard FileManager.default.fileExists(atPath: CLIPCommandTests.vocabulary) else {
            print("skipped: \(CLIPCommandTests.vocabulary) is missing (./test.sh fetches it)")
            return
        }
        let folder = try CLI.scratchFolder()
        let model = folder + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for file in ["model.safetensors", "open_clip_config.json"] {
            try FileManager.default.copyItem(atPath: Self.fixtures + "/" + file, toPath: model + "/" + file)
        }
        try FileManager.default.copyItem(
            atPath: CLIPCommandTests.vocabulary, toPath: model + "/bpe_simple_vocab_16e6.txt.gz")
        let task = Self.fixtures + "/task"
        let mask = folder + "/mask.spatch"
        let patch = folder + "/task.spatch"
        let masked = try CLI.run(["mask", model, "--task", task, "-o", mask, "--batch", "8", "--score-fraction", "1"])
        #expect(masked.status == 0, "\(masked.stderr)")
        let trained = try CLI.run([
            "train", model, "--task", task, "--mask", mask, "-o", patch, "--epochs", "2", "--batch", "24", "--lr",
            "1e-3",
        ])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(try CLI.run(["apply", model, patch, "-o", folder + "/tuned.safetensors"]).status == 0)

        let expected = try Checkpoint.open(Self.fixtures + "/expected.safetensors")
        let tuned = try Checkpoint.open(folder + "/tuned.safetensors")
        let base = try Checkpoint.open(model + "/model.safetensors")
        let maskFile = try PatchFile.open(mask)
        let names = expected.tensors.map(\.name).filter { $0.hasPrefix("mask.") }.map {
            String($0.dropFirst("mask.".count))
        }
        #expect(names.count == 8)
        for name in names {
            // The same positions, exactly.
            let wanted = try expected.view(named: "mask." + name).floatValues().enumerated().filter { $0.element != 0 }
                .map(\.offset)
            let entry = try #require(maskFile.entries.first { $0.name == name }, "\(name) is not in the mask")
            #expect(try maskFile.positions(entry).sorted() == wanted, "\(name)")
            // The same trained values: two Adam steps move elements by 1.5e-3; the two
            // implementations agree within 2e-7 (float rounding).
            let reference = try expected.view(named: "trained." + name).floatValues()
            let got = try tuned.view(named: name).floatValues()
            let worst = zip(reference, got).map { abs($0 - $1) }.max() ?? .infinity
            let moved = zip(try base.view(named: name).floatValues(), got).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-6 && moved > 1e-3, "\(name): largest difference \(worst), largest step \(moved)")
        }
    }
}
