import Foundation
import Tensors
import Testing

@testable import Checkpoints

/// `--json` on every command: one object on stdout, led by the command's name, with the same
/// key for the same thing whichever command prints it (Manual/json.md).
struct JSONResultTests {
    static func json(_ arguments: [String]) throws -> JSONValue {
        let result = try CLI.run(arguments + ["--json"])
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        let value = try JSONValue.parse(result.stdout)
        #expect(value["command"]?.stringValue == arguments[0], "\(result.stdout)")
        return value
    }

    /// `tuned` with every 5th element of the MLP weight moved again: a patch on top of
    /// base→tuned that changes those elements and more.
    static func retuned(_ tuned: String, in folder: String) throws -> String {
        let checkpoint = try Checkpoint.open(tuned)
        let outputs = checkpoint.tensors.map { entry -> OutputTensor in
            let view = checkpoint.view(entry)
            guard entry.name.hasSuffix("dense.weight") else { return OutputTensor(name: entry.name, view: view) }
            return OutputTensor(
                name: entry.name,
                view: TensorView.make(dtype: .f32, shape: entry.shape) { buffer in
                    buffer.copyMemory(from: view.bytes)
                    for i in stride(from: 0, to: entry.elementCount, by: 5) {
                        buffer.storeBytes(
                            of: buffer.load(fromByteOffset: i * 4, as: Float.self) + 0.002, toByteOffset: i * 4,
                            as: Float.self)
                    }
                })
        }
        let path = folder + "/retuned.safetensors"
        try SafetensorsWriter.write(outputs, metadata: [("format", "pt")], to: path)
        return path
    }

    @Test func everyPatchCommandSpeaksOneVocabulary() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let retuned = try Self.retuned(tuned, in: folder)
        let first = folder + "/first.spatch"
        let second = folder + "/second.spatch"

        // base → tuned: 205 elements of the 64 × 32 weight (every 10th) and an added 3 × 32 head.
        let create = try Self.json(["create", base, tuned, "-o", first])
        #expect(create["output"]?.stringValue == first)
        #expect(create["tensors_touched"]?.intValue == 2)
        #expect(create["elements_changed"]?.intValue == 205 + 96)
        let id = try #require(create["patch_id"]?.stringValue)
        #expect(id.count == 64)
        #expect(create["bytes"]?.intValue == (try FileManager.default.attributesOfItem(atPath: first)[.size] as? Int))

        // The same patch, by the same keys, in audit, diff and log.
        let audit = try Self.json(["audit", first])
        #expect(audit["patch"]?["id"]?.stringValue == id && audit["patch"]?["path"]?.stringValue == first)
        #expect(audit["tensors_touched"]?.intValue == 2 && audit["elements_changed"]?.intValue == 205 + 96)
        #expect(audit["metadata"]?["base"]?.stringValue == "base.safetensors")
        #expect(audit["metadata"]?["base.fingerprint"]?.stringValue?.count == 64)
        let diff = try Self.json(["diff", base, tuned])
        #expect(diff["tensors_touched"]?.intValue == 1 && diff["elements_changed"]?.intValue == 205)

        // A second patch on top of the first changes every 5th element: applied together, the
        // 205 elements both change count once (410 + the head's 96), not 205 + 410 + 96.
        let chained = try Self.json(["create", tuned, retuned, "-o", second])
        #expect(chained["elements_changed"]?.intValue == 410)
        let applied = folder + "/applied.safetensors"
        let apply = try Self.json(["apply", base, first, second, "-o", applied])
        #expect(apply["output"]?.stringValue == applied)
        #expect(apply["elements_changed"]?.intValue == 410 + 96)
        #expect(apply["tensors_touched"]?.intValue == 2)
        #expect(
            apply["patches"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [
                id, chained["patch_id"]?.stringValue ?? "",
            ])
        #expect(try Self.json(["diff", base, applied])["elements_changed"]?.intValue == 410)
        let log = try Self.json(["log", applied, first])
        #expect(log["model"]?.stringValue == applied)
        #expect(
            log["patches"]?.arrayValue?.first?["id"]?.stringValue == id
                && log["patches"]?.arrayValue?.first?["path"]?.stringValue == first)

        let reverted = folder + "/reverted.safetensors"
        let revert = try Self.json(["revert", applied, second, "-o", reverted])
        #expect(revert["output"]?.stringValue == reverted && revert["elements_changed"]?.intValue == 410)
        #expect(try Self.json(["diff", reverted, tuned])["identical"] == .bool(true))

        // Merge and its plan, convert and inspect.
        let sibling = folder + "/sibling.spatch"
        _ = try Self.json(["create", base, tuned, "-o", sibling, "--meta", "run=2"])
        let plan = try Self.json(["merge", first, sibling, "--plan"])
        #expect(plan["patches"]?.arrayValue?.compactMap { $0["elements_changed"]?.intValue } == [301, 301])
        let merged = folder + "/merged.spatch"
        let merge = try Self.json(["merge", first, sibling, "--base", base, "-o", merged, "--method", "priority"])
        #expect(merge["output"]?.stringValue == merged && merge["elements_changed"]?.intValue == 301)
        // Overlap is counted over the elements both change by XOR (the added head is one
        // whole-tensor change both make alike).
        #expect(merge["elements_overlapping"]?.intValue == 205)
        #expect(try Self.json(["audit", merged])["metadata"]?["base"]?.stringValue == "base.safetensors")
        let converted = folder + "/converted.safetensors"
        let convert = try Self.json(["convert", base, "-o", converted, "--dtype", "bf16"])
        #expect(convert["output"]?.stringValue == converted && convert["tensors_converted"]?.intValue == 2)
        #expect(try Self.json(["inspect", converted])["model"]?.stringValue == converted)
    }

    @Test func evalTrainAndMaskGiveAccuraciesAsPercentages() throws {
        guard DefaultModelFiles.isAvailable else { return }
        let model = DefaultModelFiles.model
        let task = DefaultModelFiles.task
        let folder = try CLI.scratchFolder()
        let eval = try Self.json(["eval", model, "--task", task])
        let correct = try #require(eval["correct"]?.intValue)
        let total = try #require(eval["total"]?.intValue)
        #expect(eval["accuracy"] == .number(Double(correct) / Double(total) * 100))
        let perClass = try #require(eval["per_class"]?.arrayValue)
        #expect(perClass.compactMap { $0["total"]?.intValue }.reduce(0, +) == total)

        let mask = folder + "/mask.spatch"
        let patch = folder + "/patch.spatch"
        let masked = try Self.json([
            "mask", model, "--task", task, "-o", mask, "--rate", "0.02", "--score", "magnitude",
        ])
        #expect(masked["output"]?.stringValue == mask && masked["elements_selected"]?.intValue ?? 0 > 0)
        let trained = try Self.json([
            "train", model, "--task", task, "--mask", mask, "-o", patch, "--epochs", "1", "--batch", "20",
            "--eval-every-epoch",
        ])
        // Held-out accuracy before and after, the same figures eval gives for the same models.
        #expect(trained["test_accuracy_before"] == eval["accuracy"])
        let after = try Self.json(["eval", model, patch, "--task", task])
        #expect(trained["test_accuracy_after"] == after["accuracy"])
        #expect(trained["test_accuracy_per_epoch"] == .array([after["accuracy"] ?? .null]))
        #expect(trained["patch_id"]?.stringValue == (try Self.json(["audit", patch])["patch"]?["id"]?.stringValue))
        let audit = try Self.json(["audit", patch])
        #expect(audit["metadata"]?["base"]?.stringValue == URL(fileURLWithPath: model).lastPathComponent)
    }
}
