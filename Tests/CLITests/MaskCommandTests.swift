import Foundation
import Patches
import Testing

@testable import Checkpoints

struct MaskCommandTests {
    @Test func maskKeepsTheTopRateOfEveryFirstMLPWeight() throws {
        guard DefaultModelFiles.isAvailable else { return }
        let model = DefaultModelFiles.model
        let task = DefaultModelFiles.task
        let folder = try CLI.scratchFolder()
        let mask = folder + "/mask.spatch"
        let result = try CLI.run([
            "mask", model, "--task", task, "-o", mask, "--rate", "0.05", "--score-fraction", "0.5", "--batch", "8",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let audit = try JSONValue.parse(try CLI.run(["audit", mask, "--json"]).stdout)
        let entries = try #require(audit["entries"]?.arrayValue)
        #expect(entries.count == 12)
        for entry in entries {
            let name = entry["name"]?.stringValue ?? ""
            let expected = name.hasSuffix("weight") ? Int((0.05 * 1536 * 384).rounded()) : 1536
            #expect(entry["elements_selected"]?.intValue == expected, "\(name)")
        }
        #expect(audit["metadata"]?["mask.score"]?.stringValue == "spu")
        for (arguments, message) in [
            (["--rate", "0"], "--rate must be in (0, 1]"), (["--rate", "1.5"], "--rate must be in (0, 1]"),
            (["--layers", "*.nothing.*"], "\"*.nothing.*\" selects no tensor"),
        ] {
            let bad = try CLI.run(["mask", model, "--task", task, "-o", folder + "/x.spatch"] + arguments)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(bad.stderr)")
        }
        let empty = try CLI.scratchFolder("empty-task")
        let noClasses = try CLI.run(["mask", model, "--task", empty, "-o", folder + "/x.spatch"])
        #expect(noClasses.status != 0 && noClasses.stderr.contains("classes.txt"), "\(noClasses.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.spatch"))
    }

    @Test func otherLayerGroupsAndGlobs() throws {
        guard DefaultModelFiles.isAvailable else { return }
        let model = DefaultModelFiles.model
        let task = DefaultModelFiles.task
        let folder = try CLI.scratchFolder()
        let mask = folder + "/mask.spatch"
        let result = try CLI.run([
            "mask", model, "--task", task, "-o", mask, "--rate", "0.01", "--score-fraction", "0.1",
            "--layers", "attention,*.layer.5.output.dense.weight", "--no-dense-bias",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let audit = try JSONValue.parse(try CLI.run(["audit", mask, "--json"]).stdout)
        let names = Set(try #require(audit["entries"]?.arrayValue).compactMap { $0["name"]?.stringValue })
        #expect(names.count == 6 * 4 + 1 && names.contains("encoder.layer.5.output.dense.weight"), "\(names.sorted())")
        #expect(
            names.allSatisfy {
                $0.hasSuffix(".weight") && ($0.contains("attention") || $0 == "encoder.layer.5.output.dense.weight")
            })
    }
}

struct TrainCommandTests {
    @Test func trainUnderAMaskWritesAPatchThatChangesOnlyMaskedElements() throws {
        guard DefaultModelFiles.isAvailable else { return }
        let model = DefaultModelFiles.model
        let task = DefaultModelFiles.task
        let folder = try CLI.scratchFolder()
        let mask = folder + "/mask.spatch"
        let patch = folder + "/topics.spatch"
        #expect(
            try CLI.run(["mask", model, "--task", task, "-o", mask, "--rate", "0.02", "--score", "magnitude"]).status
                == 0)
        let trained = try CLI.run([
            "train", model, "--task", task, "--mask", mask, "-o", patch, "--epochs", "1", "--batch", "20", "--lr",
            "1e-3",
        ])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("2 steps"), "\(trained.stdout)")
        let audit = try JSONValue.parse(try CLI.run(["audit", patch, "--json"]).stdout)
        #expect(audit["metadata"]?["train.mask"]?.stringValue?.count == 64)
        // Only the first-MLP tensors changed (the patch was made under the mask, which refuses
        // any other change); the patched model evaluates.
        let names = try #require(audit["entries"]?.arrayValue).compactMap { $0["name"]?.stringValue }
        #expect(!names.isEmpty && names.allSatisfy { $0.contains("intermediate.dense") }, "\(names)")
        #expect(try CLI.run(["eval", model, patch, "--task", task]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: folder + "/.topics.spatch.scalpel-trained.safetensors"))
        // Full fine-tuning on top of that patch, replaying its task (found from the patch's
        // metadata): every tensor may change, and the replay is recorded.
        let full = folder + "/full.spatch"
        let all = try CLI.run([
            "train", model, patch, "--task", task, "--mask", "all", "-o", full, "--epochs", "1", "--batch", "64",
            "--replay", patch, "--buffer", "4",
        ])
        #expect(all.status == 0, "\(all.stderr)")
        let fullAudit = try JSONValue.parse(try CLI.run(["audit", full, "--json"]).stdout)
        #expect(fullAudit["metadata"]?["train.mask"]?.stringValue == "all")
        #expect(
            fullAudit["metadata"]?["train.replay"]?.stringValue?.contains("\"examples\":4") == true,
            "\(fullAudit["metadata"] ?? .null)")
        let fullNames = try #require(fullAudit["entries"]?.arrayValue).compactMap { $0["name"]?.stringValue }
        #expect(fullNames.count > 90 && fullNames.contains("embeddings.LayerNorm.weight"), "\(fullNames.count)")
        // Refusals: a mask made for another base; a replay source that is neither a task nor a patch.
        let badReplay = try CLI.run([
            "train", model, "--task", task, "--mask", mask, "-o", folder + "/x.spatch", "--replay", folder + "/nothing",
        ])
        #expect(badReplay.status != 0 && badReplay.stderr.contains("nothing"), "\(badReplay.stderr)")
        let otherBase = try InspectConvertTests.makeModel(in: folder)
        try MaskWriter.write(
            positions: [("encoder.layer.0.intermediate.dense.weight", [0, 1])], base: Checkpoint.open(otherBase),
            metadata: [], to: folder + "/other-mask.spatch")
        let wrong = try CLI.run([
            "train", model, "--task", task, "--mask", folder + "/other-mask.spatch", "-o", folder + "/x.spatch",
        ])
        #expect(wrong.status != 0 && wrong.stderr.contains("other-mask.spatch"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.spatch"))
    }
}
