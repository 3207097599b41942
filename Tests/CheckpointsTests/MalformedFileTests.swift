import Foundation
import Tensors
import Testing

@testable import Checkpoints

/// A corpus of broken files. Each must be refused with a message that names the file and
/// the problem, never a crash.
struct MalformedFileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let bytes: [UInt8]
        let expected: String
        var testDescription: String { label }
    }

    static let tensorA = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
    static let eight = [UInt8](repeating: 0, count: 8)

    static let cases: [Case] = [
        Case(label: "empty file", bytes: [], expected: "too short"),
        Case(label: "truncated header length", bytes: [0x10, 0, 0, 0], expected: "too short"),
        Case(
            label: "header truncated",
            bytes: Array(Fixtures.rawSafetensors(header: "{" + tensorA + "}", data: eight).prefix(30)),
            expected: "runs past the end of the file"),
        Case(
            label: "header length larger than the file",
            bytes: Fixtures.rawSafetensors(header: "{}", declaredLength: 4096),
            expected: "runs past the end of the file"),
        Case(
            label: "header length over 100 MB",
            bytes: Fixtures.rawSafetensors(header: "{}", declaredLength: 200_000_000),
            expected: "exceeds the safetensors limit"),
        Case(
            label: "header not starting with a brace",
            bytes: Fixtures.rawSafetensors(header: "[1, 2]"), expected: "does not start with '{'"),
        Case(
            label: "header not JSON",
            bytes: Fixtures.rawSafetensors(header: "{\"a\": oops}"), expected: "not valid JSON"),
        Case(
            label: "header not UTF-8",
            bytes: Fixtures.rawSafetensors(header: "{\"a\":\"x\"}").enumerated().map {
                $0.offset == 13 ? 0xFF : $0.element
            },
            expected: "not valid JSON"),
        Case(
            label: "duplicate tensor names",
            bytes: Fixtures.rawSafetensors(
                header: "{" + tensorA + "," + tensorA.replacingOccurrences(of: "[0,8]", with: "[8,16]") + "}",
                data: eight + eight), expected: "names a tensor twice"),
        Case(
            label: "overlapping ranges",
            bytes: Fixtures.rawSafetensors(
                header:
                    #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                data: eight + [0, 0, 0, 0]), expected: "overlaps"),
        Case(
            label: "gap between tensors",
            bytes: Fixtures.rawSafetensors(
                header:
                    #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#,
                data: eight + eight), expected: "gap of 4 unused bytes"),
        Case(
            label: "gap at the start",
            bytes: Fixtures.rawSafetensors(
                header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight),
            expected: "at the start of the data section"),
        Case(
            label: "range past the end",
            bytes: Fixtures.rawSafetensors(header: "{" + tensorA + "}", data: [0, 0, 0, 0]), expected: "truncated"),
        Case(
            label: "trailing bytes",
            bytes: Fixtures.rawSafetensors(header: "{" + tensorA + "}", data: eight + [1]),
            expected: "after the last tensor"),
        Case(
            label: "size that does not match the shape",
            bytes: Fixtures.rawSafetensors(
                header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight),
            expected: "needs 12 bytes but data_offsets [0, 8] span 8"),
        Case(
            label: "shape whose product overflows",
            bytes: Fixtures.rawSafetensors(
                header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: eight),
            expected: "more elements than fit in 64 bits"),
        Case(
            label: "dimension beyond 64 bits",
            bytes: Fixtures.rawSafetensors(
                header: #"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#, data: eight),
            expected: "does not fit in 64 bits"),
        Case(
            label: "negative dimension",
            bytes: Fixtures.rawSafetensors(
                header: #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eight),
            expected: "non-negative integers"),
        Case(
            label: "reversed data offsets",
            bytes: Fixtures.rawSafetensors(
                header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: eight),
            expected: "end before they begin"),
        Case(
            label: "unknown dtype",
            bytes: Fixtures.rawSafetensors(
                header: #"{"a":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}}"#, data: eight),
            expected: "unknown dtype \"Q4_K\""),
        Case(
            label: "missing dtype",
            bytes: Fixtures.rawSafetensors(header: #"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, data: eight),
            expected: "missing or non-string \"dtype\""),
        Case(
            label: "non-string metadata",
            bytes: Fixtures.rawSafetensors(header: #"{"__metadata__":{"epoch":3}}"#), expected: "must be a string"),
        Case(
            label: "deeply nested header",
            bytes: Fixtures.rawSafetensors(
                header: "{\"x\":" + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"),
            expected: "nested deeper"),
        Case(
            label: "truncated zip passed as safetensors",
            bytes: [0x50, 0x4B, 0x03, 0x04] + Array("archive/data.pkl".utf8) + [UInt8](repeating: 0, count: 40),
            expected: "zip archive: no end-of-central-directory record (the file is truncated"),
        Case(
            label: "legacy PyTorch pickle",
            bytes: [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19],
            expected: "legacy (pre-1.6"),
        Case(
            label: "a Scalpel patch passed as a checkpoint",
            bytes: [0x89] + Array("SPATCH".utf8) + [0x0A] + [0x7B, 0, 0, 0, 0, 0, 0, 0] + Array("{}".utf8),
            expected: "this is a Scalpel patch (.spatch), not a checkpoint"),
        Case(
            label: "random bytes",
            bytes: Fixtures.bytes(64, seed: 3).enumerated().map { $0.offset == 7 ? 0xFF : $0.element },
            expected: "unrecognised file format"),
    ]

    @Test(arguments: cases)
    func malformedFileIsRefusedWithAClearMessage(_ sample: Case) throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/bad.safetensors"
        try Fixtures.write(sample.bytes, to: path)
        do {
            let checkpoint = try Checkpoint.open(path)
            Issue.record("\(sample.label): accepted, with \(checkpoint.tensors.count) tensors")
        } catch let error as CheckpointError {
            #expect(error.path == path)
            #expect(error.description.contains(sample.expected), "\(sample.label): \(error.description)")
        }
    }

    /// A missing file, and a missing folder on its way named as the folder; both bad input.
    @Test func missingFileNamesThePath() {
        #expect(throws: CheckpointError.self) { try Checkpoint.open("/nonexistent/model.safetensors") }
        do { _ = try Checkpoint.open("/nonexistent/model.safetensors") } catch let error as CheckpointError {
            #expect(
                "\(error)" == "/nonexistent/model.safetensors: folder /nonexistent does not exist"
                    && error.kind == .notFound)
        } catch { Issue.record("\(error)") }
        let inTemporary = NSTemporaryDirectory() + "scalpel-absent-\(UUID().uuidString).safetensors"
        #expect { try Checkpoint.open(inTemporary) } throws: { "\($0)" == inTemporary + ": no such file or folder" }
    }

    @Test func brokenShardIndexesAreRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let tensor = Fixtures.tensor(.u8, [2], bytes: [1, 2])
        try SafetensorsWriter.write(
            [OutputTensor(name: "a", view: tensor)], metadata: [], to: folder + "/s1.safetensors")
        let cases: [(String, String)] = [
            (#"{"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}}"#, "absent from shard"),
            (#"{"weight_map":{"a":"missing.safetensors"}}"#, "is missing"),
            (#"{"weight_map":{}}"#, "is not listed in the index"),
            (#"{"metadata":{}}"#, "no \"weight_map\""),
            (#"{"weight_map":{"a":"../s1.safetensors"}}"#, "outside the index's folder"),
            (#"{"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}}"#, "not valid JSON: duplicate key"),
        ]
        for (document, expected) in cases {
            let path = folder + "/model.safetensors.index.json"
            try Fixtures.write(Array(document.utf8), to: path)
            if document == #"{"weight_map":{}}"# {
                // An index that forgets a tensor present in a shard: the shard must be named
                // somewhere to be opened, so list another tensor from it under that shard.
                try Fixtures.write(Array(#"{"weight_map":{"zzz":"s1.safetensors"}}"#.utf8), to: path)
            }
            do {
                _ = try Checkpoint.open(path)
                Issue.record("accepted \(document)")
            } catch {
                #expect("\(error)".contains(expected), "\(document): \(error)")
            }
        }
    }
}
