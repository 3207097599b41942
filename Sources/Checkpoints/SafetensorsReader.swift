import Tensors

/// Opens single safetensors files.
enum SafetensorsReader {
    static func open(_ path: String, fileIndex: Int = 0) throws -> Checkpoint {
        let (file, header) = try openFile(path, fileIndex: fileIndex)
        return try Checkpoint(
            path: path, format: .safetensors, metadata: header.metadata,
            tensors: header.tensors, files: [file])
    }

    /// Maps one safetensors file and validates its header.
    static func openFile(_ path: String, fileIndex: Int) throws -> (Checkpoint.File, SafetensorsHeader) {
        let mapping = try MappedFile(path: path)
        // Touch the header pages only: without this the kernel reads ahead megabytes of
        // tensor data that `inspect` never looks at.
        mapping.advise(.random)
        defer { mapping.advise(.normal) }
        let header = try SafetensorsHeader.parse(mapping.bytes, path: path, fileIndex: fileIndex)
        let file = Checkpoint.File(
            path: path, size: mapping.size, headerLength: header.headerLength,
            tensorCount: header.tensors.count, mapping: mapping)
        return (file, header)
    }
}
