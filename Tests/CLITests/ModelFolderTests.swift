import Foundation
import TestSupport
import Testing

@testable import Checkpoints

/// A model folder in gives a model folder out: `apply`, `revert` and `convert` with `-o DIR/`.
struct ModelFolderTests {
    /// A Hugging Face-style folder: `base` sharded with an index (or without), a config, a
    /// tokenizer file, a subfolder, and a stale PyTorch copy of the weights.
    static func modelFolder(_ base: String, in folder: String, index: Bool = true) throws -> String {
        let model = folder + "/model"
        try FileManager.default.createDirectory(atPath: model + "/1_Pooling", withIntermediateDirectories: true)
        let sharded = try CLI.run(["convert", base, model + "/model.safetensors", "--shard-size", "3kB"])
        try #require(sharded.status == 0, "\(sharded.stderr)")
        if !index { try FileManager.default.removeItem(atPath: model + "/model.safetensors.index.json") }
        try Data(#"{"architectures": ["BertModel"], "hidden_size": 32}"#.utf8).write(
            to: URL(fileURLWithPath: model + "/config.json"))
        try Data("[PAD]\r\n[UNK]\r\nhello\r\n".utf8).write(to: URL(fileURLWithPath: model + "/vocab.txt"))
        try Data(#"{"pooling_mode_mean_tokens": true}"#.utf8).write(
            to: URL(fileURLWithPath: model + "/1_Pooling/config.json"))
        try Data("old weights".utf8).write(to: URL(fileURLWithPath: model + "/pytorch_model.bin"))
        return model
    }

