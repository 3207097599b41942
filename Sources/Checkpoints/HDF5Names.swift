/// Which names an HDF5 file stores exactly as given. A tensor's name is the path of its
/// dataset, and HDF5 reads paths: a leading `/` starts from the root, `//` and `.` segments
/// are collapsed away, a NUL ends the name. Such names would come back changed, so the
/// writer refuses them by name before writing anything. (`..` is an ordinary link name in
/// HDF5, and a space, a backslash or any UTF-8 are stored as given.)
enum HDF5Names {
    /// Why `name` cannot be a dataset path as given, or nil when it can.
    private static func datasetProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "an empty name is not a dataset path" }
        if bytes.contains(0) { return "it holds a NUL byte, which ends an HDF5 name" }
        if bytes.first == UInt8(ascii: "/") {
            return "it starts with \"/\", which HDF5 reads as the root (the name would lose it)"
        }
        if bytes.last == UInt8(ascii: "/") { return "it ends with \"/\", which HDF5 drops" }
        let segments = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if segments.contains(where: \.isEmpty) { return "it holds \"//\", which HDF5 reads as one \"/\"" }
        if segments.contains(where: { $0.elementsEqual([UInt8(ascii: ".")]) }) {
            return "it holds a \".\" segment, which HDF5 reads as the group itself"
        }
        return nil
    }

    /// Why `key` cannot be a root attribute's name as given, or nil when it can.
    private static func attributeProblem(_ key: String) -> String? {
        if key.utf8.isEmpty { return "HDF5 attributes need a name" }
        if key.utf8.contains(0) { return "it holds a NUL byte, which ends an HDF5 name" }
        return nil
    }

    /// Two names of which the first would have to be both a dataset and the group holding
    /// the second ("a" and "a/b"), or nil. Names compare as bytes.
    static func clash(_ names: [String]) -> (String, String)? {
        let all = Set(names.map { Array($0.utf8) })
        for name in names {
            var prefix: [UInt8] = []
            for byte in name.utf8.dropLast() {
                if byte == UInt8(ascii: "/"), all.contains(prefix) {
                    return (String(decoding: prefix, as: UTF8.self), name)
                }
                prefix.append(byte)
            }
        }
        return nil
    }

    /// Refuses, naming it, the first tensor or metadata key the file could not store as given.
    static func check(tensors: [String], metadata: [String], path: String) throws {
        var seen = Set<[UInt8]>()
        for name in tensors {
            if let problem = datasetProblem(name) {
                throw CheckpointError(
                    path,
                    """
                    tensor \"\(name)\" cannot be stored in HDF5 under that name: \(problem); rename it, or keep \
                    safetensors
                    """
                )
            }
            guard seen.insert(Array(name.utf8)).inserted else {
                throw CheckpointError(path, "tensor \"\(name)\" is given twice")
            }
        }
        if let (group, inside) = clash(tensors) {
            throw CheckpointError(
                path,
                """
                tensors \"\(group)\" and \"\(inside)\" cannot both be stored in HDF5: \"\(group)\" would have to \
                be a dataset and the group holding the other
                """
            )
        }
        for key in metadata {
            if let problem = attributeProblem(key) {
                throw CheckpointError(path, "metadata key \"\(key)\" cannot be an HDF5 attribute name: \(problem)")
            }
        }
    }
}
