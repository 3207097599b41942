import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// HDF5 against h5py, on a generic tree and on the layouts Keras 3 and Keras 2 write.
struct HDF5Tests {
    static func written(_ label: String = #function) throws -> (folder: String, manifest: JSONValue) {
        let folder = try Fixtures.scratchFolder(label)
        let result = try Python.run(["hdf5_interop.py", "write", folder])
        try #require(result.status == 0, "\(result.output)")
        return (folder, try JSONValue.parse(String(contentsOfFile: folder + "/manifest.json", encoding: .utf8)))
    }

    static func manifest(of checkpoint: Checkpoint, changing changed: Set<String> = []) -> JSONValue {
        TensorManifest.json(
            checkpoint.tensors.map { entry in
                (
                    entry.name,
                    changed.contains(entry.name) ? Self.bumped(checkpoint.view(entry)) : checkpoint.view(entry)
                )
            })
    }

    /// `view` with its first element's lowest byte flipped.
    static func bumped(_ view: TensorView) -> TensorView {
        TensorView.make(dtype: view.dtype, shape: view.shape) { buffer in
            view.withBytes { buffer.copyMemory(from: $0) }
            if buffer.count > 0 { buffer[0] ^= 1 }
        }
    }

    @Test func filesH5pyWritesReadInScalpel() throws {
        let (folder, manifest) = try Self.written()
        for (file, expected) in try #require(manifest.objectMembers) {
            let checkpoint = try Checkpoint.open(folder + "/" + file)
            #expect(checkpoint.format == .hdf5)
            try TensorManifest.expectMatches(checkpoint, expected["tensors"], file)
        }
        // Keras 2 order: layer by layer, kernel before bias, weight_names split in two chunks.
        let keras2 = try Checkpoint.open(folder + "/keras2.h5")
        #expect(
            keras2.tensors.map(\.name) == [
                "model_weights/dense/dense/kernel:0", "model_weights/dense/dense/bias:0",
                "model_weights/dense_1/dense_1/kernel:0", "model_weights/dense_1/dense_1/bias:0",
            ])
        #expect(try Checkpoint.open(folder + "/generic.h5").metadata.contains { $0 == ("hdf5.not_tensors", "note") })
    }

    @Test(arguments: ["generic.h5", "keras3.weights.h5", "keras2.h5"])
    func rewritingKeepsEverythingButTheChangedValues(_ file: String) throws {
        let (folder, _) = try Self.written("rewrite-\(file)")
        let base = try Checkpoint.open(folder + "/" + file)
        let changed = Set(base.tensors.prefix(2).map(\.name))
        let outputs = base.tensors.map { entry in
            OutputTensor(
                name: entry.name, view: changed.contains(entry.name) ? Self.bumped(base.view(entry)) : base.view(entry))
        }
        let out = folder + "/out-" + file
        var metadata = base.metadata
        metadata.append(("scalpel.patches", "[\"abc\"]"))
        try CheckpointWriter.write(outputs, metadata: metadata, format: .hdf5, base: base, to: out)
        try Fixtures.write(
            Array(Self.manifest(of: base, changing: changed).serialized.utf8), to: folder + "/expected.json")
        let result = try Python.run(["hdf5_interop.py", "check", out, folder + "/expected.json", folder + "/" + file])
        #expect(result.status == 0, "\(result.output)")
        #expect(try Checkpoint.open(out).metadata.contains { $0 == ("scalpel.patches", "[\"abc\"]") })
    }

    @Test func filesFromOtherFormatsLoadInH5py() throws {
        let folder = try Fixtures.scratchFolder()
        let tensors = Fixtures.everyDType().filter { $0.1.dtype != .f8e4m3 && $0.1.dtype != .f8e5m2 }
        let path = folder + "/model.h5"
        try CheckpointWriter.write(
            tensors.map { OutputTensor(name: "group/" + $0.0, view: $0.1) }, metadata: [("format", "pt")],
            format: .hdf5, to: path)
        try TensorManifest.write(tensors.map { ("group/" + $0.0, $0.1) }, to: folder + "/manifest.json")
        let result = try Python.run(["hdf5_interop.py", "check", path, folder + "/manifest.json"])
        #expect(result.status == 0, "\(result.output)")
        let reread = try Checkpoint.open(path)
        #expect(reread.metadata.contains { $0 == ("format", "pt") })
        for (name, view) in tensors {
            #expect(TensorManifest.hex(try reread.view(named: "group/" + name)) == TensorManifest.hex(view), "\(name)")
        }
    }

    @Test func aTruncatedFileIsRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let result = try Python.run(["hdf5_interop.py", "hostile", folder])
        try #require(result.status == 0, "\(result.output)")
        #expect {
            try Checkpoint.open(folder + "/truncated.h5")
        } throws: { "\($0)".contains("truncated.h5") && "\($0)".contains("truncated or damaged") }
    }

    /// HDF5's error printing is a per-thread setting in Debian's thread-safe build: a damaged
    /// file opened from any thread is reported by Scalpel's error alone, with no HDF5-DIAG
    /// stack on stderr. Two fresh threads, so that at least one is not the thread that first
    /// started the library.
    @Test func aDamagedFileOpenedOnAnyThreadPrintsNoHDF5Diagnostics() throws {
        let folder = try Fixtures.scratchFolder()
        let whole = folder + "/whole.h5"
        let damaged = folder + "/damaged.h5"
        try HDF5Writer.write(
            [OutputTensor(name: "w", view: Fixtures.tensor(.f32, [2], bytes: [0, 0, 128, 63, 0, 0, 0, 64]))],
            metadata: [], base: nil, to: whole)
        try Data(try Data(contentsOf: URL(fileURLWithPath: whole)).prefix(900)).write(to: URL(fileURLWithPath: damaged))
        let printed = try capturingStandardError {
            for _ in 0..<2 {
                let done = DispatchSemaphore(value: 0)
                let thread = Thread {
                    #expect { try Checkpoint.open(damaged) } throws: { "\($0)".contains("truncated or damaged") }
                    done.signal()
                }
                thread.start()
                done.wait()
            }
        }
        #expect(!printed.contains("HDF5"), "\(printed)")
    }

    /// What the process writes to file descriptor 2 while `body` runs.
    func capturingStandardError(_ body: () throws -> Void) throws -> String {
        let file = try Fixtures.scratchFolder() + "/stderr.txt"
        let target = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let saved = dup(2)
        try #require(target >= 0 && saved >= 0)
        dup2(target, 2)
        defer {
            dup2(saved, 2)
            close(saved)
            close(target)
        }
        try body()
        return try String(contentsOfFile: file, encoding: .utf8)
    }
}
