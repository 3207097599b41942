import Foundation
import TestSupport
import Testing

/// The fuzz targets (Tests/Fuzz) in the plain build: each replays its seed corpus and every
/// input that once crashed it (Tests/Fixtures/fuzz-regressions/TARGET/) without a crash.
/// The coverage-guided runs themselves are Tests/Fuzz/fuzz.sh (./test.sh runs a short one).
struct FuzzHarnessTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var fuzz: String { URL(fileURLWithPath: CLI.executable).deletingLastPathComponent().path + "/scalpel-fuzz" }

    static func replay(_ target: String, _ folder: String) throws -> (status: Int32, replayed: Int, output: String) {
        let (status, output) = try runProgram(fuzz, ["replay", target, folder], in: root)
        return (status, output.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count, output)
    }

    @Test func everyTargetReplaysItsSeedCorpus() throws {
        let seeds = try CLI.scratchFolder() + "/corpus"
        let made = try ReferencePython.run([Self.root + "/Tests/Fuzz/make_seeds.py", seeds])
        try #require(made.status == 0, "\(made.output)")
        let targets = try FileManager.default.contentsOfDirectory(atPath: seeds).sorted()
        #expect(targets.count == 12, "\(targets)")
        for target in targets {
            let count = try FileManager.default.contentsOfDirectory(atPath: seeds + "/" + target).count
            let result = try Self.replay(target, seeds + "/" + target)
            #expect(result.status == 0 && result.replayed == count, "\(target): \(result.output)")
        }
    }

    /// The handed inputs found by fuzzing before the harnesses existed (field cases), by target.
    static let handedFindings: [(target: String, file: String)] = [
        ("pytorch", "pt_view_offset_overflow.pt"), ("pytorch", "pt_self_containing_list.pt"),
        ("npz", "npz_zip64_extra_field_past_end.npz"), ("gguf", "gguf_quantized_size_overflow.gguf"),
        ("hdf5", "h5_chunked_huge_declared_shape.h5"), ("hdf5", "h5_damaged_global_heap.h5"),
    ]

    @Test func inputsThatOnceCrashedATargetStayHarmless() throws {
        for (target, file) in Self.handedFindings {
            let result = try Self.replay(target, Self.root + "/Tests/Fixtures/field-cases/" + file)
            #expect(result.status == 0 && result.replayed == 1, "\(target) \(file): \(result.output)")
        }
        let regressions = Self.root + "/Tests/Fixtures/fuzz-regressions"
        for target in (try? FileManager.default.contentsOfDirectory(atPath: regressions).sorted()) ?? [] {
            let result = try Self.replay(target, regressions + "/" + target)
            #expect(result.status == 0 && result.replayed > 0, "\(target): \(result.output)")
        }
    }
}
