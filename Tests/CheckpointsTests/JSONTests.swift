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
        for text in ["", "{", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "01x", "\"unterminated", "{\"a\":1}{", "tru", "\"\u{01}\""] {
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
