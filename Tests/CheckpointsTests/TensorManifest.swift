import Foundation
import Tensors
import Testing

@testable import Checkpoints

/// The manifests the interop helpers exchange with the tests: per tensor its dtype, shape
/// and bytes (C order, little-endian) as hex.
enum TensorManifest {
    static func hex(_ view: TensorView) -> String { view.withBytes { $0.map { String(format: "%02x", $0) }.joined() } }

    /// `{"tensors": {name: {dtype, shape, hex}}}` plus `extra` members.
    static func json(_ tensors: [(String, TensorView)], extra: [(String, JSONValue)] = []) -> JSONValue {
        .object(
            [
                (
                    "tensors",
                    .object(
                        tensors.map { name, view in
                            (
                                name,
                                .object([
                                    ("dtype", .string(view.dtype.rawValue)),
                                    ("shape", .array(view.shape.map { .integer($0) })),
                                    ("hex", .string(hex(view))),
                                ])
                            )
                        })
                )
            ] + extra)
    }

    /// Writes `json(tensors)` to `path`.
    static func write(_ tensors: [(String, TensorView)], extra: [(String, JSONValue)] = [], to path: String) throws {
        try Fixtures.write(Array(json(tensors, extra: extra).serialized.utf8), to: path)
    }

    /// Checks that `checkpoint` holds exactly the tensors `expected` (a manifest's "tensors"
    /// object) describes; `label` names the file in failures.
    static func expectMatches(_ checkpoint: Checkpoint, _ expected: JSONValue?, _ label: String, ordered: Bool = false)
        throws
    {
        let want = try #require(expected?.objectMembers, "\(label): no tensors in the manifest")
        if ordered {
            #expect(checkpoint.tensors.map(\.name) == want.map(\.0), "\(label)")
        } else {
            #expect(checkpoint.tensors.map(\.name).sorted() == want.map(\.0).sorted(), "\(label)")
        }
        for (name, tensor) in want {
            let view = try checkpoint.view(named: name)
            #expect(view.dtype.rawValue == tensor["dtype"]?.stringValue, "\(label) \(name)")
            #expect(view.shape == tensor["shape"]?.arrayValue?.compactMap(\.intValue), "\(label) \(name)")
            #expect(hex(view) == tensor["hex"]?.stringValue, "\(label) \(name)")
        }
    }
}
