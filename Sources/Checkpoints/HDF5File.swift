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

    static func check(_ id: hid_t, _ path: String, _ what: @autoclosure () -> String) throws -> hid_t {
        guard id >= 0 else { throw CheckpointError(path, what()) }
        return id
    }

    static func check(_ status: herr_t, _ path: String, _ what: @autoclosure () -> String) throws {
        guard status >= 0 else { throw CheckpointError(path, what()) }
    }

    /// Runs `body` on the attribute `name` of `object` (its id, type and dataspace), if it has one.
    static func withAttribute<T>(_ object: hid_t, _ name: String, _ body: (hid_t, hid_t, hid_t) -> T?) -> T? {
        guard H5Aexists(object, name) > 0 else { return nil }
        let attribute = H5Aopen(object, name, scalpel_h5p_default())
        guard attribute >= 0 else { return nil }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        defer { H5Tclose(type) }
        let space = H5Aget_space(attribute)
        defer { H5Sclose(space) }
        guard H5Tget_class(type) == H5T_STRING else { return nil }
        return body(attribute, type, space)
    }

    /// A string attribute (fixed or variable length), if `object` has one named `name`.
    static func stringAttribute(_ object: hid_t, _ name: String) -> String? {
        withAttribute(object, name) { attribute, type, space in
            guard H5Sget_simple_extent_npoints(space) == 1 else { return nil }
            return readString(attribute, type)
        }
    }

    private static func readString(_ attribute: hid_t, _ type: hid_t) -> String? {
        if H5Tis_variable_str(type) > 0 {
            let memory = H5Tcopy(scalpel_c_s1())
            defer { H5Tclose(memory) }
            H5Tset_size(memory, scalpel_h5t_variable())
            H5Tset_cset(memory, H5T_CSET_UTF8)
            var pointer: UnsafeMutablePointer<CChar>?
            guard H5Aread(attribute, memory, &pointer) >= 0, let pointer else { return nil }
            defer { H5free_memory(pointer) }
            return String(cString: pointer)
        }
        let size = H5Tget_size(type)
        guard size > 0, size < 1 << 24 else { return nil }
        var buffer = [UInt8](repeating: 0, count: size + 1)
        guard H5Aread(attribute, type, &buffer) >= 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// A list of strings stored as one attribute (a fixed-length string array, as h5py writes
    /// NumPy byte strings),
    /// or, as Keras 2 splits long lists, as `name0`, `name1`, ... in order.
    static func stringListAttribute(_ object: hid_t, _ name: String) -> [String]? {
        if let whole = stringArray(object, name) { return whole }
        var parts: [String] = []
        var chunk = 0
        while let part = stringArray(object, "\(name)\(chunk)") {
            parts += part
            chunk += 1
        }
        return chunk == 0 ? nil : parts
    }

    private static func stringArray(_ object: hid_t, _ name: String) -> [String]? {
        withAttribute(object, name) { attribute, type, space in
            guard H5Tis_variable_str(type) <= 0 else { return nil }
            let count = Int(H5Sget_simple_extent_npoints(space)), size = H5Tget_size(type)
            guard count >= 0, count < 1 << 20, size > 0, size < 1 << 16 else { return nil }
            var buffer = [UInt8](repeating: 0, count: count * size)
            guard count > 0, H5Aread(attribute, type, &buffer) >= 0 else { return count == 0 ? [] : nil }
            return (0..<count).map { i in String(decoding: buffer[(i * size)..<((i + 1) * size)].prefix { $0 != 0 }, as: UTF8.self) }
        }
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
        let attribute = try check(H5Acreate2(object, name, type, space, scalpel_h5p_default(), scalpel_h5p_default()), path, "cannot write attribute \(name)")
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
