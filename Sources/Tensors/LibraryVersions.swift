import CHDF5

/// Versions of the system libraries Scalpel is linked against, for `scalpel --version` and
/// bug reports.
public enum LibraryVersions {
    public static var hdf5: String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        guard H5get_libversion(&major, &minor, &release) >= 0 else { return "unknown" }
        return "\(major).\(minor).\(release)"
    }

    public static var summary: String {
        "OpenBLAS \(Blas.configuration); zstd \(Zstd.version); HDF5 \(hdf5)"
    }
}
