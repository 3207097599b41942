import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Every count, length, dimension and offset a GGUF header gives is checked for overflow and
/// against what the file can hold, before any arithmetic or loop uses it.
struct GGUFBoundsTests {
    static let fieldCases = ReferencePython.fieldCases

    /// The field case: a Q8_K tensor of [61440, 2^47] elements, whose byte count (292 bytes per
    /// 256 elements) no longer fits 64 bits; Scalpel trapped on it.
    @Test func aQuantizedByteCountOverflowingIsRefused() throws {
        let path = Self.fieldCases + "/gguf_quantized_size_overflow.gguf"
        #expect {
            try Checkpoint.open(path, allowingOpaqueTensors: true)
        } throws: {
            "\($0)"
                == "\(path): GGUF tensor \"q\" (Q8_K, shape [61440, 140737488355328]): its byte count overflows 64 bits (damaged file?)"
        }
    }

    /// One damaged header per kind of count, each with the one-line error it gets.
    static let damaged: [(String, GGUFBytes, String)] = {
        var cases: [(String, GGUFBytes, String)] = []
        // Q8_0 (34 bytes per 32 elements): 2^47 × 65535 elements fit, their bytes do not.
        var q8 = GGUFBytes(tensors: 1, pairs: 0)
        q8.tensor("q8", dims: [1 << 47, 65535], type: 8)
        cases.append(
            (
                "q8_overflow", q8,
                "GGUF tensor \"q8\" (Q8_0, shape [65535, 140737488355328]): its byte count overflows 64 bits (damaged file?)"
            ))
        var elements = GGUFBytes(tensors: 1, pairs: 0)
        elements.tensor("e", dims: [1 << 47, 1 << 47], type: 0)
        cases.append(
            ("element_overflow", elements, "GGUF tensor \"e\": shape [140737488355328, 140737488355328] overflows"))
        var bytes = GGUFBytes(tensors: 1, pairs: 0)
        bytes.tensor("f64", dims: [1 << 47, 1 << 14], type: 28)
        cases.append(("byte_overflow", bytes, "GGUF tensor \"f64\" is absurdly large"))
        var dimension = GGUFBytes(tensors: 1, pairs: 0)
        dimension.tensor("d", dims: [1 << 60], type: 0)
        cases.append(("dimension", dimension, "GGUF dimension of d is absurd (1152921504606846976)"))
        let tensors = GGUFBytes(tensors: 1 << 40, pairs: 0)
        cases.append(
            (
                "tensor_count", tensors,
                "GGUF header declares 1099511627776 tensors, more than the file's 24 bytes can hold (damaged file?)"
            ))
        var pairs = GGUFBytes(tensors: 0, pairs: 1 << 40)
        pairs.bytes += [UInt8](repeating: 0, count: 100)
        cases.append(
            (
                "pair_count", pairs,
                "GGUF header declares 1099511627776 metadata pairs, more than the file's 124 bytes can hold (damaged file?)"
            ))
        // 200 uint64 elements need 1600 bytes; the file has 200 after the count.
        // 200 uint64 values need 1600 bytes; the file has 200 after the count.
        cases.append(
            (
                "array_count", .array(elementType: 10, count: 200, then: 200),
                "GGUF metadata array of 200 elements cannot fit the file"
            ))
        cases.append(
            (
                "array_type", .array(elementType: 13, count: 0, then: 0),
                "GGUF metadata array of value type 13 is unknown (damaged file?)"
            ))
        // Q8_0 blocks run along ne[0]: 64 elements in rows of 16 are not whole blocks.
        var rows = GGUFBytes(tensors: 1, pairs: 0)
        rows.tensor("r", dims: [16, 4], type: 8)
        cases.append(
            (
                "block_rows", rows,
                "GGUF tensor \"r\" (Q8_0): its rows of 16 elements are not a multiple of its block of 32"
            ))
        var name = GGUFBytes(tensors: 1, pairs: 0)
        name.tensor([0x61, 0xFF], dims: [1], type: 0)
        cases.append(("name_utf8", name, "GGUF tensor name at offset 24 is not valid UTF-8"))
        var twice = GGUFBytes(tensors: 2, pairs: 0)
        twice.tensor("t", dims: [1], type: 0)
        twice.tensor("t", dims: [1], type: 0, offset: 32)
        cases.append(("name_twice", twice, "GGUF tensor \"t\" appears twice"))
        var key = GGUFBytes(tensors: 0, pairs: 2)
        key.pair("k", uint32: 1)
        key.pair("k", uint32: 2)
        cases.append(("key_twice", key, "GGUF metadata key \"k\" appears twice"))
        return cases
    }()

    @Test(arguments: damaged.indices)
    func damagedCountsAreRefusedWithOneLine(_ index: Int) throws {
        let (label, file, message) = Self.damaged[index]
        let path = try Fixtures.scratchFolder("gguf-\(label)") + "/\(label).gguf"
        try file.write(to: path)
        #expect("\(label)") {
            try Checkpoint.open(path, allowingOpaqueTensors: true)
        } throws: { "\($0)" == "\(path): \(message)" }
    }

    /// Keys compare as bytes: "café" spelled with U+00E9 and with "e" + U+0301 are two keys.
    @Test func keysThatAreUnicodeEquivalentAreTwoKeys() throws {
        var file = GGUFBytes(tensors: 0, pairs: 2)
        file.pair("caf\u{E9}", uint32: 1)
        file.pair("cafe\u{301}", uint32: 2)
        let path = try Fixtures.scratchFolder() + "/keys.gguf"
        try file.write(to: path)
        let metadata = try Checkpoint.open(path).metadata
        #expect(metadata.map { Array($0.0.utf8) } == [Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8)])
        #expect(metadata.map(\.1) == ["1", "2"])
    }
}
