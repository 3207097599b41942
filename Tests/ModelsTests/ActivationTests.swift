import CActivations
import Foundation
import Testing

@testable import Models

/// The activations' exp and normal CDF / density (CActivations) against libm, over the range
/// activations take.
struct ActivationTests {
    @Test func expIsWithinAFewULPs() {
        let xs = stride(from: -8700, through: 8800, by: 7).map { Float($0) / 100 + 0.003 }
        var got = [Float](repeating: 0, count: xs.count)
        scalpel_exp(xs, &got, xs.count)
        let worst = zip(xs, got).map { x, y in abs(y - Foundation.exp(x)) / Foundation.exp(x) }.max() ?? 1
        #expect(worst < 3e-7, "largest relative error \(worst)")
        var edges = [Float](repeating: 1, count: 2)
        scalpel_exp([-200, 0], &edges, 2)
        #expect(edges[0] < 1e-37 && edges[1] == 1)
    }

    @Test func normalMatchesErfAndTheDensity() {
        let xs = stride(from: -1000, through: 1000, by: 3).map { Float($0) / 100 }
        var cdf = [Float](repeating: 0, count: xs.count)
        var pdf = cdf
        scalpel_normal(xs, &cdf, &pdf, xs.count)
        let root2 = Float(2).squareRoot()
        let root2pi: Float = (2 * Float.pi).squareRoot()
        let worstCDF = xs.indices.map { abs(cdf[$0] - 0.5 * (1 + Foundation.erf(xs[$0] / root2))) }.max() ?? 1
        let worstPDF = xs.indices.map { abs(pdf[$0] - Foundation.exp(-xs[$0] * xs[$0] / 2) / root2pi) }.max() ?? 1
        #expect(worstCDF < 2e-7 && worstPDF < 1e-7, "\(worstCDF) \(worstPDF)")
    }

    @Test func chunksOfAnyLengthAreHandled() {
        var values: [Float] = [-2, -1, 0, 1, 2]
        values.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: 5, into: $0.baseAddress!) }
        let root2 = Float(2).squareRoot()
        let want: [Float] = [-2, -1, 0, 1, 2].map { (x: Float) -> Float in x * 0.5 * (1 + Foundation.erf(x / root2)) }
        #expect(zip(values, want).allSatisfy { abs($0 - $1) < 1e-6 }, "\(values)")
    }

    /// In place and into another buffer are separate loops in C: the same bits from both, over
    /// a length that leaves a remainder after the vector lanes.
    @Test func inPlaceAndOutOfPlaceAgreeBitForBit() {
        let xs = (0..<10_007).map { Float($0 - 5000) / 617 }
        for kernel in [scalpel_gelu, scalpel_quick_gelu] {
            var out = [Float](repeating: .nan, count: xs.count)
            var inPlace = xs
            kernel(xs, &out, xs.count)
            inPlace.withUnsafeMutableBufferPointer { kernel($0.baseAddress!, $0.baseAddress!, $0.count) }
            #expect(out.map(\.bitPattern) == inPlace.map(\.bitPattern))
            #expect(out.allSatisfy { $0.isFinite })
        }
    }
}
