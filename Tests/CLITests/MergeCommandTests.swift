import Foundation
import Tensors
import Testing

@testable import Checkpoints

struct MergeCommandTests {
    /// `base` with every `stride`-th element of its dense weights, from `start`, moved by 0.002.
    static func secondTuning(of base: String, to path: String, start: Int = 3, stride step: Int = 7) throws {
        let checkpoint = try Checkpoint.open(base)
        let outputs = checkpoint.tensors.map { entry in
            let view = checkpoint.view(entry)
            guard entry.name.hasSuffix("dense.weight") else { return OutputTensor(name: entry.name, view: view) }
            return OutputTensor(
                name: entry.name,
                view: TensorView.make(dtype: .f32, shape: entry.shape) { buffer in
                    buffer.copyMemory(from: view.bytes)
                    for i in stride(from: start, to: entry.elementCount, by: step) {
                        buffer.storeBytes(
                            of: buffer.load(fromByteOffset: i * 4, as: Float.self) + 0.002, toByteOffset: i * 4,
                            as: Float.self)
                    }
                })
        }
        try SafetensorsWriter.write(outputs, metadata: [("format", "pt")], to: path)
    }

    @Test func aDefaultMergeOfOverlappingPatchesSaysWhatToRunInstead() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let p1 = folder + "/p1.spatch"
        let p2 = folder + "/p2 (copy).spatch"
        let output = folder + "/both.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", p1]).status == 0)
        #expect(try CLI.run(["create", base, tuned, "-o", p2]).status == 0)
        // The two patches change the same 205 elements (every 10th of 64 x 32).
        let refused = try CLI.run(["merge", p1, p2, "--base", base, "-o", output])
        #expect(refused.status != 0)
        let lines = refused.stderr.split(separator: "\n").map(String.init)
        #expect(
            lines.first
                == "Error: \(p1) and \(p2) change some of the same elements (205 in 1 tensor), which --method disjoint, the default, refuses:",
            "\(refused.stderr)")
        #expect(lines.contains("  encoder.layer.0.intermediate.dense.weight  205 elements"), "\(refused.stderr)")
        for method in ["priority", "sum", "mean", "ties", "dare", "dare-ties"] {
            #expect(lines.contains { $0.hasPrefix("  \(method) ") }, "\(method): \(refused.stderr)")
        }
        // The exact command to run instead, a path with spaces quoted for the shell.
        let rerun = "scalpel merge \(p1) '\(p2)' --base \(base) -o \(output) --method mean"
        #expect(
            lines.firstIndex(of: "  " + rerun).map { lines[$0 - 1] } == "Rerun with one of them, for example:",
            "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        // It works: two equal deltas average to the tuned model.
        let again = try CLI.run(["merge", p1, p2, "--base", base, "-o", output, "--method", "mean"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try CLI.run(["apply", base, output, "-o", folder + "/both.safetensors"]).status == 0)
        #expect(try CLI.run(["diff", folder + "/both.safetensors", tuned]).stdout.contains("identical"))
        // A parameter problem names the inputs too.
        let badWeights = try CLI.run([
            "merge", p1, p2, "--base", base, "-o", output, "--method", "sum", "--weights", "1",
        ])
        #expect(
            badWeights.status != 0 && badWeights.stderr.contains("merging \(p1), \(p2): 1 weights for 2 patches"),
            "\(badWeights.stderr)")
    }

    @Test func mergePlanAndStackRevertFromTheCommandLine() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let p1 = folder + "/p1.spatch"
        let p2 = folder + "/p2.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", p1, "--task", "one"]).status == 0)
        #expect(try CLI.run(["create", base, tuned, "-o", p2, "--task", "two"]).status == 0)

        let plan = try CLI.run(["merge", p1, p2, "--plan"])
        #expect(plan.status == 0)
        #expect(plan.stdout.contains("Jaccard") && plan.stdout.contains("1.0000"), "\(plan.stdout)")

        // Two equal deltas: ties averages them back to the tuned model, bit for bit.
        let merged = folder + "/ties.spatch"
        let ties = try CLI.run(["merge", p1, p2, "--base", base, "--method", "ties", "--density", "1", "-o", merged])
        #expect(ties.status == 0, "\(ties.stderr)")
        #expect(try CLI.run(["apply", base, merged, "-o", folder + "/ties.safetensors"]).status == 0)
        #expect(try CLI.run(["diff", folder + "/ties.safetensors", tuned]).stdout.contains("identical"))
        let audit = try CLI.run(["audit", merged, "--json"])
        #expect(audit.stdout.contains("\"merge.method\"") && audit.stdout.contains("\"ties\""), "\(audit.stdout)")

        let noDrop = try CLI.run(["merge", p1, p2, "--base", base, "--method", "dare", "-o", folder + "/x.spatch"])
        #expect(noDrop.status != 0 && noDrop.stderr.contains("dare needs --drop"), "\(noDrop.stderr)")
        let unknown = try CLI.run(["merge", p1, p2, "--base", base, "--method", "slerp", "-o", folder + "/x.spatch"])
        #expect(unknown.status != 0 && unknown.stderr.contains("slerp"), "\(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.spatch"))

        // p1 and an overlapping sibling (every 7th element from 3 shares every 70th with p1's
        // every 10th): refused, --force or not, with the command that combines them.
        let overlapping = folder + "/overlapping.spatch"
        try Self.secondTuning(of: base, to: folder + "/tuned-overlapping.safetensors")
        #expect(
            try CLI.run(["create", base, folder + "/tuned-overlapping.safetensors", "-o", overlapping]).status == 0)
        for force in [[], ["--force"]] {
            let clash = try CLI.run(["apply", base, p1, overlapping, "-o", folder + "/clash.safetensors"] + force)
            #expect(
                clash.status != 0 && clash.stderr.contains("shared elements")
                    && clash.stderr.contains("scalpel merge \(p1) \(overlapping) --base \(base) --method"),
                "\(clash.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder + "/clash.safetensors"))
        }

        // base + p1 + p3 (p3 made against the base too, on other elements: siblings, applied
        // together): p1 comes out from under p3 only with --base.
        let p3 = folder + "/p3.spatch"
        try Self.secondTuning(of: base, to: folder + "/tuned3.safetensors", start: 5, stride: 10)
        #expect(try CLI.run(["create", base, folder + "/tuned3.safetensors", "-o", p3, "--task", "three"]).status == 0)
        let stacked = folder + "/stacked.safetensors"
        let siblings = try CLI.run(["apply", base, p1, p3, "-o", stacked])
        #expect(siblings.status == 0 && siblings.stderr.contains("applied together exactly"), "\(siblings.stderr)")
        let refused = try CLI.run(["revert", stacked, p1, "-o", folder + "/out.safetensors"])
        #expect(refused.status != 0 && refused.stderr.contains("--base BASE"), "\(refused.stderr)")
        let out = folder + "/out.safetensors"
        let reverted = try CLI.run(["revert", stacked, p1, "--base", base, "-o", out])
        #expect(reverted.status == 0, "\(reverted.stderr)")
        let log = try CLI.run(["log", out, p3])
        #expect(log.stdout.contains("1 patch applied") && log.stdout.contains("task three"), "\(log.stdout)")
        #expect(try CLI.run(["diff", out, folder + "/tuned3.safetensors"]).stdout.contains("identical"))
        let both = try CLI.run(["revert", stacked, p1, "--base", base, "--force", "-o", out])
        #expect(both.status != 0 && both.stderr.contains("does not combine with --base"), "\(both.stderr)")
    }
}
