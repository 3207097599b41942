import Foundation
import Testing
@testable import Models

/// The vector exp and normal CDF / density against libm, over the range activations take.
struct VectorMathTests {
    @Test func expIsWithinAFewULPs() {
        var worst: Float = 0
        for i in stride(from: -8700, through: 8800, by: 7) {
            let x = Float(i) / 100 + 0.003
            let got = VectorMath.exp(SIMD8(repeating: x))[3], want = Foundation.exp(x)
            worst = max(worst, abs(got - want) / want)
        }
        #expect(worst < 3e-7, "largest relative error \(worst)")
        #expect(VectorMath.exp(SIMD8(repeating: -200))[0] < 1e-37 && VectorMath.exp(SIMD8(repeating: 0))[0] == 1)
    }

    @Test func normalMatchesErfAndTheDensity() {
        var worstCDF: Float = 0, worstPDF: Float = 0
        for i in stride(from: -1000, through: 1000, by: 3) {
            let x = Float(i) / 100
            let (cdf, pdf) = VectorMath.normal(SIMD8(repeating: x))
            let root2 = Float(2).squareRoot(), root2pi: Float = (2 * Float.pi).squareRoot()
            let wantCDF: Float = 0.5 * (1 + Foundation.erf(x / root2)), wantPDF: Float = Foundation.exp(-x * x / 2) / root2pi
            worstCDF = max(worstCDF, abs(cdf[5] - wantCDF))
            worstPDF = max(worstPDF, abs(pdf[5] - wantPDF))
        }
        #expect(worstCDF < 2e-7 && worstPDF < 1e-7, "\(worstCDF) \(worstPDF)")
    }

    @Test func tailsShorterThanAVectorAreHandled() {
        var values: [Float] = [-2, -1, 0, 1, 2]
        values.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: 5) }
        let root2 = Float(2).squareRoot()
        let want: [Float] = [-2, -1, 0, 1, 2].map { (x: Float) -> Float in x * 0.5 * (1 + Foundation.erf(x / root2)) }
        #expect(zip(values, want).allSatisfy { abs($0 - $1) < 1e-6 }, "\(values)")
    }
}
