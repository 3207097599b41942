import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// NumPy .npy / .npz against NumPy itself: files NumPy writes (every layout it produces) read
/// in Scalpel with identical bytes, files Scalpel writes load in np.load, and damaged or
/// hostile files are refused with the file and the problem named.
struct NumpyTests {
    @Test func filesNumpyWritesReadInScalpel() throws {
        let folder = try Fixtures.scratchFolder()
        let result = try Python.run(["numpy_interop.py", "write", folder])
        try #require(result.status == 0, "\(result.output)")
        let manifest = try JSONValue.parse(String(contentsOfFile: folder + "/manifest.json", encoding: .utf8))
        for (file, expected) in try #require(manifest.objectMembers) {
            let checkpoint = try Checkpoint.open(folder + "/" + file)
            #expect(checkpoint.format == (file.hasSuffix(".npz") ? .npz : .numpy))
            try TensorManifest.expectMatches(checkpoint, expected["tensors"], file)
        }
    }

    @Test(arguments: ["model.npz", "single.npy"])
    func filesScalpelWritesLoadInNumpy(_ name: String) throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/" + name
        var tensors = Fixtures.everyDType().filter { NumpyHeader.supports($0.1.dtype) }
        if name.hasSuffix(".npy") { tensors = [("single", tensors[1].1)] }
        let outputs = tensors.map { OutputTensor(name: $0.0, view: $0.1) }
        try CheckpointWriter.write(outputs, metadata: [], format: CheckpointWriter.format(forOutput: path)!, to: path)
        try TensorManifest.write(tensors, to: folder + "/manifest.json")
        let result = try Python.run(["numpy_interop.py", "check", path, folder + "/manifest.json"])
        #expect(result.status == 0, "\(result.output)")
        // And back: Scalpel reads its own file with the same bytes, viewed in place.
        let reread = try Checkpoint.open(path)
        for (tensorName, view) in tensors {
            #expect(TensorManifest.hex(try reread.view(named: tensorName)) == TensorManifest.hex(view))
        }
    }

    @Test func npzWritingIsDeterministicAndRefusesTypesNumpyLacks() throws {
        let folder = try Fixtures.scratchFolder()
        let tensors = Fixtures.everyDType().filter { NumpyHeader.supports($0.1.dtype) }.map {
            OutputTensor(name: $0.0, view: $0.1)
        }
        try NumpyWriter.writeNpz(tensors, to: folder + "/a.npz")
        try NumpyWriter.writeNpz(tensors, to: folder + "/b.npz")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: folder + "/a.npz"))
                == Data(contentsOf: URL(fileURLWithPath: folder + "/b.npz")))
        let bf16 = Fixtures.everyDType().filter { $0.1.dtype == .bf16 }.map { OutputTensor(name: $0.0, view: $0.1) }
        #expect { try NumpyWriter.writeNpz(bf16, to: folder + "/c.npz") } throws: {
            "\($0)".contains("NumPy has no BF16")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/c.npz"))
        #expect { try NumpyWriter.writeNpy(tensors, to: folder + "/d.npy") } throws: {
            "\($0)".contains("holds one array")
        }
    }

    @Test(arguments: [
        ("object.npy", "pickled Python objects"),
        ("bomb.npz", "more than deflate can expand"),
        ("longer.npz", "inflates to more than"),
        ("truncated.npz", "truncated"),
        ("truncated.npy", "truncated or damaged"),
        ("evil_header.npy", "unexpected"),
        ("structured.npz", "structured (record) arrays"),
    ])
    func hostileFilesAreRefused(_ file: String, _ message: String) throws {
        let folder = try Fixtures.scratchFolder("hostile-\(file)")
        let result = try Python.run(["numpy_interop.py", "hostile", folder])
        try #require(result.status == 0, "\(result.output)")
        #expect {
            try Checkpoint.open(folder + "/" + file)
        } throws: { error in
            "\(error)".contains(file) && "\(error)".contains(message)
        }
    }

    @Test func headerParserReadsWhatNumpyWritesAndNothingElse() throws {
        func parse(_ text: String) throws -> NumpyHeader {
            var bytes = NumpyHeader.magic + [1, 0]
            let body = Array(text.utf8) + [0x0A]
            bytes += [UInt8(body.count & 0xFF), UInt8(body.count >> 8)] + body
            bytes += [UInt8](repeating: 0, count: 64)
            return try bytes.withUnsafeBytes { try NumpyHeader($0, what: "test", path: "x.npy") }
        }
        let header = try parse("{'descr': '>f8', 'fortran_order': True, 'shape': (3, 4), }")
        #expect(header.dtype == .f64 && header.bigEndian && header.fortranOrder && header.shape == [3, 4])
        #expect(try parse("{'shape': (), 'fortran_order': False, 'descr': '|b1'}").shape == [])
        #expect(try parse("{'descr': '<i4', 'fortran_order': False, 'shape': (5L,)}").shape == [5])
        for bad in [
            "{'descr': '<f4', 'fortran_order': False}", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", "{'descr': '<f4', 'descr': '<f4'}",
            "[" + String(repeating: "[", count: 100), "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} extra",
        ] {
            #expect(throws: CheckpointError.self, "\(bad)") { try parse(bad) }
        }
        // What the writer emits parses back to the same array description.
        let encoded = NumpyHeader.encode(dtype: .u16, shape: [7])
        #expect(encoded.count % 64 == 0)
        let decoded = try encoded.withUnsafeBytes { try NumpyHeader($0, what: "test", path: "x.npy") }
        #expect(decoded.dtype == .u16 && decoded.shape == [7] && decoded.dataOffset == encoded.count)
    }
}
