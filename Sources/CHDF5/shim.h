// The Debian serial HDF5 headers live in include/hdf5/serial; pkg-config adds that folder and
// the library to link (hdf5 or hdf5_serial), so no `link` line is hard-coded in the module map.
#include <hdf5.h>

// HDF5's constants are macros that expand to globals behind H5open() and casts, which Swift
// cannot import; these functions hand them over. The link-type helper hides the struct
// version difference between HDF5 1.10 (H5L_info_t) and 1.12+ (H5L_info2_t).
static inline hid_t scalpel_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t scalpel_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t scalpel_h5s_all(void) { return H5S_ALL; }
static inline unsigned scalpel_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned scalpel_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned scalpel_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline hid_t scalpel_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t scalpel_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t scalpel_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t scalpel_native_int16(void) { return H5T_NATIVE_INT16; }
static inline hid_t scalpel_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t scalpel_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t scalpel_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t scalpel_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t scalpel_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t scalpel_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t scalpel_ieee_f16le(void) {
    // IEEE half precision, little-endian: built from a float type, as h5py does.
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}
static inline hid_t scalpel_c_s1(void) { return H5T_C_S1; }
static inline size_t scalpel_h5t_variable(void) { return H5T_VARIABLE; }
static inline void scalpel_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
/// 0 hard, 1 soft, 64 external, -1 on failure.
static inline int scalpel_link_type(hid_t group, const char *name) {
    H5L_info_t info;
    if (H5Lget_info(group, name, &info, H5P_DEFAULT) < 0) return -1;
    return (int)info.type;
}
