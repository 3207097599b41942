import Foundation
import Tensors
import TestSupport

@testable import Checkpoints
@testable import Patches

/// Random models and their tuned variants, for property tests.
struct RandomSource {
    var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

enum PatchFixtures {
    typealias Model = [(String, TensorView)]

    static func scratchFolder(_ label: String = #function) throws -> String {
        let safe = label.filter { $0.isLetter || $0.isNumber }
        let path = NSTemporaryDirectory() + "scalpel-patch-\(safe)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func tensor(_ dtype: DType, _ shape: [Int], _ bytes: [UInt8]) -> TensorView {
        TensorView.make(dtype: dtype, shape: shape) { buffer in
            for (i, b) in bytes.enumerated() { buffer[i] = b }
        }
    }

    /// A model with one tensor of every dtype (random bits: NaN payloads, -0.0 and
    /// subnormals occur), an empty tensor and a scalar.
    static func randomModel(_ random: inout RandomSource) -> Model {
        var model: Model = []
        for (i, dtype) in DType.allCases.enumerated() {
            let shape = [1 + random.below(9), 1 + random.below(40)]
            let count = shape.reduce(1, *) * dtype.size
            var bytes = random.bytes(count)
            if dtype == .bool { bytes = bytes.map { $0 & 1 } }
            model.append(("layer.\(i).\(dtype.rawValue.lowercased()).weight", tensor(dtype, shape, bytes)))
        }
        model.append(("empty", tensor(.f32, [0, 3], [])))
        model.append(("scalar", tensor(.f32, [], [0, 0, 0, 0x80])))  // -0.0
        return model
    }

    /// `model` with about `fraction` of the elements of each tensor given new random bits
    /// (at least one element changes in every non-empty tensor when `fraction` > 0), plus a
    /// tensor added, one removed and one reshaped when `structural`.
    static func tuned(_ model: Model, fraction: Double, structural: Bool, _ random: inout RandomSource) -> Model {
        var out: Model = model.map { name, view in
            guard fraction > 0, view.elementCount > 0 else { return (name, view) }
            var bytes = Array(view.bytes)
            let size = view.dtype.size
            let changes = max(1, Int(Double(view.elementCount) * fraction))
            for _ in 0..<changes {
                let element = random.below(view.elementCount)
                var replacement = random.bytes(size)
                if view.dtype == .bool { replacement = [bytes[element] ^ 1] }
                if replacement == Array(bytes[(element * size)..<((element + 1) * size)]) { replacement[0] ^= 1 }
                bytes.replaceSubrange((element * size)..<((element + 1) * size), with: replacement)
            }
            return (name, tensor(view.dtype, view.shape, bytes))
        }
        if structural {
            out.removeFirst()
            out[0] = (out[0].0, tensor(.f16, [3], random.bytes(6)))  // dtype and shape change
            out.append(("head.classifier.weight", tensor(.bf16, [4, 5], random.bytes(40))))
        }
        return out
    }

    /// A random model and a tuned variant (see `randomModel` and `tuned`), written to
    /// `folder/baseName` and `folder/tunedName`; returns both models.
    @discardableResult
    static func writeRandomPair(
        seed: UInt64, fraction: Double, structural: Bool, in folder: String,
        baseName: String = "b.safetensors", tunedName: String = "t.safetensors"
    ) throws -> (base: Model, tuned: Model) {
        var random = RandomSource(seed: seed)
        let base = randomModel(&random)
        let tuned = self.tuned(base, fraction: fraction, structural: structural, &random)
        try write(base, to: folder + "/" + baseName)
        try write(tuned, to: folder + "/" + tunedName)
        return (base, tuned)
    }

    static func write(_ model: Model, to path: String, metadata: [(String, String)] = [("format", "pt")]) throws {
        try SafetensorsWriter.write(model.map { OutputTensor(name: $0.0, view: $0.1) }, metadata: metadata, to: path)
    }

    /// True when the checkpoint at `path` holds exactly `model`'s tensors, bit for bit.
    static func matches(_ path: String, _ model: Model) throws -> Bool {
        let checkpoint = try Checkpoint.open(path)
        guard checkpoint.tensors.count == model.count else { return false }
        return try model.allSatisfy { name, view in try checkpoint.view(named: name).isBitwiseEqual(to: view) }
    }

    static var referenceReader: String { ReferencePython.packageRoot + "/Formats/spatch_reference.py" }

    static func runPython(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try ReferencePython.run(arguments)
    }
}
