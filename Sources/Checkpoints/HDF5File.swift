import CHDF5
import Tensors

/// A thin, checked layer over the HDF5 C library: errors become `CheckpointError`s naming the
/// file. Every use goes through one lock (HDF5 keeps global state; Debian's build serialises
/// its calls itself, others may not).
enum HDF5 {
    private static let lock = NSLockShim()

    /// Runs `body`, which calls HDF5, under the lock and with HDF5's printing of its error
    /// stack turned off: Scalpel reports errors itself. The setting is per thread in a
    /// thread-safe build (Debian's is one), so it is made on every thread that calls in.
    static func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = quietAtExit
        scalpel_h5_quiet()
        return try body()
    }

    /// At exit HDF5 closes itself on the exiting thread, and after a malformed file it cannot
    /// free everything and prints "HDF5: infinite loop closing library" (its own known issue;
    /// Scalpel has reported the file by then). A handler registered after the library has
    /// started runs before HDF5's and silences that thread too.
    private static let quietAtExit: Void = {
        scalpel_h5_quiet()  // starts the library, which registers its exit handler first
        atexit { scalpel_h5_quiet() }
    }()

    /// Forks under the lock, so that no other thread is inside libhdf5 while the child's copy
    /// of it is made (its state would be caught half-changed). The parent releases the lock
    /// at once; the child's copy of the lock stays held, so the child calls libhdf5 directly
    /// and never through `locked` (see `IsolatedProcess`).
    static func forkLocked() -> pid_t {
        lock.lock()
        _ = quietAtExit
        let pid = fork()
        if pid == 0 {
            scalpel_h5_quiet()
        } else {
            lock.unlock()
        }
        return pid
    }

    static func check(_ id: hid_t, _ path: String, _ what: @autoclosure () -> String) throws -> hid_t {
        guard id >= 0 else { throw CheckpointError(path, what()) }
        return id
    }

    static func check(_ status: herr_t, _ path: String, _ what: @autoclosure () -> String) throws {
        guard status >= 0 else { throw CheckpointError(path, what()) }
    }

    /// Writes (or replaces) a variable-length UTF-8 string attribute, the kind h5py writes for
    /// a Python `str` (and reads back as one: Keras compares `attrs["dtype"] == "bfloat16"`).
    static func setStringAttribute(_ object: hid_t, _ name: String, _ value: String, path: String) throws {
        if H5Aexists(object, name) > 0 { H5Adelete(object, name) }
        let type = H5Tcopy(scalpel_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, scalpel_h5t_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let attribute = try check(
            H5Acreate2(object, name, type, space, scalpel_h5p_default(), scalpel_h5p_default()), path,
            "cannot write attribute \(name)")
        defer { H5Aclose(attribute) }
        try value.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            try check(H5Awrite(attribute, type, &pointer), path, "cannot write attribute \(name)")
        }
    }
}

/// A plain mutex (Foundation's NSLock without importing Foundation into this file).
final class NSLockShim: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
}

#if canImport(Glibc)
    import Glibc
#endif
