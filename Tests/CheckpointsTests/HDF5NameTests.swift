import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// HDF5 stores a tensor's name as a path: names it would change are refused by name before
/// anything is written; every other name, and every metadata key, comes back byte for byte.
struct HDF5NameTests {
    static func f32(_ count: Int) -> TensorView {
        TensorView.make(dtype: .f32, shape: [count]) { buffer in
            for i in 0..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: i * 5 + count) }
        }
    }

    @Test(arguments: [
        (
            ["/lead"], [String](),
            "tensor \"/lead\" cannot be stored in HDF5 under that name: it starts with \"/\", which HDF5 reads as the root (the name would lose it); rename it, or keep safetensors"
        ),
        (
            ["a//b"], [],
            "tensor \"a//b\" cannot be stored in HDF5 under that name: it holds \"//\", which HDF5 reads as one \"/\"; rename it, or keep safetensors"
        ),
        (
            ["trail/"], [],
            "tensor \"trail/\" cannot be stored in HDF5 under that name: it ends with \"/\", which HDF5 drops; rename it, or keep safetensors"
        ),
        (
            ["a/./b"], [],
            "tensor \"a/./b\" cannot be stored in HDF5 under that name: it holds a \".\" segment, which HDF5 reads as the group itself; rename it, or keep safetensors"
        ),
        (
            ["."], [],
            "tensor \".\" cannot be stored in HDF5 under that name: it holds a \".\" segment, which HDF5 reads as the group itself; rename it, or keep safetensors"
        ),
        (
            ["nul\u{0}x"], [],
            "tensor \"nul\\x00x\" cannot be stored in HDF5 under that name: it holds a NUL byte, which ends an HDF5 name; rename it, or keep safetensors"
        ),
        (
            [""], [],
            "tensor \"\" cannot be stored in HDF5 under that name: an empty name is not a dataset path; rename it, or keep safetensors"
        ),
        (
            ["a", "a/b"], [],
            "tensors \"a\" and \"a/b\" cannot both be stored in HDF5: \"a\" would have to be a dataset and the group holding the other"
        ),
        (["x"], [""], "metadata key \"\" cannot be an HDF5 attribute name: HDF5 attributes need a name"),
        (
            ["x"], ["k\u{0}"],
            "metadata key \"k\\x00\" cannot be an HDF5 attribute name: it holds a NUL byte, which ends an HDF5 name"
        ),
    ])
    func namesHDF5WouldChangeAreRefused(_ names: [String], _ keys: [String], _ message: String) throws {
        let path = try Fixtures.scratchFolder("h5-refused") + "/out.h5"
        #expect {
            try CheckpointWriter.write(
                names.map { OutputTensor(name: $0, view: Self.f32(2)) }, metadata: keys.map { ($0, "v") },
                format: .hdf5, to: path)
        } throws: { "\($0)" == "\(path): \(message)" }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// Awkward names HDF5 stores as given: `..` (an ordinary link name), spaces, a backslash, a
    /// tab, multi-byte UTF-8, Keras's `:0`, a 300-byte name; and metadata keys that look like
    /// paths, or start with `hdf5.` (which the writer used to drop).
    @Test func awkwardNamesAndKeysRoundTripThroughScalpelAndH5py() throws {
        let folder = try Fixtures.scratchFolder()
        let names = [
            "..", "g/../b", " sp ", "x\\y", "tab\tname", "caf\u{E9}/poids", "日本語", "emoji🙂",
            "model_weights/dense/kernel:0",
            String(repeating: "n", count: 300),
        ]
        let tensors = names.enumerated().map { ($1, Self.f32($0 + 1)) }
        let metadata = [
            ("/x", "slash"), ("a/b", "path"), (".", "dot"), ("hdf5.version", "kept"), ("ünï", "côdé"), ("empty", ""),
        ]
        let path = folder + "/out.h5"
        try CheckpointWriter.write(
            tensors.map { OutputTensor(name: $0.0, view: $0.1) }, metadata: metadata, format: .hdf5, to: path)
        try TensorManifest.write(tensors, to: folder + "/manifest.json")
        let result = try Python.run(["hdf5_interop.py", "check", path, folder + "/manifest.json"])
        #expect(result.status == 0, "\(result.output)")
        let reread = try Checkpoint.open(path)
        #expect(
            reread.tensors.map { Array($0.name.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
                == names.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
        // Root attributes come back in HDF5's name order, which sorts bytes.
        let sorted = metadata.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        #expect(reread.metadata.map { "\($0.0)=\($0.1)" } == sorted.map { "\($0.0)=\($0.1)" })
        for (name, view) in tensors {
            #expect(TensorManifest.hex(try reread.view(named: name)) == TensorManifest.hex(view), "\(name)")
        }
    }
}
