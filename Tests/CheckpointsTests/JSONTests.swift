import Testing

@testable import Checkpoints

struct JSONTests {
    @Test func parsesAndKeepsMemberOrder() throws {
        let value = try JSONValue.parse(#" {"b": [1, -2, 3.5e1, true, null], "a": {"x": "y"}} "#)
        #expect(value.objectMembers?.map(\.0) == ["b", "a"])
        #expect(value["b"] == .array([.integer(1), .integer(-2), .number(35), .bool(true), .null]))
        #expect(value["a"]?["x"]?.stringValue == "y")
    }

    @Test func keepsLargeIntegersExact() throws {
        #expect(try JSONValue.parse("9007199254740993") == .integer(9_007_199_254_740_993))
        #expect(throws: JSONError.self) { try JSONValue.parse("18446744073709551616") }
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let value = try JSONValue.parse(#""a\"b\\c\/\n\u00e9\ud83d\ude00""#)
        #expect(value.stringValue == "a\"b\\c/\né😀")
        #expect(throws: JSONError.self) { try JSONValue.parse(#""\ud83d""#) }
    }

    @Test func refusesMalformedDocuments() {
        for text in [
            "", "{", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "01x", "\"unterminated", "{\"a\":1}{", "tru", "\"\u{01}\"",
        ] {
            #expect(throws: JSONError.self, "\(text)") { try JSONValue.parse(text) }
        }
    }

    @Test func refusesDuplicateKeys() {
        #expect(throws: JSONError.self) { try JSONValue.parse(#"{"a":1,"a":2}"#) }
    }

    @Test func serialisationRoundTrips() throws {
        let value = JSONValue.object([
            ("name", .string("tab\tquote\"newline\n\u{1}é")),
            ("shape", .array([.integer(768), .integer(0)])),
            ("nested", .object([("ok", .bool(false)), ("none", .null), ("pi", .number(3.25))])),
        ])
        #expect(try JSONValue.parse(value.serialized) == value)
        #expect(try JSONValue.parse(value.pretty()) == value)
    }
}

/// JSON files from disk (configuration, tokenizer.json, shard indexes): a byte-order mark at
/// the start is skipped, as Windows tools write one; anywhere else it is refused.
struct JSONFileTests {
    @Test func aByteOrderMarkAtTheStartOfAFileIsSkipped() throws {
        let folder = try Fixtures.scratchFolder()
        let document = Array("{\"do_lower_case\": false,\r\n \"name\": \"é\"}\r\n".utf8)
        try Fixtures.write(document, to: folder + "/plain.json")
        try Fixtures.write([0xEF, 0xBB, 0xBF] + document, to: folder + "/marked.json")
        let plain = try JSONValue.parse(contentsOf: folder + "/plain.json")
        #expect(plain["name"]?.stringValue == "é" && plain["do_lower_case"] == .bool(false))
        #expect(try JSONValue.parse(contentsOf: folder + "/marked.json") == plain)
        // Errors name the file and count the mark, so the offset is the file's.
        try Fixtures.write([0xEF, 0xBB, 0xBF] + Array("{\"a\": 1,}".utf8), to: folder + "/bad.json")
        #expect { try JSONValue.parse(contentsOf: folder + "/bad.json") } throws: {
            "\($0)" == folder + "/bad.json: is not valid JSON: expected a string key at byte 11"
        }
        try Fixtures.write(Array(" \u{FEFF}{}".utf8), to: folder + "/inside.json")
        #expect { try JSONValue.parse(contentsOf: folder + "/inside.json") } throws: {
            "\($0)".hasPrefix(folder + "/inside.json: is not valid JSON")
        }
        #expect { try JSONValue.parse(contentsOf: folder + "/none.json") } throws: {
            "\($0)" == folder + "/none.json: no such file"
        }
    }

    @Test func aShardIndexWithAByteOrderMarkOpens() throws {
        let folder = try Fixtures.scratchFolder()
        let tensor = Fixtures.tensor(.u8, [2], bytes: [1, 2])
        try SafetensorsWriter.write(
            [OutputTensor(name: "a", view: tensor)], metadata: [], to: folder + "/s1.safetensors")
        try Fixtures.write(
            [0xEF, 0xBB, 0xBF] + Array("{\"weight_map\": {\"a\": \"s1.safetensors\"}}\r\n".utf8),
            to: folder + "/model.safetensors.index.json")
        #expect(try CheckpointFormat.detect(path: folder + "/model.safetensors.index.json") == .safetensorsIndex)
        let model = try Checkpoint.open(folder + "/model.safetensors.index.json")
        #expect(model.format == .safetensorsIndex)
        #expect(try model.view(named: "a").isBitwiseEqual(to: tensor))
    }
}
