import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Files written by Scalpel load in the real Python `safetensors` and `numpy` with identical
/// bytes and metadata, and files they write load in Scalpel. The Python packages come from
/// the README's setup (`.venv`); without them these tests fail and say how to install them.
struct InteropTests {
    @Test func scalpelFilesLoadInPythonSafetensorsAndNumpy() throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/scalpel.safetensors"
        let tensors = Fixtures.everyDType()
        let metadata = [("format", "pt"), ("task", "naïve ✓")]
        try SafetensorsWriter.write(tensors.map { OutputTensor(name: $0.0, view: $0.1) }, metadata: metadata, to: path)
        let manifest = JSONValue.object([
            ("metadata", .object(metadata.map { ($0.0, .string($0.1)) })),
            (
                "tensors",
                .object(
                    tensors.map { name, view in
                        (
                            name,
                            .object([
                                ("dtype", .string(view.dtype.rawValue)),
                                ("shape", .array(view.shape.map { .integer($0) })),
                                ("hex", .string(view.bytes.map { String(format: "%02x", $0) }.joined())),
                            ])
                        )
                    })
            ),
        ])
        try Fixtures.write(Array(manifest.serialized.utf8), to: folder + "/manifest.json")
        let result = try Python.run(["interop.py", "check", path, folder + "/manifest.json"])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func pythonFilesLoadInScalpel() throws {
        let folder = try Fixtures.scratchFolder()
        let result = try Python.run(["interop.py", "write", folder])
        try #require(result.status == 0, "\(result.output)")
        let manifest = try JSONValue.parse(String(contentsOfFile: folder + "/manifest.json", encoding: .utf8))
        for (file, expected) in try #require(manifest.objectMembers) {
            let checkpoint = try Checkpoint.open(folder + "/" + file)
            let wantMetadata = (expected["metadata"]?.objectMembers ?? []).map { ($0.0, $0.1.stringValue ?? "") }
            #expect(
                Dictionary(uniqueKeysWithValues: checkpoint.metadata) == Dictionary(uniqueKeysWithValues: wantMetadata))
            let wantTensors = try #require(expected["tensors"]?.objectMembers)
            #expect(checkpoint.tensors.count == wantTensors.count)
            for (name, want) in wantTensors {
                let view = try checkpoint.view(named: name)
                #expect(view.dtype.rawValue == want["dtype"]?.stringValue, "\(file) \(name)")
                #expect(view.shape == want["shape"]?.arrayValue?.compactMap(\.intValue), "\(file) \(name)")
                #expect(
                    view.bytes.map { String(format: "%02x", $0) }.joined() == want["hex"]?.stringValue,
                    "\(file) \(name)")
            }
        }
    }

    @Test func shardsWrittenByScalpelMatchTheHuggingFaceLayout() throws {
        let folder = try Fixtures.scratchFolder()
        try SafetensorsWriter.writeSharded(
            Fixtures.everyDType().map { OutputTensor(name: $0.0, view: $0.1) },
            metadata: [("format", "pt")], to: folder + "/model.safetensors", shardSize: 500)
        let script = """
            import json, os, safetensors
            folder = \(JSONValue.string(folder).serialized)
            index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
            total = 0
            for shard in sorted(set(index["weight_map"].values())):
                with safetensors.safe_open(os.path.join(folder, shard), framework="numpy") as f:
                    assert f.metadata() == {"format": "pt"}, f.metadata()
                tensors = dict(safetensors.deserialize(open(os.path.join(folder, shard), "rb").read()))
                for name, t in tensors.items():
                    assert index["weight_map"][name] == shard, name
                    total += len(t["data"])
            assert total == index["metadata"]["total_size"], (total, index["metadata"])
            print("OK")
            """
        let result = try Python.run(["-c", script])
        #expect(result.status == 0 && result.output.contains("OK"), "\(result.output)")
    }
}

/// The reference Python, run in the folder of the interop helpers.
enum Python {
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try ReferencePython.run(arguments, in: Fixtures.pythonFolder)
    }
}
