/// Bit-level conversions between the floating formats Scalpel stores.
///
/// Widening (half and bfloat16 to single) is exact. Narrowing rounds to nearest, ties to even,
/// as IEEE 754 and PyTorch's `Tensor.to` do; overflow gives infinity; NaNs stay NaN with the
/// sign and the high payload bits kept and the quiet bit set. Written on the bits rather than
/// with `Float16` so that results do not depend on the platform's half support.
public enum FloatBits {
    // MARK: half (IEEE binary16)

    /// The single-precision value of the IEEE binary16 bits `h` (exact; NaN payloads kept).
    @inlinable
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F {  // infinity or NaN: keep the payload
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {  // zero or subnormal: mantissa × 2⁻²⁴ is exact in single precision
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// The IEEE binary16 bits nearest `value` (ties to even; overflow to infinity; subnormals kept).
    @inlinable
    public static func floatToHalf(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude > 0x7F80_0000 {  // NaN: quiet, keep the top payload bits
            return sign | 0x7E00 | UInt16((magnitude >> 13) & 0x3FF)
        }
        if magnitude >= 0x477F_F000 {  // ≥ 65520 rounds to infinity (ties to even)
            return sign | 0x7C00
        }
        if magnitude < 0x3880_0000 {  // below the smallest normal half, 2⁻¹⁴
            // Scaling by 2²⁴ is exact; rounding that to an integer is the subnormal mantissa
            // (1024 becomes the smallest normal, which is the right encoding).
            let scaled = Float(bitPattern: magnitude) * 0x1p24
            return sign | UInt16(scaled.rounded(.toNearestOrEven))
        }
        let exponent = (magnitude >> 23) - 112
        var half = (exponent << 10) | ((magnitude >> 13) & 0x3FF)
        let rest = magnitude & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half)
    }

    // MARK: bfloat16

    /// The single-precision value of the bfloat16 bits `b` (exact: they are the float's top 16 bits).
    @inlinable
    public static func bfloat16ToFloat(_ b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    /// The bfloat16 bits nearest `value` (ties to even; NaN stays a quiet NaN).
    @inlinable
    public static func floatToBfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 {  // NaN: truncate the payload, set the quiet bit
            return UInt16(bits >> 16) | 0x0040
        }
        let roundingBias = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ roundingBias) >> 16)
    }
}
