import Foundation
import Tensors
import Testing

@testable import Checkpoints

struct InspectConvertTests {
    /// A small model with a float matrix, a bias, integer ids and metadata.
    static func makeModel(in folder: String, name: String = "model.safetensors", rows: Int = 64) throws -> String {
        let path = folder + "/" + name
        let tensors = [
            OutputTensor(
                name: "encoder.layer.0.intermediate.dense.weight",
                view: TensorView.make(dtype: .f32, shape: [rows, 32]) { buffer in
                    // A short cycle of values, stamped quickly even in debug builds.
                    let cycle = (0..<97).map { Float($0) * 0.013 - 0.5 }
                    let floats = buffer.bindMemory(to: Float.self)
                    var start = 0
                    while start < floats.count {
                        let count = min(cycle.count, floats.count - start)
                        _ = cycle.withUnsafeBufferPointer { source in
                            UnsafeMutableBufferPointer(rebasing: floats[start..<(start + count)]).update(
                                fromContentsOf: source.prefix(count))
                        }
                        start += count
                    }
                }),
            OutputTensor(
                name: "encoder.layer.0.intermediate.dense.bias",
                view: TensorView.make(dtype: .f32, shape: [rows]) { _ in }),
            OutputTensor(
                name: "embeddings.position_ids",
                view: TensorView.make(dtype: .i64, shape: [1, 4]) { buffer in
                    for i in 0..<4 { buffer.storeBytes(of: Int64(i), toByteOffset: i * 8, as: Int64.self) }
                }),
        ]
        try SafetensorsWriter.write(tensors, metadata: [("format", "pt")], to: path)
        return path
    }

    @Test func inspectPrintsASummaryAndEveryTensor() throws {
        let folder = try CLI.scratchFolder()
        let model = try Self.makeModel(in: folder)
        let result = try CLI.run(["inspect", model])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("format        safetensors"))
        #expect(result.stdout.contains("parameters    2,116 (2.1 k)"))
        #expect(result.stdout.contains("format = pt"))
        #expect(result.stdout.contains("encoder.layer.0.intermediate.dense.weight  F32    [64, 32]"))
        #expect(result.stdout.contains("embeddings.position_ids"))
    }

    @Test func inspectJSONIsMachineReadable() throws {
        let folder = try CLI.scratchFolder()
        let model = try Self.makeModel(in: folder)
        let result = try CLI.run(["inspect", "--json", model])
        #expect(result.status == 0)
        let json = try JSONValue.parse(result.stdout)
        #expect(json["format"]?.stringValue == "safetensors")
        #expect(json["tensor_count"]?.intValue == 3)
        #expect(json["parameter_count"]?.intValue == 64 * 32 + 64 + 4)
        #expect(json["metadata"]?["format"]?.stringValue == "pt")
        #expect(json["dtypes"]?["I64"]?["tensors"]?.intValue == 1)
        let first = try #require(json["tensors"]?.arrayValue?.first)
        #expect(first["shape"] == .array([.integer(1), .integer(4)]) || first["dtype"]?.stringValue == "F32")
    }

    @Test func convertChangesFloatDTypesAndKeepsTheRest() throws {
        let folder = try CLI.scratchFolder()
        let model = try Self.makeModel(in: folder)
        for dtype in ["bf16", "f16", "f64", "f32"] {
            let output = folder + "/\(dtype).safetensors"
            let result = try CLI.run(["convert", model, output, "--dtype", dtype])
            #expect(result.status == 0, "\(result.stderr)")
            let source = try Checkpoint.open(model)
            let converted = try Checkpoint.open(output)
            #expect(converted.metadata.first?.1 == "pt")
            for entry in source.tensors {
                let before = source.view(entry)
                let after = try converted.view(named: entry.name)
                #expect(after.shape == before.shape)
                if entry.dtype.isFloatingPoint {
                    #expect(after.dtype == DType(name: dtype))
                    // Each value equals the original rounded once to the target type.
                    let expected = before.converted(to: after.dtype).floatValues()
                    #expect(after.floatValues() == expected)
                } else {
                    #expect(after.isBitwiseEqual(to: before))
                }
            }
        }
    }

    @Test func convertWritesShardsAndInspectListsThem() throws {
        let folder = try CLI.scratchFolder()
        let model = try Self.makeModel(in: folder, rows: 512)
        let out = folder + "/sharded"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let result = try CLI.run(["convert", model, out + "/model.safetensors", "--shard-size", "40kB"])
        #expect(result.status == 0, "\(result.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        // Stored order is ids (I64, 32 B), weight (F32, 64 kB: over the limit, alone), bias.
        #expect(
            names == [
                "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors", "model.safetensors.index.json",
            ])
        let inspect = try CLI.run(["inspect", out])
        #expect(inspect.stdout.contains("sharded safetensors"))
        #expect(inspect.stdout.contains("model-00003-of-00003.safetensors  1 tensor,"))
        let json = try JSONValue.parse(
            try CLI.run(["inspect", "--json", out + "/model.safetensors.index.json"]).stdout)
        #expect(json["shards"]?.arrayValue?.count == 3)
    }

    @Test func badInputFailsWithAClearMessageAndNoOutput() throws {
        let folder = try CLI.scratchFolder()
        let model = try Self.makeModel(in: folder)
        let corrupt = folder + "/corrupt.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        bytes.removeLast(10)
        try bytes.write(to: URL(fileURLWithPath: corrupt))
        let cases: [([String], String)] = [
            (["inspect", corrupt], "corrupt.safetensors: tensor \""),
            (["convert", corrupt, folder + "/out.safetensors"], "the file is truncated"),
            (["inspect", folder + "/missing.safetensors"], "missing.safetensors: no such file or folder"),
            (["convert", model, folder + "/out.safetensors", "--dtype", "i8"], "--dtype must be one of"),
            (
                ["convert", model, folder + "/out.safetensors", "--shard-size", "lots"],
                "--shard-size must be a positive size"
            ),
            (["convert", model, folder + "/out.ckpt"], "writing .ckpt files is not supported"),
            (["convert", model, folder + "/no/such/folder/out.safetensors"], "does not exist"),
            (["frobnicate"], "Unexpected argument"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(left == ["corrupt.safetensors", "model.safetensors"])
    }

    @Test func interruptedConvertLeavesNoOutputOrTemporaryFile() throws {
        let folder = try CLI.scratchFolder()
        // Large enough (about 100 MB converted to f16) that the signal lands mid-write.
        let model = try Self.makeModel(in: folder, rows: 800_000)
        let output = folder + "/out.safetensors"
        let running = try CLI.start(["convert", model, output, "--dtype", "f16"])
        usleep(150_000)
        running.process.terminate()  // SIGTERM
        running.process.waitUntilExit()
        if running.process.terminationStatus == 0 {
            // The machine was faster than the signal: the output must then be complete.
            #expect(try Checkpoint.open(output).tensors.count == 3)
        } else {
            #expect(running.process.terminationStatus == 128 + SIGTERM)
            #expect(!FileManager.default.fileExists(atPath: output))
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0 != "out.safetensors" }
        #expect(left == ["model.safetensors"], "temporary files left: \(left)")
    }

    @Test func versionNamesTheLinkedLibraries() throws {
        let result = try CLI.run(["--version"])
        #expect(result.stdout.contains("OpenBLAS"))
        #expect(result.stdout.contains("zstd 1."))
        #expect(result.stdout.contains("HDF5 1."))
    }
}