    static func files(_ folder: String) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: folder).filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: folder + "/" + path, isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }.sorted()
    }

    static func contents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func applyAndRevertWriteAFolderInTheBasesLayout() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let patch = folder + "/p.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)
        let model = try Self.modelFolder(base, in: folder)
        let shards = try Self.files(model).filter { $0.hasPrefix("model-") }
        try #require(shards.count >= 2)

        let out = folder + "/out/"
        let applied = try CLI.run(["apply", model, patch, "-o", out])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stderr.contains("pytorch_model.bin of the base's folder was not copied"), "\(applied.stderr)")
        // The same files but the stale weights; companions byte for byte.
        #expect(try Self.files(out) == Self.files(model).filter { $0 != "pytorch_model.bin" })
        for name in ["config.json", "vocab.txt", "1_Pooling/config.json"] {
            #expect(try Self.contents(out + name) == Self.contents(model + "/" + name), "\(name)")
        }
        // Each tensor in the shard the base kept it in (the added one in the last), as the
        // index says; the whole equals the single-file result.
        let index = try JSONValue.parse(contentsOf: out + "model.safetensors.index.json")
        let original = try JSONValue.parse(contentsOf: model + "/model.safetensors.index.json")
        for (name, shard) in original["weight_map"]?.objectMembers ?? [] {
            #expect(index["weight_map"]?[name] == shard, "\(name)")
        }
        #expect(index["weight_map"]?["classifier.weight"]?.stringValue == shards.last)
        #expect(try CLI.run(["diff", out, tuned]).stdout.contains("identical"))
        let python = try ReferencePython.run([
            "-c",
            """
            import json, sys, numpy as np
            from safetensors.numpy import load_file
            folder = sys.argv[1]
            index = json.load(open(folder + "/model.safetensors.index.json"))
            tensors = {}
            for shard in sorted(set(index["weight_map"].values())):
                for name, value in load_file(folder + "/" + shard).items():
                    assert index["weight_map"][name] == shard, name
                    tensors[name] = value
            assert set(tensors) == set(index["weight_map"]), "index and shards differ"
            assert index["metadata"]["total_size"] == sum(v.nbytes for v in tensors.values())
            print(len(tensors))
            """, out,
        ])
        #expect(
            python.status == 0 && python.output.trimmingCharacters(in: .whitespacesAndNewlines) == "4",
            "\(python.output)")

        // revert to a folder: the base's tensors again, in the same layout.
        let back = folder + "/back/"
        let reverted = try CLI.run(["revert", out, patch, "-o", back])
        #expect(reverted.status == 0, "\(reverted.stderr)")
        #expect(try CLI.run(["diff", back, model]).stdout.contains("identical"))
        #expect(try Self.files(back) == Self.files(out).filter { $0 != "pytorch_model.bin" })
        for shard in shards { #expect(try Self.contents(back + shard).count > 0) }
    }

    @Test func aFolderOfShardsWithoutAnIndexIsOneModel() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let patch = folder + "/p.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)
        let model = try Self.modelFolder(base, in: folder, index: false)
        let inspect = try CLI.run(["inspect", "--json", model])
        let listed = try JSONValue.parse(inspect.stdout)["tensors"]?.arrayValue?.count
        #expect(inspect.status == 0 && listed == 3, "\(inspect.stderr)")
        #expect(try CLI.run(["diff", model, base]).stdout.contains("identical"))
        // Naming one shard cannot work for a patch that spans shards; the refusal says what to name.
        let shardResults = try Self.files(model).filter { $0.hasPrefix("model-") }.map {
            try CLI.run(["apply", model + "/" + $0, patch, "-o", folder + "/one-shard.safetensors"])
        }
        #expect(
            shardResults.contains {
                $0.status != 0 && $0.stderr.contains("is one shard of a sharded model: name its folder or index")
            },
            "\(shardResults.map(\.stderr))")
        let out = folder + "/out"
        // an empty folder is a folder output
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let applied = try CLI.run(["apply", model, patch, "-o", out])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/model.safetensors.index.json"))
        #expect(try CLI.run(["diff", out, tuned]).stdout.contains("identical"))
    }

    @Test func weightsInAnOrdinaryFolderComeOutAlone() throws {
        // No config, tokenizer or index beside them: the folder is not a model's, and its
        // other files (the user's) are not copied.
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let patch = folder + "/p.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)
        try FileManager.default.createDirectory(atPath: folder + "/photos", withIntermediateDirectories: true)
        try Data("private".utf8).write(to: URL(fileURLWithPath: folder + "/photos/notes.txt"))
        let applied = try CLI.run(["apply", base, patch, "-o", folder + "/out/"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try Self.files(folder + "/out") == ["base.safetensors"])
        #expect(try CLI.run(["diff", folder + "/out", tuned]).stdout.contains("identical"))
    }

    @Test func convertWritesAFolderKeepingOrChangingTheSharding() throws {
        let folder = try CLI.scratchFolder()
        let (base, _) = try PatchCommandTests.models(in: folder)
        let model = try Self.modelFolder(base, in: folder)
        let f16 = try CLI.run(["convert", model, folder + "/f16/", "--dtype", "f16"])
        #expect(f16.status == 0, "\(f16.stderr)")
        #expect(try Self.files(folder + "/f16") == Self.files(model).filter { $0 != "pytorch_model.bin" })
        #expect(try Checkpoint.open(folder + "/f16").tensors.first { $0.name.hasSuffix("dense.weight") }?.dtype == .f16)
        let single = try CLI.run(["convert", model, folder + "/one/", "--shard-size", "1GB"])
        #expect(single.status == 0, "\(single.stderr)")
        #expect(try Self.files(folder + "/one").contains("model-00001-of-00001.safetensors"))
        #expect(try CLI.run(["diff", folder + "/one", base]).stdout.contains("identical"))
    }

    @Test func outputsAreCheckedBeforeAnythingIsWritten() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        let patch = folder + "/p.spatch"
        #expect(try CLI.run(["create", base, tuned, "-o", patch]).status == 0)
        let busy = folder + "/busy"
        try FileManager.default.createDirectory(atPath: busy, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: busy + "/notes.txt"))
        let cases: [([String], String)] = [
            (["apply", base, patch, "-o", busy], "is a folder holding 1 file; name a new or empty folder"),
            (["apply", base, patch, "-o", busy + "/"], "is a folder holding 1 file"),
            (
                ["apply", base, patch, "-o", folder + "/model.safetensors.index.json"],
                "names an index, which lists shards and holds no weights"
            ),
            (["apply", base, patch, "-o", folder + "/missing/deeper/"], "does not exist"),
            (["create", base, tuned, "-o", folder + "/dir/"], "is a folder; name the file to write"),
        ]
        for (arguments, expected) in cases {
            let result = try CLI.run(arguments)
            #expect(result.status != 0 && result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
        #expect(try Self.files(busy) == ["notes.txt"])
        #expect(try Self.files(folder).allSatisfy { !$0.hasPrefix(".") && !$0.contains("index.json") })
        // Free space is checked against what the output needs.
        #expect(throws: CheckpointError.self) {
            try DiskSpace.require(Int.max / 4, in: folder, for: folder + "/huge.safetensors")
        }
    }

    /// With an interpreter that has transformers and torch (SCALPEL_TRANSFORMERS_PYTHON;
    /// the test venv has neither, they are gigabytes), a patched sharded folder of the real
    /// model loads with `AutoModel.from_pretrained`, each tensor equal to the written shards.
    @Test func transformersLoadsAPatchedModelFolder() throws {
        guard DefaultModelFiles.isAvailable else { return }
        guard let python = ProcessInfo.processInfo.environment["SCALPEL_TRANSFORMERS_PYTHON"] else {
            print(
                "skipped: set SCALPEL_TRANSFORMERS_PYTHON to a python with torch and transformers to load the folder with transformers"
            )
            return
        }
        let folder = try CLI.scratchFolder()
        let model = DefaultModelFiles.model
        #expect(
            try CLI.run(["convert", model + "/model.safetensors", folder + "/bf16.safetensors", "--dtype", "bf16"])
                .status == 0)
        #expect(
            try CLI.run(["convert", folder + "/bf16.safetensors", folder + "/rounded.safetensors", "--dtype", "f32"])
                .status == 0)
        #expect(
            try CLI.run([
                "create", model + "/model.safetensors", folder + "/rounded.safetensors", "-o", folder + "/p.spatch",
            ]).status == 0)
        #expect(try CLI.run(["convert", model, folder + "/sharded/", "--shard-size", "30MB"]).status == 0)
        let applied = try CLI.run(["apply", folder + "/sharded", folder + "/p.spatch", "-o", folder + "/out/"])
        try #require(applied.status == 0, "\(applied.stderr)")
        let (status, output) = try runProgram(
            python,
            [
                "-c",
                """
                import json, sys, torch
                from transformers import AutoModel
                from safetensors.torch import load_file
                folder = sys.argv[1]
                model = AutoModel.from_pretrained(folder)
                index = json.load(open(folder + "/model.safetensors.index.json"))
                state = model.state_dict()
                for shard in set(index["weight_map"].values()):
                    for name, value in load_file(folder + "/" + shard).items():
                        if name in state:
                            assert torch.equal(state[name], value), name
                print("loaded", type(model).__name__)
                """, folder + "/out",
            ])
        #expect(status == 0 && output.contains("loaded BertModel"), "\(output)")
    }

    @Test func aStaleModelFolderOfADeadProcessIsRemoved() throws {
        let folder = try CLI.scratchFolder()
        let (base, tuned) = try PatchCommandTests.models(in: folder)
        var dead: pid_t = 4_000_000
        while kill(dead, 0) == 0 || errno == EPERM { dead -= 1 }
        let stale = folder + "/.out.scalpel-\(dead)-77.tmp"
        try FileManager.default.createDirectory(atPath: stale + "/1_Pooling", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: stale + "/1_Pooling/config.json"))
        #expect(try CLI.run(["create", base, tuned, "-o", folder + "/p.spatch"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale))
    }
}
