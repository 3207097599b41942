import CHDF5
import Tensors

#if canImport(Glibc)
    import Glibc
#endif

/// Reads string attributes, each by its own type: fixed or variable length, ASCII or UTF-8,
/// null-terminated, null-padded or space-padded. A variable-length string is read with a
/// memory type of its own character set: HDF5 converts no character sets, so reading an
/// ASCII string as UTF-8 fails (and, in libhdf5 1.10, left later reads of the same kind
/// failing too). An attribute that is there but cannot be read is an error naming it, never
/// left out. Names are passed as bytes, as HDF5 stores them.
struct HDF5Attributes {
    let path: String
    /// The file's size: no attribute holds more bytes than that.
    let fileSize: Int
    /// Told what is read next (the reading process announces each attribute it reads).
    var announce: (String) -> Void = { _ in }

    /// The string attribute `name` of `object` (called `owner` in messages), or nil when
    /// there is none or it is not a single string (a number, a list). Throws when reading it fails.
    func string(_ object: hid_t, _ name: [UInt8], of owner: String) throws -> String? {
        try withStringAttribute(object, name, of: owner) { attribute, type, space in
            guard H5Sget_simple_extent_npoints(space) == 1 else { return nil }
            return try strings(attribute, type, space: space, count: 1, describing: describe(name, owner)).first
        }
    }

    /// A list of strings stored as one attribute (fixed- or variable-length strings), or nil.
    func list(_ object: hid_t, _ name: [UInt8], of owner: String) throws -> [String]? {
        try withStringAttribute(object, name, of: owner) { attribute, type, space in
            let count = H5Sget_simple_extent_npoints(space)
            guard count >= 0 else {
                throw CheckpointError(path, "cannot read the size of \(describe(name, owner)) (damaged file?)")
            }
            return try strings(attribute, type, space: space, count: Int(count), describing: describe(name, owner))
        }
    }

    /// Every single-string attribute of `object`, in name order (HDF5's name index).
    func all(_ object: hid_t, of owner: String) throws -> [(String, String)] {
        final class Names { var list: [[UInt8]] = [] }
        let names = Names()
        var index: hsize_t = 0
        let status = withUnsafeMutablePointer(to: &index) { indexPointer in
            H5Aiterate2(
                object, H5_INDEX_NAME, H5_ITER_INC, indexPointer,
                { _, name, _, context in
                    guard let name, let context else { return -1 }
                    let bytes = UnsafeRawPointer(name).assumingMemoryBound(to: UInt8.self)
                    Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().list.append(
                        Array(UnsafeBufferPointer(start: bytes, count: strlen(name))))
                    return 0
                }, Unmanaged.passUnretained(names).toOpaque())
        }
        guard status >= 0 else {
            throw CheckpointError(path, "cannot list the attributes of \"\(owner)\" (damaged file?)")
        }
        var out: [(String, String)] = []
        for name in names.list {
            if let value = try string(object, name, of: owner) {
                out.append((String(decoding: name, as: UTF8.self), value))
            }
        }
        return out
    }

    func describe(_ name: [UInt8], _ owner: String) -> String {
        "the attribute \"\(String(decoding: name, as: UTF8.self))\" of \"\(owner)\""
    }

    /// Runs `body` on the attribute's id, type and dataspace when it exists and holds strings.
    private func withStringAttribute<T>(
        _ object: hid_t, _ name: [UInt8], of owner: String,
        _ body: (hid_t, hid_t, hid_t) throws -> T?
    ) throws -> T? {
        announce("reading \(describe(name, owner))")
        let cName = name.map { CChar(bitPattern: $0) } + [0]
        let exists = H5Aexists(object, cName)
        guard exists >= 0 else {
            throw CheckpointError(path, "cannot look up \(describe(name, owner)) (damaged file?)")
        }
        guard exists > 0 else { return nil }
        let attribute = H5Aopen(object, cName, scalpel_h5p_default())
        guard attribute >= 0 else {
            throw CheckpointError(path, "cannot open \(describe(name, owner)) (damaged file?)")
        }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        guard type >= 0 else {
            throw CheckpointError(path, "cannot read the type of \(describe(name, owner)) (damaged file?)")
        }
        defer { H5Tclose(type) }
        let space = H5Aget_space(attribute)
        guard space >= 0 else {
            throw CheckpointError(path, "cannot read the dataspace of \(describe(name, owner)) (damaged file?)")
        }
        defer { H5Sclose(space) }
        guard H5Tget_class(type) == H5T_STRING else { return nil }
        return try body(attribute, type, space)
    }

    /// The `count` strings of an attribute of string type `type`.
    private func strings(_ attribute: hid_t, _ type: hid_t, space: hid_t, count: Int, describing what: String) throws
        -> [String]
    {
        guard count > 0 else { return [] }
        let cannot = CheckpointError(path, "cannot read \(what) (damaged file?)")
        if H5Tis_variable_str(type) > 0 {
            // Each string is a pointer HDF5 allocates; the count is bounded first, since a
            // string takes at least one byte of the file.
            guard count <= fileSize else { throw cannot }
            let memory = H5Tcopy(scalpel_c_s1())
            defer { H5Tclose(memory) }
            H5Tset_size(memory, scalpel_h5t_variable())
            H5Tset_cset(memory, H5Tget_cset(type))
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Aread(attribute, memory, &pointers) >= 0 else { throw cannot }
            defer { H5Dvlen_reclaim(memory, space, scalpel_h5p_default(), &pointers) }
            return pointers.map { pointer in pointer.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(type)
        let (total, overflow) = count.multipliedReportingOverflow(by: size)
        guard size > 0, !overflow, total <= fileSize else { throw cannot }
        var buffer = [UInt8](repeating: 0, count: total)
        guard H5Aread(attribute, type, &buffer) >= 0 else { throw cannot }
        let spacePadded = H5Tget_strpad(type) == H5T_STR_SPACEPAD
        return (0..<count).map { i in
            var text = buffer[(i * size)..<((i + 1) * size)].prefix { $0 != 0 }
            if spacePadded { while text.last == 0x20 { text.removeLast() } }
            return String(decoding: text, as: UTF8.self)
        }
    }
}
