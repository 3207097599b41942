import CHDF5
import Tensors

/// How HDF5 datatypes map onto dtypes, both ways.
enum HDF5Types {
    /// A memory type to read into, and whether the caller must close it.
    struct MemoryType: Equatable {
        let id: hid_t
        let owned: Bool
    }

    /// The dtype a dataset of `type` holds, and the memory type that reads it as little-endian
    /// bytes (nil: read with the file type itself). bfloat16 is a 2-byte integer or opaque
    /// dataset with the attribute dtype = "bfloat16", as Keras 3 writes it. Throws when that
    /// attribute is there but cannot be read.
    static func dtype(of type: hid_t, dataset: hid_t, named name: String, attributes: HDF5Attributes) throws -> (
        DType, MemoryType?
    )? {
        let size = H5Tget_size(type)
        let native = { (id: hid_t) in MemoryType(id: id, owned: false) }
        let isBfloat16 = try size == 2 && attributes.string(dataset, Array("dtype".utf8), of: name) == "bfloat16"
        switch H5Tget_class(type) {
        case H5T_FLOAT:
            switch size {
            case 8: return (.f64, native(scalpel_native_double()))
            case 4: return (.f32, native(scalpel_native_float()))
            case 2:
                var spos = 0
                var epos = 0
                var esize = 0
                var mpos = 0
                var msize = 0
                H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize)
                if (epos, esize, mpos, msize) == (10, 5, 0, 10) {
                    return (.f16, MemoryType(id: scalpel_ieee_f16le(), owned: true))
                }
                if (epos, esize, mpos, msize) == (7, 8, 0, 7) { return (.bf16, nil) }
                return nil
            default: return nil
            }
        case H5T_INTEGER:
            if isBfloat16 { return (.bf16, native(scalpel_native_uint16())) }
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch (size, signed) {
            case (8, true): return (.i64, native(scalpel_native_int64()))
            case (4, true): return (.i32, native(scalpel_native_int32()))
            case (2, true): return (.i16, native(scalpel_native_int16()))
            case (1, true): return (.i8, native(scalpel_native_int8()))
            case (8, false): return (.u64, native(scalpel_native_uint64()))
            case (4, false): return (.u32, native(scalpel_native_uint32()))
            case (2, false): return (.u16, native(scalpel_native_uint16()))
            case (1, false): return (.u8, native(scalpel_native_uint8()))
            default: return nil
            }
        case H5T_ENUM:
            // h5py's bool: an 8-bit enum {FALSE: 0, TRUE: 1}.
            guard size == 1, H5Tget_nmembers(type) == 2 else { return nil }
            let names = (0..<2).map { index -> String in
                guard let pointer = H5Tget_member_name(type, UInt32(index)) else { return "" }
                defer { H5free_memory(pointer) }
                return String(cString: pointer)
            }
            return names == ["FALSE", "TRUE"] ? (.bool, nil) : nil
        case H5T_OPAQUE:
            return isBfloat16 ? (.bf16, nil) : nil
        default:
            return nil
        }
    }
}
