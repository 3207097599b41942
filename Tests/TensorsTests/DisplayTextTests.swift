import Foundation
import Testing

@testable import Tensors

/// Text from files is shown with what a terminal would act on escaped (`DisplayText`).
struct DisplayTextTests {
    @Test func controlCharactersAndTerminalEscapesAreWrittenVisibly() {
        let hostile = "a\u{1B}[2J\u{1B}]0;title\u{07}b\r\n\t\u{00}\u{7F}\u{9B}31m\u{202E}cba\u{2066}\u{2028}"
        #expect(
            DisplayText.escaped(hostile)
                == #"a\x1b[2J\x1b]0;title\x07b\r\n\t\x00\x7f\u{9b}31m\u{202e}cba\u{2066}\u{2028}"#)
        // Ordinary names, accents, other scripts and emoji are left alone, backslashes too.
        for plain in ["encoder.layer.0.weight", "café.weight", "cafe\u{301}", "层.权重", "👩‍💻 w", #"a\x1b"#, ""] {
            #expect(DisplayText.escaped(plain) == plain)
        }
    }

    @Test func escapingIsIdempotent() {
        let once = DisplayText.escaped("x\u{1B}[31m\r\u{9B}y")
        #expect(DisplayText.escaped(once) == once)
        #expect(once.unicodeScalars.allSatisfy { !DisplayText.needsEscape($0) })
    }

    @Test func longListsAndShapesAreShortenedWithACount() {
        #expect(DisplayText.list(["a", "b", "c"], limit: 3) == "a, b, c")
        #expect(DisplayText.list(["a", "b", "c", "d"], limit: 2) == "a, b, … 2 more")
        #expect(Shape.describe([768, 3072]) == "[768, 3072]")
        #expect(Shape.describe(Array(1...8)) == "[1, 2, 3, 4, 5, 6, 7, 8]")
        #expect(Shape.describe([Int](repeating: 1, count: 10_000)) == "[1, 1, 1, 1, 1, 1, 1, 1, … 9992 more]")
    }

    @Test func fileErrorsShowWhatTheyQuoteEscaped() {
        let error = FileError(
            "m\u{1B}.safetensors", "tensor \"w\u{1B}[31m\r\n\": missing",
            details: ["  \"x\u{07}\": 3", "advice"])
        #expect(
            error.description == "m\\x1b.safetensors: tensor \"w\\x1b[31m\\r\\n\": missing\n  \"x\\x07\": 3\nadvice")
        #expect(error.problem == "tensor \"w\u{1B}[31m\r\n\": missing")  // kept as composed, for callers
        #expect(TensorError("bad \u{1B}[0m").description == "bad \\x1b[0m")
    }
}
