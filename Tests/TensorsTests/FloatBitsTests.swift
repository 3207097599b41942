import Testing

@testable import Tensors

/// Conversions are checked exhaustively against the platform's IEEE half type where it
/// exists, and against hand-computed bit patterns for bfloat16.
struct FloatBitsTests {
    @Test func halfWideningIsExactForEveryBitPattern() {
        for bits in 0...UInt16.max {
            let ours = FloatBits.halfToFloat(bits)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                #expect(ours.isNaN)
                // Payload kept: narrowing back gives the same half bits (quiet NaNs).
                if bits & 0x0200 != 0 { #expect(FloatBits.floatToHalf(ours) == bits) }
            } else {
                #expect(ours.bitPattern == reference.bitPattern, "half 0x\(String(bits, radix: 16))")
            }
        }
    }

    @Test func halfNarrowingRoundsToNearestEven() {
        // Every half value, every midpoint between neighbours, and points just beside them.
        var samples: [Float] = [
            65504, 65519.99, 65520, 65536, .infinity, -.infinity, 0, -0.0,
            .leastNonzeroMagnitude, 0x1p-25, 0x1.8p-25, 0x1p-24, 0x1.8p-24, 0x1p-14,
        ]
        for bits in stride(from: UInt16(0), to: 0x7C00, by: 1) {
            let low = FloatBits.halfToFloat(bits)
            let high = FloatBits.halfToFloat(bits + 1)
            let middle = (low + high) / 2
            samples += [low, middle, middle.nextUp, middle.nextDown, -middle]
        }
        for value in samples {
            let reference = Float16(value).bitPattern
            #expect(FloatBits.floatToHalf(value) == reference, "\(value)")
        }
    }

    @Test func halfNaNStaysNaNWithSignAndQuietBit() {
        let signalling = Float(bitPattern: 0xFF80_2000)  // negative NaN, payload in low bits
        let half = FloatBits.floatToHalf(signalling)
        #expect(half & 0x8000 != 0)
        #expect(half & 0x7C00 == 0x7C00 && half & 0x03FF != 0)
        #expect(half & 0x0200 != 0)
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(FloatBits.floatToBfloat16(1.0) == 0x3F80)
        #expect(FloatBits.floatToBfloat16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie, even stays
        #expect(FloatBits.floatToBfloat16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie, odd rounds up
        #expect(FloatBits.floatToBfloat16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(FloatBits.floatToBfloat16(.greatestFiniteMagnitude) == 0x7F80)  // overflows to inf
        #expect(FloatBits.floatToBfloat16(-0.0) == 0x8000)
        let nan = FloatBits.floatToBfloat16(Float(bitPattern: 0x7F80_0001))
        #expect(nan & 0x7F80 == 0x7F80 && nan & 0x007F != 0)
        for bits in 0...UInt16.max where bits & 0x7F80 != 0x7F80 {
            #expect(FloatBits.floatToBfloat16(FloatBits.bfloat16ToFloat(bits)) == bits)
        }
    }

    @Test func doubleNarrowingRounds() {
        let values: [Double] = [1.0 / 3.0, 1e300, -1e-300, 0.1]
        let source = values.withUnsafeBytes { Array($0) }
        var out = [UInt8](repeating: 0, count: values.count * 4)
        source.withUnsafeBytes { s in
            out.withUnsafeMutableBytes { d in
                ElementConversion.convertFloats(s, from: .f64, into: d, to: .f32, count: values.count)
            }
        }
        let floats = out.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(floats == values.map { Float($0) })
    }
}
