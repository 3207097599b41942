import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// String attributes are read by their own type: fixed or variable length, ASCII or UTF-8,
/// every padding, in any order. (One that cannot be read is an error, never left out:
/// HDF5GuardTests's damaged heaps.)
struct HDF5AttributeTests {
    @Test func everyKindOfStringAttributeIsMetadataAsH5pyReadsIt() throws {
        let folder = try HDF5GuardTests.made("attributes")
        let expected = try #require(
            JSONValue.parse(String(contentsOfFile: folder + "/expected.json", encoding: .utf8)).arrayValue)
        let pairs = expected.compactMap { pair in
            pair.arrayValue.map { "\($0[0].stringValue ?? "")=\($0[1].stringValue ?? "")" }
        }
        #expect(pairs.count == 9)
        let checkpoint = try Checkpoint.open(folder + "/attributes.h5")
        #expect(checkpoint.metadata.map { "\($0.0)=\($0.1)" } == pairs)
    }

    /// Keras's bfloat16 marker read by its type too: a variable-length ASCII "bfloat16" made
    /// the dataset a U16 before.
    @Test(arguments: ["bf16_vlen_ascii", "bf16_fixed"])
    func theBfloat16MarkerIsReadWhateverItsStringType(_ name: String) throws {
        let folder = try HDF5GuardTests.made("attributes", "marker-\(name)")
        let view = try Checkpoint.open(folder + "/attributes.h5").view(named: name)
        #expect(view.dtype == .bf16 && TensorManifest.hex(view) == "803f00c0")
    }
}
