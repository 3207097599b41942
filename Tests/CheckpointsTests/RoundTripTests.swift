import Foundation
import Tensors
import Testing

@testable import Checkpoints

struct RoundTripTests {
    @Test func everyDTypeRoundTripsBitForBit() throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/all.safetensors"
        let tensors = Fixtures.everyDType()
        let metadata = [("format", "pt"), ("task", "naïve ✓ \"quoted\"\n")]
        try SafetensorsWriter.write(tensors.map { OutputTensor(name: $0.0, view: $0.1) }, metadata: metadata, to: path)

        let checkpoint = try Checkpoint.open(path)
        #expect(checkpoint.metadata.map(\.0) == metadata.map(\.0))
        #expect(checkpoint.metadata.map(\.1) == metadata.map(\.1))
        #expect(checkpoint.tensors.count == tensors.count)
        for (name, original) in tensors {
            let read = try checkpoint.view(named: name)
            #expect(read.isBitwiseEqual(to: original), "\(name)")
            // Each tensor starts on a multiple of its element size in the file.
            let entry = try #require(checkpoint.entry(named: name))
            #expect(entry.offset % entry.dtype.size == 0, "\(name) at \(entry.offset)")
        }
        #expect((8 + checkpoint.files[0].headerLength) % 8 == 0)
    }

    @Test func rewritingAFileReproducesItsBytes() throws {
        let folder = try Fixtures.scratchFolder()
        let first = folder + "/first.safetensors"
        let second = folder + "/second.safetensors"
        try SafetensorsWriter.write(
            Fixtures.everyDType().map { OutputTensor(name: $0.0, view: $0.1) },
            metadata: [("k", "v")], to: first)
        _ = try CheckpointConverter.convert(try Checkpoint.open(first), to: second)
        #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == Data(contentsOf: URL(fileURLWithPath: second)))
    }

    @Test func unalignedFilesFromOtherWritersStillRead() throws {
        // Trailing spaces chosen so the data starts off a 4-byte boundary: no F32 view can be aligned.
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let values: [Float] = [1.5, -0.0]
        let data = values.withUnsafeBytes { Array($0) }
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/unaligned.safetensors"
        var text = header
        while (8 + text.utf8.count) % 4 == 0 { text += " " }  // force a misaligned data start
        try Fixtures.write(Fixtures.rawSafetensors(header: text, data: data), to: path)
        let view = try Checkpoint.open(path).view(named: "a")
        #expect(!view.isAligned)
        let aligned = view.aligned()
        #expect(aligned.isAligned)
        #expect(aligned.floatValues().map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func dtypeConversionRoundsToNearestEvenAndKeepsOtherTensors() throws {
        let folder = try Fixtures.scratchFolder()
        let source = folder + "/source.safetensors"
        let target = folder + "/bf16.safetensors"
        let floats: [Float] = [1.0, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), -0.0, .infinity]
        let ids: [Int64] = [1, 2, 3]
        try SafetensorsWriter.write(
            [
                OutputTensor(name: "w", view: Fixtures.tensor(.f32, [5], bytes: floats.withUnsafeBytes { Array($0) })),
                OutputTensor(name: "ids", view: Fixtures.tensor(.i64, [3], bytes: ids.withUnsafeBytes { Array($0) })),
            ], metadata: [], to: source)
        let summary = try CheckpointConverter.convert(
            try Checkpoint.open(source), to: target,
            options: .init(dtype: .bf16))
        #expect(summary.convertedCount == 1)
        let result = try Checkpoint.open(target)
        let w = try result.view(named: "w")
        #expect(w.dtype == .bf16)
        let bits = (0..<5).map { w.bytes.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self) }
        #expect(bits == [0x3F80, 0x3F80, 0x3F82, 0x8000, 0x7F80])
        #expect(try result.view(named: "ids").isBitwiseEqual(to: Checkpoint.open(source).view(named: "ids")))
    }

    @Test func shardedCheckpointsWriteAndReadAsOneModel() throws {
        let folder = try Fixtures.scratchFolder()
        let tensors = Fixtures.everyDType()
        let written = try SafetensorsWriter.writeSharded(
            tensors.map { OutputTensor(name: $0.0, view: $0.1) }, metadata: [("format", "pt")],
            to: folder + "/model.safetensors", shardSize: 600)
        #expect(written.last == folder + "/model.safetensors.index.json")
        #expect(written.count >= 3)
        #expect(
            written.first?.hasSuffix("model-00001-of-\(String(format: "%05d", written.count - 1)).safetensors") == true)
        for checkpointPath in [folder + "/model.safetensors.index.json", folder] {
            let model = try Checkpoint.open(checkpointPath)
            #expect(model.format == .safetensorsIndex)
            #expect(model.files.count == written.count - 1)
            #expect(model.indexMetadata.first?.1 == String(tensors.reduce(0) { $0 + $1.1.byteCount }))
            for (name, original) in tensors {
                #expect(try model.view(named: name).isBitwiseEqual(to: original), "\(name)")
            }
        }
        // Shards respect the size limit unless a single tensor is larger.
        let model = try Checkpoint.open(folder)
        for file in model.files {
            let data = model.tensors.filter { $0.fileIndex == model.files.firstIndex { $0.path == file.path } }
            #expect(data.count == 1 || data.reduce(0) { $0 + $1.byteCount } <= 600)
        }
        // And a sharded model converts back to one file with the same tensors.
        let merged = folder + "/merged.safetensors"
        _ = try CheckpointConverter.convert(model, to: merged)
        let single = try Checkpoint.open(merged)
        for (name, original) in tensors { #expect(try single.view(named: name).isBitwiseEqual(to: original)) }
    }

    @Test func writerRefusesDuplicateNamesAndLeavesNoFile() throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/dup.safetensors"
        let t = Fixtures.tensor(.u8, [1], bytes: [1])
        #expect(throws: CheckpointError.self) {
            try SafetensorsWriter.write(
                [OutputTensor(name: "x", view: t), OutputTensor(name: "x", view: t)], metadata: [], to: path)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test func failedProductionLeavesNoPartialOutput() throws {
        struct Boom: Error {}
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/out.safetensors"
        try Fixtures.write([1, 2, 3], to: path)  // an existing file must survive a failed write
        let good = OutputTensor(name: "a", view: Fixtures.tensor(.u8, [4], bytes: [1, 2, 3, 4]))
        let bad = OutputTensor(name: "b", dtype: .f32, shape: [1]) { throw Boom() }
        #expect(throws: Boom.self) { try SafetensorsWriter.write([good, bad], metadata: [], to: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["out.safetensors"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([1, 2, 3]))
    }

    /// The writer produces the next tensor on another thread while it writes the current one.
    /// When the current one fails, the write must not return (and let its caller exit) while
    /// that production still reads the sources.
    @Test func aFailedWriteWaitsForTheTensorProducedAhead() throws {
        struct Boom: Error {}
        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var set = false
            func raise() { lock.withLock { set = true } }
            var isRaised: Bool { lock.withLock { set } }
        }
        let finished = Flag()
        let path = try Fixtures.scratchFolder() + "/out.safetensors"
        let failing = OutputTensor(name: "a", dtype: .f32, shape: [1]) { throw Boom() }
        let slow = OutputTensor(name: "b", dtype: .f32, shape: [1]) {
            Thread.sleep(forTimeInterval: 0.3)
            finished.raise()
            return Fixtures.tensor(.f32, [1], bytes: [0, 0, 0, 0])
        }
        #expect(throws: Boom.self) { try SafetensorsWriter.write([failing, slow], metadata: [], to: path) }
        #expect(finished.isRaised)
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
