import Foundation
import Tensors
import Testing

@testable import Checkpoints

/// Every command on checkpoints in other formats, from the command line.
struct FormatCommandTests {
    @Test(arguments: ["npz", "bin"])
    func convertsBackAndForthAndPatchesApplyToIt(_ ext: String) throws {
        let folder = try CLI.scratchFolder("convert-\(ext)")
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        // safetensors → npz (or PyTorch) → safetensors keeps every tensor's bytes.
        let npz = folder + "/base.\(ext)"
        let toNpz = try CLI.run(["convert", base, npz])
        #expect(toNpz.status == 0, "\(toNpz.stderr)")
        let inspect = try CLI.run(["inspect", npz])
        #expect(
            inspect.stdout.contains(ext == "npz" ? "NumPy .npz archive" : "PyTorch zip checkpoint"), "\(inspect.stdout)"
        )
        #expect(inspect.stdout.contains("encoder.layer.0.intermediate.dense.weight"), "\(inspect.stdout)")
        #expect(try CLI.run(["convert", npz, folder + "/back.safetensors"]).status == 0)
        #expect(try CLI.run(["diff", folder + "/back.safetensors", base]).stdout.contains("identical"))

        // A patch made between two npz files applies to the npz base and writes npz.
        let tunedNpz = folder + "/tuned.\(ext)"
        #expect(try CLI.run(["convert", tuned, tunedNpz]).status == 0)
        let patch = folder + "/task.spatch"
        let create = try CLI.run(["create", npz, tunedNpz, "-o", patch])
        #expect(create.status == 0, "\(create.stderr)")
        let applied = folder + "/applied.\(ext)"
        let apply = try CLI.run(["apply", npz, patch, "-o", applied])
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(try Checkpoint.open(applied).format == (ext == "npz" ? .npz : .pytorch))
        #expect(try CLI.run(["diff", applied, tunedNpz]).stdout.contains("identical"))
        let reverted = folder + "/reverted.\(ext)"
        #expect(try CLI.run(["revert", applied, patch, "-o", reverted]).status == 0)
        #expect(try CLI.run(["diff", reverted, npz]).stdout.contains("identical"))
        // The result keeps the base's format: another extension is refused.
        let wrongName = try CLI.run(["apply", npz, patch, "-o", folder + "/applied.safetensors"])
        #expect(wrongName.status != 0 && wrongName.stderr.contains("same format"), "\(wrongName.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/applied.safetensors"))
        // NumPy has no bfloat16; PyTorch has.
        let bf16 = try CLI.run(["convert", base, folder + "/bf16.\(ext)", "--dtype", "bf16"])
        if ext == "npz" {
            #expect(bf16.status != 0 && bf16.stderr.contains("NumPy has no BF16"), "\(bf16.stderr)")
        } else {
            #expect(bf16.status == 0, "\(bf16.stderr)")
        }
    }

    @Test(arguments: ["gguf", "h5"])
    func patchesApplyToTheFormatWithTheRecordKept(_ ext: String) throws {
        let folder = try CLI.scratchFolder("record-\(ext)")
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let gguf = folder + "/base.\(ext)"
        let tunedGGUF = folder + "/tuned.\(ext)"
        let convert = try CLI.run(["convert", base, gguf])
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(try CLI.run(["convert", tuned, tunedGGUF]).status == 0)
        #expect(try CLI.run(["inspect", gguf]).stdout.contains("format = pt"))
        #expect(try CLI.run(["diff", gguf, base]).stdout.contains("identical"))
        let patch = folder + "/task.spatch"
        #expect(try CLI.run(["create", gguf, tunedGGUF, "-o", patch, "--task", "demo"]).status == 0)
        let applied = folder + "/applied.\(ext)"
        let apply = try CLI.run(["apply", gguf, patch, "-o", applied])
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(try CLI.run(["diff", applied, tunedGGUF]).stdout.contains("identical"))
        let log = try CLI.run(["log", applied, patch])
        #expect(log.stdout.contains("1 patch applied") && log.stdout.contains("task demo"), "\(log.stdout)")
        let reverted = folder + "/reverted.\(ext)"
        #expect(try CLI.run(["revert", applied, patch, "-o", reverted]).status == 0)
        #expect(try CLI.run(["diff", reverted, gguf]).stdout.contains("identical"))
        #expect(try CLI.run(["log", reverted]).stdout.contains("no patches recorded"))
    }
}

/// Every format Scalpel writes converts to every other with identical tensors.
struct ConversionMatrixTests {
    @Test func everyFormatConvertsToEveryOtherExactly() throws {
        let folder = try CLI.scratchFolder()
        let base = try InspectConvertTests.makeModel(in: folder)
        let formats = ["safetensors", "bin", "npz", "gguf", "h5"]
        for source in formats {
            let first = folder + "/first.\(source)"
            #expect(try CLI.run(["convert", base, first]).status == 0, "to \(source)")
            for target in formats {
                let second = folder + "/\(source)-to.\(target)"
                let converted = try CLI.run(["convert", first, second])
                #expect(converted.status == 0, "\(source) → \(target): \(converted.stderr)")
                let diff = try CLI.run(["diff", second, base])
                #expect(diff.stdout.contains("identical"), "\(source) → \(target): \(diff.stdout)")
            }
        }
    }
}
