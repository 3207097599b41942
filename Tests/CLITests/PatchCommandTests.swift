import Foundation
import Tensors
import Testing

@testable import Checkpoints

struct PatchCommandTests {
    /// base and tuned models (the tuned one changes 10 % of the MLP weight and adds a head).
    static func models(in folder: String, rows: Int = 64) throws -> (base: String, tuned: String) {
        let base = try InspectConvertTests.makeModel(in: folder, name: "base.safetensors", rows: rows)
        let checkpoint = try Checkpoint.open(base)
        var outputs: [OutputTensor] = []
        for entry in checkpoint.tensors {
            let view = checkpoint.view(entry)
            if entry.name.hasSuffix("dense.weight") {
                outputs.append(
                    OutputTensor(
                        name: entry.name,
                        view: TensorView.make(dtype: .f32, shape: entry.shape) { buffer in
                            buffer.copyMemory(from: view.bytes)
                            for i in stride(from: 0, to: entry.elementCount, by: 10) {
                                let value = buffer.load(fromByteOffset: i * 4, as: Float.self)
                                buffer.storeBytes(of: value + 0.001, toByteOffset: i * 4, as: Float.self)
                            }
                        }))
            } else {
                outputs.append(OutputTensor(name: entry.name, view: view))
            }
        }
        outputs.append(
            OutputTensor(name: "classifier.weight", view: TensorView.make(dtype: .f32, shape: [3, 32]) { _ in }))
        let tuned = folder + "/tuned.safetensors"
        try SafetensorsWriter.write(outputs, metadata: [("format", "pt")], to: tuned)
        return (base, tuned)
    }

    @Test func createApplyRevertDiffAndAuditFromTheCommandLine() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try Self.models(in: folder)
        let patch = folder + "/task.spatch"
        let create = try CLI.run(["create", base, tuned, "-o", patch, "--task", "demo", "--meta", "lr=1e-4"])
        #expect(create.status == 0, "\(create.stderr)")
        #expect(create.stdout.contains("2 tensors touched"))

        let applied = folder + "/applied.safetensors"
        #expect(try CLI.run(["apply", base, patch, "-o", applied]).status == 0)
        let same = try CLI.run(["diff", applied, tuned])
        #expect(same.stdout.contains("identical: 4 tensors"), "\(same.stdout)")

        let log = try CLI.run(["log", applied, patch])
        #expect(log.status == 0)
        #expect(log.stdout.contains("1 patch applied, oldest first"), "\(log.stdout)")
        #expect(log.stdout.contains("task demo") && log.stdout.contains("lr = 1e-4"), "\(log.stdout)")
        let logJSON = try JSONValue.parse(try CLI.run(["log", applied, "--json"]).stdout)
        #expect(logJSON["patches"]?.arrayValue?.first?["id"]?.stringValue?.count == 64)
        #expect(try CLI.run(["log", base]).stdout.contains("no patches recorded"))

        let reverted = folder + "/reverted.safetensors"
        #expect(try CLI.run(["revert", applied, patch, "-o", reverted]).status == 0)
        #expect(try CLI.run(["diff", reverted, base]).stdout.contains("identical"))

        let diff = try CLI.run(["diff", base, tuned, "--json"])
        let json = try JSONValue.parse(diff.stdout)
        #expect(json["tensors_touched"]?.intValue == 1)
        #expect(json["only_in_b"]?.arrayValue?.count == 1)

        let report = folder + "/report.html"
        let audit = try CLI.run(["audit", patch, "--base", base, "--report", report])
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
        #expect(audit.stdout.contains("task = demo") && audit.stdout.contains("lr = 1e-4"))
        #expect(audit.stdout.contains("every fingerprint matches the base"))
        let html = try String(contentsOfFile: report, encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("encoder.layer 0") && html.contains("intermediate.dense.weight"))
        #expect(
            !html.contains("<script") && !html.contains("http://")
                || html.contains("xmlns=\"http://www.w3.org/2000/svg\""))

        let auditJSON = try JSONValue.parse(try CLI.run(["audit", patch, "--json"]).stdout)
        #expect(auditJSON["sound"] == .bool(true))
        #expect(auditJSON["entries"]?.arrayValue?.count == 2)

        // Against the wrong base, audit fails and apply refuses.
        #expect(try CLI.run(["audit", patch, "--base", tuned]).status == 1)
        let refused = try CLI.run(["apply", tuned, patch, "-o", folder + "/nope.safetensors"])
        // (the tuned model is what the patch produces: it is already applied)
        #expect(
            refused.status != 0 && refused.stderr.contains("already applied, so nothing was written"),
            "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/nope.safetensors"))
    }
}

struct InPlaceCommandTests {
    /// A base, a tuned model that changes values only (`values.safetensors`), and the patch
    /// between them, which `apply --in-place` takes.
    static func valuesOnlyPatch(in folder: String) throws -> (base: String, patch: String) {
        let (base, tuned) = try PatchCommandTests.models(in: folder, rows: 2_000)
        // Values-only tuned model: drop the added head.
        let tunedCheckpoint = try Checkpoint.open(tuned)
        try SafetensorsWriter.write(
            tunedCheckpoint.tensors.filter { $0.name != "classifier.weight" }.map { entry in
                OutputTensor(name: entry.name, view: tunedCheckpoint.view(entry))
            }, metadata: [("format", "pt")], to: folder + "/values.safetensors")
        let patch = folder + "/p.spatch"
        #expect(try CLI.run(["create", base, folder + "/values.safetensors", "-o", patch]).status == 0)
        return (base, patch)
    }

    @Test func aCrashedInPlaceApplyIsRolledBackByTheNextCommand() throws {
        let folder = try CLI.scratchFolder()
        let (base, patch) = try Self.valuesOnlyPatch(in: folder)
        let original = try Data(contentsOf: URL(fileURLWithPath: base))

        let crashed = try CLI.run(
            ["apply", base, patch, "--in-place", "--no-record"],
            environment: ["SCALPEL_TEST_CRASH_AFTER_TENSORS": "1"])
        #expect(crashed.status == 70)
        #expect(FileManager.default.fileExists(atPath: base + ".scalpel-undo"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: base)) != original)

        let next = try CLI.run(["inspect", "--summary", base])
        #expect(next.status == 0)
        #expect(next.stderr.contains("an earlier in-place edit did not finish; the original bytes were restored"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: base)) == original)
        #expect(!FileManager.default.fileExists(atPath: base + ".scalpel-undo"))

        // Without the crash it completes and matches the tuned model.
        let done = try CLI.run(["apply", base, patch, "--in-place", "--no-record"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(try CLI.run(["diff", base, folder + "/values.safetensors"]).stdout.contains("identical"))
        #expect(
            try CLI.run(["apply", base, patch, "--in-place", "-o", folder + "/x.safetensors"]).stderr.contains(
                "do not give -o"))
    }
}
