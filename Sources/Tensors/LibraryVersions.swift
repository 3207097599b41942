import CHDF5

/// Versions of the system libraries Scalpel is linked against, for `scalpel --version` and
/// bug reports.
public enum LibraryVersions {
    /// The HDF5 version of the headers Scalpel was built with. Asking the library instead
    /// (H5get_libversion) would initialise it outside the lock that serialises every other
    /// HDF5 call (Debian's HDF5 is not thread-safe), which could corrupt its global state.
    public static var hdf5: String {
        "\(H5_VERS_MAJOR).\(H5_VERS_MINOR).\(H5_VERS_RELEASE)"
    }

    /// One line naming the OpenBLAS configuration and the zstd and HDF5 versions.
    public static var summary: String {
        "OpenBLAS \(Blas.configuration); zstd \(Zstd.version); HDF5 \(hdf5)"
    }
}
