import Testing

@testable import Tensors

struct TensorStatisticsTests {
    static func floats(_ values: [Float]) -> TensorView {
        TensorView.make(dtype: .f32, shape: [values.count]) { buffer in
            values.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
    }

    @Test func statisticsMatchATwoPassComputationInDouble() throws {
        var state: UInt64 = 7
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        }
        var values = (0..<300_001).map { _ in next() * 3 + 0.5 }
        values[17] = .nan
        values[1000] = .infinity
        values[2000] = -.infinity
        let s = try #require(TensorStatistics.of(Self.floats(values)))
        let finite = values.filter(\.isFinite).map(Double.init)
        let mean = finite.reduce(0, +) / Double(finite.count)
        let std = (finite.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(finite.count)).squareRoot()
        #expect(s.count == values.count && s.nanCount == 1 && s.infinityCount == 2)
        #expect(s.minimum == finite.min() && s.maximum == finite.max())
        #expect(
            abs(s.mean - mean) < 1e-6 && abs(s.standardDeviation - std) < 1e-6,
            "\(s.mean) \(mean) \(s.standardDeviation) \(std)")
    }

    @Test func otherDTypesAndEdgeCases() throws {
        let half = TensorView.make(dtype: .f16, shape: [3]) { buffer in
            for (i, bits) in [UInt16(0x3C00), 0xC000, 0x7E00].enumerated() {
                buffer.storeBytes(of: bits, toByteOffset: i * 2, as: UInt16.self)
            }
        }
        let h = try #require(TensorStatistics.of(half))  // 1, -2, NaN
        #expect(h.minimum == -2 && h.maximum == 1 && h.mean == -0.5 && h.nanCount == 1)
        let ids = TensorView.make(dtype: .i64, shape: [2]) { buffer in
            buffer.storeBytes(of: Int64.max, toByteOffset: 0, as: Int64.self)
            buffer.storeBytes(of: Int64(-3), toByteOffset: 8, as: Int64.self)
        }
        #expect(try #require(TensorStatistics.of(ids)).minimum == -3)
        let empty = try #require(TensorStatistics.of(Self.floats([])))
        #expect(empty.count == 0 && empty.mean.isNaN)
        #expect(TensorStatistics.of(TensorView.make(dtype: .f8e4m3, shape: [1]) { _ in }) == nil)
    }
}
