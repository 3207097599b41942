import Foundation
import Tensors

@testable import Checkpoints

/// Helpers shared by the checkpoint tests: scratch folders, hand-made tensors, and a way to
/// assemble safetensors bytes exactly (including deliberately broken ones).
enum Fixtures {
    static func scratchFolder(_ label: String = #function) throws -> String {
        let safe = label.filter { $0.isLetter || $0.isNumber }
        let path = NSTemporaryDirectory() + "scalpel-tests-\(safe)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func tensor(_ dtype: DType, _ shape: [Int], bytes: [UInt8]) -> TensorView {
        TensorView.make(dtype: dtype, shape: shape) { buffer in
            precondition(buffer.count == bytes.count, "fixture bytes do not match the shape")
            for (i, b) in bytes.enumerated() { buffer[i] = b }
        }
    }

    /// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// One tensor of every dtype with awkward contents: NaN payloads, -0.0, infinities,
    /// subnormals, extremes, an empty shape and rank-0 scalars.
    static func everyDType() -> [(String, TensorView)] {
        func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
            values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        }
        var out: [(String, TensorView)] = [
            (
                "f32.special",
                tensor(
                    .f32, [2, 4],
                    bytes: le(
                        [
                            0x7FC0_0001, 0xFFA0_0002, 0x8000_0000, 0x0000_0000,
                            0x7F80_0000, 0x0000_0001, 0xFF7F_FFFF, 0x3F80_0000,
                        ] as [UInt32]))
            ),
            (
                "f64.values",
                tensor(
                    .f64, [3],
                    bytes: le([0x7FF8_0000_0000_00AB, 0x8000_0000_0000_0000, 0x4009_21FB_5444_2D18] as [UInt64]))
            ),
            ("f16.values", tensor(.f16, [4], bytes: le([0x7E01, 0x8000, 0x0001, 0xFBFF] as [UInt16]))),
            ("bf16.values", tensor(.bf16, [2, 2], bytes: le([0x7FC1, 0x8000, 0x3F80, 0xFF81] as [UInt16]))),
            ("i64.ids", tensor(.i64, [3], bytes: le([0, -1, Int64.min]))),
            ("i32.values", tensor(.i32, [2], bytes: le([Int32.max, -5]))),
            ("i16.values", tensor(.i16, [1, 2], bytes: le([Int16.min, 3]))),
            ("i8.values", tensor(.i8, [3], bytes: [0x80, 0x00, 0x7F])),
            ("u64.values", tensor(.u64, [1], bytes: le([UInt64.max]))),
            ("u32.values", tensor(.u32, [1], bytes: le([UInt32.max]))),
            ("u16.values", tensor(.u16, [1], bytes: le([UInt16(0xBEEF)]))),
            ("u8.values", tensor(.u8, [2], bytes: [0, 255])),
            ("bool.mask", tensor(.bool, [3], bytes: [1, 0, 1])),
            ("f8e4m3.values", tensor(.f8e4m3, [3], bytes: [0x7F, 0x80, 0x38])),
            ("f8e5m2.values", tensor(.f8e5m2, [2], bytes: [0x7C, 0xFE])),
            ("empty.f32", tensor(.f32, [0, 7], bytes: [])),
            ("empty.i8", tensor(.i8, [5, 0], bytes: [])),
            ("scalar.f32", tensor(.f32, [], bytes: le([UInt32(0x8000_0000)]))),
            ("scalar.bf16", tensor(.bf16, [], bytes: le([UInt16(0x7F81)]))),
        ]
        out.append(("large.f32", tensor(.f32, [33, 17], bytes: bytes(33 * 17 * 4, seed: 11))))
        return out
    }

    /// safetensors bytes from a raw header string and data, exactly as given.
    static func rawSafetensors(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        var length = (declaredLength ?? UInt64(json.count)).littleEndian
        return withUnsafeBytes(of: &length) { Array($0) } + json + data
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The folder holding the test support files (Python helpers).
    static var pythonFolder: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Python").path
    }
}
