import CBLAS

/// Matrix products through OpenBLAS. Every matrix product in Scalpel's runtime goes through
/// here, so the thread count and the row-major convention are decided in one place.
public enum Blas {
    /// C = alpha · op(A) · op(B) + beta · C, all row-major single precision.
    /// op(A) is m×k, op(B) is k×n, C is m×n.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha,
            a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// Tells glibc to keep large blocks in its heap between allocations (see CBLAS/shim.h):
    /// for code that allocates the same large buffers over and over.
    public static func keepLargeAllocations() { scalpel_keep_large_allocations() }

    /// The number of threads OpenBLAS uses.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// OpenBLAS's build description (version, kernel, threading).
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }
}
