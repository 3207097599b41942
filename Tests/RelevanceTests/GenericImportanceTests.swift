import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints
@testable import Models
@testable import Relevance

/// MAS importance on generic text: the gradient of ‖p‖² before the normalisation, checked
/// against finite differences; the generic text file's refusals; the knowledge-aware scores
/// as the scorer composes them.
struct GenericImportanceTests {
    static let text = ReferencePython.packageRoot + "/Tests/Fixtures/text"
    static let clip = ReferencePython.packageRoot + "/Tests/Fixtures/clip"

    /// A finite difference of `loss` in element `j` of tensor `name`, rebuilding the model with
    /// the element moved by ±ε, against `analytic`, within 2 %.
    static func expectMatchesFiniteDifference(
        _ analytic: Float, _ name: String, _ j: Int, in checkpoint: Checkpoint,
        loss: ([String: TensorView]) throws -> Float
    ) throws {
        let entry = try #require(checkpoint.entry(named: name))
        let values = checkpoint.view(entry).floatValues()
        func moved(_ delta: Float) throws -> Float {
            var changed = values
            changed[j] += delta
            let view = TensorView.make(dtype: .f32, shape: entry.shape) { buffer in
                changed.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            return try loss([name: view])
        }
        let eps: Float = 1e-2
        let difference = (try moved(eps) - moved(-eps)) / (2 * eps)
        #expect(abs(difference - analytic) <= 0.02 * abs(analytic), "\(name)[\(j)]: \(difference) vs \(analytic)")
    }

    @Test func theSquaredNormGradientBeforeTheNormalisationMatchesAFiniteDifference() throws {
        let checkpoint = try Checkpoint.open(Self.text + "/tiny_bert.safetensors")
        let config = Self.text + "/tiny_bert_config.json"
        let model = try BertModel(checkpoint: checkpoint, configFile: config)
        let batch: [[Int32]] = [[2, 17, 45, 9, 3]]
        let loss: BertModel.EmbeddingLoss = { embeddings in
            let result = GenericImportance.squaredNormLoss(inputs: embeddings, prompts: [])
            return (result.loss, result.inputs)
        }
        let names = [
            "encoder.layer.0.intermediate.dense.weight", "encoder.layer.1.intermediate.dense.weight",
            "encoder.layer.1.intermediate.dense.bias",
        ]
        let result = try model.gradients(batch, of: Set(names), stage: .unnormalised, loss: loss)
        #expect(result.loss > 1)  // a LayerNorm output's mean, far from unit length
        for name in names {
            let gradient = try #require(result.tensors[name])
            let j = gradient.indices.max { abs(gradient[$0]) < abs(gradient[$1]) }!
            try Self.expectMatchesFiniteDifference(gradient[j], name, j, in: checkpoint) { replacements in
                try BertModel(checkpoint: checkpoint, configFile: config, replacements: replacements)
                    .gradients(batch, of: [], stage: .unnormalised, loss: loss).loss
            }
        }
        // Why before the normalisation: of the output itself, ‖e‖² is 1 and its gradient nothing.
        let normalised = try model.gradients(batch, of: Set(names), loss: loss)
        #expect(abs(normalised.loss - 1) < 1e-5)
        let largest = normalised.tensors.values.flatMap { $0 }.map { abs($0) }.max() ?? .infinity
        let unnormalisedLargest = result.tensors.values.flatMap { $0 }.map { abs($0) }.max() ?? 0
        #expect(largest < 1e-5 * unnormalisedLargest, "\(largest) against \(unnormalisedLargest)")
    }

    @Test func clipsTextTowerBeforeTheNormalisationMatchesAFiniteDifference() throws {
        let checkpoint = try Checkpoint.open(Self.clip + "/tiny_open_clip.safetensors")
        let config = Self.clip + "/open_clip_config.json"
        let model = try CLIPModel(checkpoint: checkpoint, configFile: config)
        let texts: [[Int32]] = [[998, 17, 45, 9, 999], [998, 11, 999]]
        let loss: CLIPModel.EmbeddingLoss = { _, texts in
            let result = GenericImportance.squaredNormLoss(inputs: texts, prompts: [])
            return (result.loss, [], result.inputs)
        }
        let name = model.firstMLPNames.text[0]
        let result = try model.gradients(images: [], texts: texts, of: [name], stage: .unnormalised, loss: loss)
        let gradient = try #require(result.tensors[name])
        let j = gradient.indices.max { abs(gradient[$0]) < abs(gradient[$1]) }!
        try Self.expectMatchesFiniteDifference(gradient[j], name, j, in: checkpoint) { replacements in
            try CLIPModel(checkpoint: checkpoint, configFile: config, replacements: replacements)
                .gradients(images: [], texts: texts, of: [], stage: .unnormalised, loss: loss).loss
        }
    }

    @Test func masIsTheMeanOverTextsOfTheAbsoluteGradient() throws {
        let s = try TinyContinualRun.setUp(#function)
        let checkpoint = try Checkpoint.open(s.model + "/model.safetensors")
        let encoder = try Architecture.encoder(checkpoint, folder: s.model)
        let texts = ["w4 w5 w6", "w20 w21", "w50 w7 w90 w91"]
        let names = ["encoder.layer.0.intermediate.dense.weight", "encoder.layer.1.intermediate.dense.weight"]
        let importance = try GenericImportance.mas(encoder, texts: texts, tensors: names)
        // Per text, ‖p‖² of the model with one weight moved (its loss alone: no tensor asked).
        func squaredNorm(_ replacements: [String: TensorView], _ text: String) throws -> Float {
            try Architecture.encoder(checkpoint, replacements: replacements, folder: s.model)
                .gradients(inputs: [.text(text)], prompts: [], of: [], dropoutSeed: nil, stage: .unnormalised) {
                    GenericImportance.squaredNormLoss(inputs: $0, prompts: $1)
                }.loss
        }
        for name in names {
            let values = try #require(importance[name])
            #expect(values.allSatisfy { $0 >= 0 } && values.contains { $0 > 0 })
            let j = values.indices.max { values[$0] < values[$1] }!
            // The mean of |∂‖p‖²/∂w| per text, which the summed gradient would not give (signs cancel).
            let entry = try #require(checkpoint.entry(named: name))
            var up = checkpoint.view(entry).floatValues()
            var down = up
            up[j] += 1e-2
            down[j] -= 1e-2
            func view(_ v: [Float]) -> TensorView {
                TensorView.make(dtype: .f32, shape: entry.shape) { b in v.withUnsafeBytes { b.copyMemory(from: $0) } }
            }
            let perText = try texts.map { text in
                abs((try squaredNorm([name: view(up)], text) - squaredNorm([name: view(down)], text)) / 2e-2)
            }
            let mean = perText.reduce(0, +) / Float(texts.count)
            #expect(abs(mean - values[j]) <= 0.02 * values[j], "\(name)[\(j)]: \(mean) vs \(values[j])")
            let summed = try encoder.gradients(
                inputs: texts.map { .text($0) }, prompts: [], of: [name], dropoutSeed: nil, stage: .unnormalised
            ) {
                GenericImportance.squaredNormLoss(inputs: $0, prompts: $1)
            }.tensors[name]!
            #expect(
                zip(summed, values).contains { abs($0) / Float(texts.count) < 0.9 * $1 },
                "somewhere the texts' gradients differ in sign")
        }
    }

    @Test func aMissingEmptyOrBadGenericTextFileIsRefusedNamingIt() throws {
        let folder = NSTemporaryDirectory() + "scalpel-generic-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func refusal(_ name: String, _ bytes: [UInt8]?, count: Int = 2) -> String {
            let path = folder + "/" + name
            if let bytes { #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes))) }
            do {
                _ = try GenericImportance.texts(path, count: count)
                return "(accepted)"
            } catch {
                let message = "\(error)"
                return message.hasPrefix(path + ": ")
                    ? String(message.dropFirst(path.count + 2)) : "(not naming the file) " + message
            }
        }
        #expect(refusal("missing.txt", nil).lowercased().contains("no such file"))
        #expect(refusal("empty.txt", []).hasPrefix("holds no text"))
        #expect(refusal("blank.txt", Array(" \n\n\t\r\n".utf8)).hasPrefix("holds no text"))
        #expect(refusal("latin1.txt", [0x63, 0x61, 0x66, 0xE9, 0x0A]).contains("not valid UTF-8"))
        #expect(refusal("short.txt", Array("one\ntwo\n".utf8), count: 5).hasPrefix("holds 2 texts, fewer than the 5"))
        #expect(refusal(".", nil) != "(accepted)" && !refusal(".", nil).hasPrefix("(not naming"))
        // Blank lines skipped, CRLF and a byte-order mark taken as TextFile takes them; the first texts.
        let good = folder + "/good.txt"
        #expect(
            FileManager.default.createFile(
                atPath: good, contents: Data(TextFile.byteOrderMark + Array("first\r\n\nsecond\nthird\n".utf8))))
        #expect(try GenericImportance.texts(good, count: 2) == ["first", "second"])
    }

