import Foundation
import Testing
@testable import Checkpoints

struct MaskCommandTests {
    @Test func maskKeepsTheTopRateOfEveryFirstMLPWeight() throws {
        let model = EmbedCommandTests.model
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else {
            print("skipped: \(model) is missing (./test.sh fetches it)")
            return
        }
        let task = URL(fileURLWithPath: model).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/Samples/tasks/topics"
        let folder = try CLI.scratchFolder()
        let mask = folder + "/mask.spatch"
        let result = try CLI.run(["mask", model, "--task", task, "-o", mask, "--rate", "0.05", "--score-fraction", "0.5", "--batch", "8"])
        #expect(result.status == 0, "\(result.stderr)")
        let audit = try JSONValue.parse(try CLI.run(["audit", mask, "--json"]).stdout)
        let entries = try #require(audit["entries"]?.arrayValue)
        #expect(entries.count == 12)
        for entry in entries {
            let name = entry["name"]?.stringValue ?? ""
            let expected = name.hasSuffix("weight") ? Int((0.05 * 1536 * 384).rounded()) : 1536
            #expect(entry["nnz"]?.intValue == expected, "\(name)")
        }
        #expect(audit["metadata"]?["mask.score"]?.stringValue == "spu")
        for (arguments, message) in [(["--rate", "0"], "--rate must be in (0, 1]"), (["--rate", "1.5"], "--rate must be in (0, 1]"),
                                     (["--layers", "attention"], "--layers attention")] {
            let bad = try CLI.run(["mask", model, "--task", task, "-o", folder + "/x.spatch"] + arguments)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(bad.stderr)")
        }
        let empty = try CLI.scratchFolder("empty-task")
        let noClasses = try CLI.run(["mask", model, "--task", empty, "-o", folder + "/x.spatch"])
        #expect(noClasses.status != 0 && noClasses.stderr.contains("classes.txt"), "\(noClasses.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.spatch"))
    }
}
