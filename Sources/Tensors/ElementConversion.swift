/// Converts runs of elements between dtypes. Buffers may be unaligned (a view into a file
/// written by another tool), so every access is an unaligned load or store.
public enum ElementConversion {
    /// Converts `count` floating elements of `source` (dtype `from`) into `destination`
    /// (dtype `to`). Both dtypes must be floating point; same-type conversion is a copy.
    public static func convertFloats(
        _ source: UnsafeRawBufferPointer, from: DType,
        into destination: UnsafeMutableRawBufferPointer, to: DType, count: Int
    ) {
        precondition(from.isFloatingPoint && to.isFloatingPoint, "floating dtypes only")
        precondition(source.count >= count * from.size && destination.count >= count * to.size)
        if from == to {
            if count > 0 {
                destination.baseAddress!.copyMemory(
                    from: source.baseAddress!, byteCount: count * from.size)
            }
            return
        }
        switch (from, to) {
        case (.f64, .f32):
            for i in 0..<count {
                let v = source.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
                destination.storeBytes(of: Float(v), toByteOffset: i * 4, as: Float.self)
            }
        default:
            // Everything else goes through single precision, which holds every half and
            // bfloat16 exactly, so the only rounding is the final narrowing.
            for i in 0..<count {
                store(load(source, i, from), destination, i, to)
            }
        }
    }

    /// Reads element `index` of a buffer of `dtype` as `Float` (widening; f64, i32 and
    /// larger integers round to nearest). Opaque dtypes have no value and give NaN.
    @inlinable
    public static func load(_ buffer: UnsafeRawBufferPointer, _ index: Int, _ dtype: DType) -> Float {
        switch dtype {
        case .f32: return buffer.loadUnaligned(fromByteOffset: index * 4, as: Float.self)
        case .f16: return FloatBits.halfToFloat(buffer.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
        case .bf16: return FloatBits.bfloat16ToFloat(buffer.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
        case .f64: return Float(buffer.loadUnaligned(fromByteOffset: index * 8, as: Double.self))
        case .i64: return Float(buffer.loadUnaligned(fromByteOffset: index * 8, as: Int64.self))
        case .i32: return Float(buffer.loadUnaligned(fromByteOffset: index * 4, as: Int32.self))
        case .i16: return Float(buffer.loadUnaligned(fromByteOffset: index * 2, as: Int16.self))
        case .i8: return Float(buffer.loadUnaligned(fromByteOffset: index, as: Int8.self))
        case .u64: return Float(buffer.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
        case .u32: return Float(buffer.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
        case .u16: return Float(buffer.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
        case .u8: return Float(buffer[index])
        case .bool: return buffer[index] == 0 ? 0 : 1
        case .f8e4m3, .f8e5m2: return .nan
        }
    }

    /// Writes `value` as element `index` of a floating buffer of `dtype`, rounding to
    /// nearest even where the dtype is narrower than single precision.
    @inlinable
    public static func store(_ value: Float, _ buffer: UnsafeMutableRawBufferPointer, _ index: Int, _ dtype: DType) {
        switch dtype {
        case .f32: buffer.storeBytes(of: value, toByteOffset: index * 4, as: Float.self)
        case .f16: buffer.storeBytes(of: FloatBits.floatToHalf(value), toByteOffset: index * 2, as: UInt16.self)
        case .bf16: buffer.storeBytes(of: FloatBits.floatToBfloat16(value), toByteOffset: index * 2, as: UInt16.self)
        case .f64: buffer.storeBytes(of: Double(value), toByteOffset: index * 8, as: Double.self)
        default: preconditionFailure("store(\(dtype)): not a floating dtype")
        }
    }
}
