import Foundation
import Testing

@testable import Tensors

struct TensorCoreTests {
    @Test func elementCountsRefuseOverflowAndNegativeDimensions() {
        #expect(Shape.elementCount([]) == 1)
        #expect(Shape.elementCount([0, 5]) == 0)
        #expect(Shape.elementCount([3, 4]) == 12)
        #expect(Shape.elementCount([1 << 32, 1 << 32]) == nil)
        #expect(Shape.elementCount([-1]) == nil)
        #expect(Shape.byteCount([1 << 62], .f32) == nil)
        #expect(Shape.byteCount([2, 3], .bf16) == 12)
    }

    @Test func dtypeNamesParseInBothSpellings() {
        #expect(DType(name: "F32") == .f32)
        #expect(DType(name: "bfloat16") == .bf16)
        #expect(DType(name: "F8_E4M3") == .f8e4m3)
        #expect(DType(name: "Q4_K") == nil)
    }

    @Test func sha256MatchesTheStandardVector() {
        let digest = Array("abc".utf8).withUnsafeBytes { Fingerprint.sha256($0) }
        #expect(digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let empty = Fingerprint.sha256(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(empty == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func unalignedViewsAreCopiedToAlignedMemory() {
        let storage = ByteBuffer(count: 17)
        for i in 0..<17 { storage.bytes[i] = UInt8(i) }
        let unaligned = TensorView(
            dtype: .f32, shape: [4],
            bytes: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage.bytes)[1..<17]),
            owner: storage)
        #expect(!unaligned.isAligned)
        let aligned = unaligned.aligned()
        #expect(aligned.isAligned)
        #expect(aligned.isBitwiseEqual(to: unaligned))
    }

    @Test func conversionKeepsNonFloatTensorsUntouched() {
        let ids = TensorView.make(dtype: .i64, shape: [3]) {
            $0.storeBytes(of: Int64(7), toByteOffset: 8, as: Int64.self)
        }
        let converted = ids.converted(to: .bf16)
        #expect(converted.dtype == .i64 && converted.isBitwiseEqual(to: ids))
        let floats = TensorView.make(dtype: .f32, shape: [2]) {
            $0.storeBytes(of: Float(1.5), toByteOffset: 0, as: Float.self)
            $0.storeBytes(of: Float(-2.25), toByteOffset: 4, as: Float.self)
        }
        #expect(floats.converted(to: .f16).floatValues() == [1.5, -2.25])
    }

    @Test func sgemmMatchesANaiveProduct() {
        let m = 7
        let n = 5
        let k = 9
        let a = (0..<(m * k)).map { Float($0 % 11) - 5 }
        let b = (0..<(k * n)).map { Float($0 % 7) * 0.5 }
        var c = [Float](repeating: 0, count: m * n)
        Blas.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
        for i in 0..<m {
            for j in 0..<n {
                let expected = (0..<k).reduce(Float(0)) { $0 + a[i * k + $1] * b[$1 * n + j] }
                #expect(c[i * n + j] == expected)
            }
        }
        // Transposed A: (k×m)ᵀ.
        var at = [Float](repeating: 0, count: m * k)
        for i in 0..<m { for p in 0..<k { at[p * m + i] = a[i * k + p] } }
        var c2 = [Float](repeating: 0, count: m * n)
        Blas.sgemm(transposeA: true, m: m, n: n, k: k, a: at, lda: m, b: b, ldb: n, c: &c2, ldc: n)
        #expect(c2 == c)
    }

    @Test func zstdFramesRoundTripAndRejectDamage() throws {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 >> 3) }
        let frame = try data.withUnsafeBytes { try Zstd.compress($0, level: 3) }
        #expect(frame.count < data.count)
        let restored = try frame.withUnsafeBytes { try Zstd.decompress($0, expectedSize: data.count) }
        #expect(restored == data)
        #expect(throws: TensorError.self) {
            try frame.withUnsafeBytes { try Zstd.decompress($0, expectedSize: data.count + 1) }
        }
        #expect(throws: TensorError.self) {
            try Array(frame.prefix(frame.count / 2)).withUnsafeBytes {
                try Zstd.decompress($0, expectedSize: data.count)
            }
        }
    }

    @Test func linkedLibrariesReportVersions() {
        #expect(LibraryVersions.hdf5.split(separator: ".").count == 3)
        #expect(Zstd.version.hasPrefix("1."))
        #expect(Blas.configuration.contains("OpenBLAS"))
    }
}