    @Test func theScorerComposesRelevanceAndImportanceAsDefined() throws {
        let s = try TinyContinualRun.setUp(#function)
        let encoder = try Architecture.encoder(try Checkpoint.open(s.model + "/model.safetensors"), folder: s.model)
        let task = try TaskFolder(folder: s.tasks[0])
        let generic = s.root + "/generic.txt"
        try "w70 w71\nw80 w81 w82\nw90\nw75 w76\n".write(toFile: generic, atomically: true, encoding: .utf8)
        let tensors = ["encoder.layer.0.intermediate.dense.weight", "encoder.layer.1.intermediate.dense.weight"]
        var settings = RelevanceScorer.Settings()
        settings.batchSize = 8
        let relevance = try RelevanceScorer.scores(encoder, task: task, tensors: tensors, settings: settings)
        let importance = try GenericImportance.mas(encoder, texts: ["w70 w71", "w80 w81 w82", "w90"], tensors: tensors)
        settings.generic.textFile = generic
        settings.generic.examples = 3
        settings.method = .spuMASRatio
        let ratio = try RelevanceScorer.scores(encoder, task: task, tensors: tensors, settings: settings)
        settings.method = .spuMASExclude
        settings.protectedFraction = 0.25
        let excluded = try RelevanceScorer.scores(encoder, task: task, tensors: tensors, settings: settings)
        for name in tensors {
            #expect(
                ratio[name]
                    == KnowledgeAwareScores.ratio(
                        relevance: relevance[name]!, importance: importance[name]!, floor: 0.1))
            let protected = KnowledgeAwareScores.mostImportant(importance[name]!, fraction: 0.25)
            #expect(protected.count == 64 * 32 / 4)
            #expect(excluded[name]!.indices.filter { excluded[name]![$0] == -.infinity } == protected)
            #expect(
                excluded[name]!.indices.filter { excluded[name]![$0] != -.infinity }.allSatisfy {
                    excluded[name]![$0] == relevance[name]![$0]
                })
            // The masks differ from SPU's, at the same size.
            let spu = try MaskSelection.top(relevance[name]!, rate: 0.1)
            let exclusion = try MaskSelection.top(excluded[name]!, rate: 0.1)
            #expect(exclusion.count == spu.count && exclusion != spu && Set(exclusion).isDisjoint(with: protected))
        }
        // A missing file is refused before any pass runs, naming it.
        settings.generic.textFile = s.root + "/nothing.txt"
        #expect { try RelevanceScorer.scores(encoder, task: task, tensors: tensors, settings: settings) } throws: {
            "\($0)".hasPrefix(s.root + "/nothing.txt: ")
        }
    }
}
