import CHDF5
import Tensors

/// Writes HDF5 checkpoints. Rewriting an HDF5 source (apply, revert, convert .h5 → .h5)
/// starts from a byte copy of it and changes only what changed: the values of datasets
/// rewritten in place, datasets added or removed, root string attributes updated. Every other
/// group, attribute and layout detail (Keras's `layer_names`, `weight_names`, configs) stays
/// as it was, so the framework that wrote the file loads the result. From another format,
/// each tensor becomes a contiguous dataset at its name's path (groups made on the way).
public enum HDF5Writer {
    /// The metadata key the reader adds (the objects that are not tensors): a note, not an
    /// attribute, so it is never written back.
    static let notTensorsKey = "hdf5.not_tensors"

    private static func isNote(_ key: String) -> Bool { key.utf8.elementsEqual(notTensorsKey.utf8) }

    /// Writes `tensors` and `metadata` (root string attributes) to `path` atomically, from a
    /// copy of `base` when it is HDF5. Throws, before writing anything, for an F8 tensor or a
    /// name HDF5 would store changed (`HDF5Names`); and when libhdf5 fails.
    public static func write(
        _ tensors: [OutputTensor], metadata: [(String, String)], base: Checkpoint?, to path: String
    ) throws {
        for tensor in tensors where tensor.dtype == .f8e4m3 || tensor.dtype == .f8e5m2 {
            throw CheckpointError(
                path,
                """
                HDF5 output has no \(tensor.dtype.rawValue) type (\"\(tensor.name)\"): convert with --dtype, or \
                keep safetensors
                """,
                kind: .unsupported
            )
        }
        try HDF5Names.check(
            tensors: tensors.map(\.name), metadata: metadata.map(\.0).filter { !isNote($0) }, path: path)
        let file = try AtomicFile(path: path, named: true)
        defer { file.discard() }
        let source = base?.format == .hdf5 ? base : nil
        if let source, let original = source.files.first {
            try file.copy(
                from: original.mapping.fileDescriptor, offset: 0, count: original.size, fallback: original.mapping.bytes
            )
        }
        guard let temporaryPath = file.temporaryPath else { throw CheckpointError(path, "no temporary file to write") }
        try HDF5.locked {
            let handle =
                source == nil
                ? H5Fcreate(temporaryPath, scalpel_h5f_acc_trunc(), scalpel_h5p_default(), scalpel_h5p_default())
                : H5Fopen(temporaryPath, scalpel_h5f_acc_rdwr(), scalpel_h5p_default())
            let h5 = try HDF5.check(handle, path, "cannot create the HDF5 file")
            var closed = false
            defer { if !closed { H5Fclose(h5) } }
            // Names compare as bytes: two spellings of one Unicode name are two tensors.
            let wanted = Set(tensors.map { Array($0.name.utf8) })
            for entry in source?.tensors ?? [] where !wanted.contains(Array(entry.name.utf8)) {
                try HDF5.check(
                    H5Ldelete(h5, entry.name, scalpel_h5p_default()), path, "cannot remove dataset \(entry.name)")
            }
            for tensor in tensors {
                let view = try NumpyWriter.produce(tensor, path: path)
                if let source, let old = source.entry(named: tensor.name) {
                    if old.dtype == tensor.dtype, old.shape == tensor.shape {
                        let unchanged = view.withBytes { new in source.view(old).withBytes { $0.elementsEqual(new) } }
                        if !unchanged { try overwrite(h5, tensor.name, view, path: path) }
                        continue
                    }
                    try HDF5.check(
                        H5Ldelete(h5, tensor.name, scalpel_h5p_default()), path, "cannot replace dataset \(tensor.name)"
                    )
                }
                try create(h5, tensor.name, view, path: path)
            }
            let previous = Dictionary(
                (source?.metadata ?? []).map { (Array($0.0.utf8), $0.1) }, uniquingKeysWith: { a, _ in a })
            let next = Dictionary(metadata.map { (Array($0.0.utf8), $0.1) }, uniquingKeysWith: { _, b in b })
            for (key, _) in source?.metadata ?? [] where next[Array(key.utf8)] == nil && !isNote(key) {
                H5Adelete(h5, key)
            }
            for (key, value) in metadata where previous[Array(key.utf8)] != value && !isNote(key) {
                try HDF5.setStringAttribute(h5, key, value, path: path)
            }
            closed = true
            try HDF5.check(H5Fclose(h5), path, "cannot finish the HDF5 file")
        }
        try file.commit()
    }

    /// New values for an existing dataset of the same dtype and shape, converted by HDF5
    /// to whatever byte order and layout (chunks, compression) the dataset has.
    static func overwrite(_ file: hid_t, _ name: String, _ view: TensorView, path: String) throws {
        let dataset = try HDF5.check(H5Dopen2(file, name, scalpel_h5p_default()), path, "cannot open dataset \(name)")
        defer { H5Dclose(dataset) }
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        let attributes = HDF5Attributes(path: path, fileSize: Int.max)
        guard let (_, memoryType) = try HDF5Types.dtype(of: type, dataset: dataset, named: name, attributes: attributes)
        else {
            throw CheckpointError(path, "dataset \(name) changed type")
        }
        defer { if let memoryType, memoryType.owned { H5Tclose(memoryType.id) } }
        guard view.byteCount > 0 else { return }
        try view.withBytes { bytes in
            try HDF5.check(
                H5Dwrite(
                    dataset, memoryType?.id ?? type, scalpel_h5s_all(), scalpel_h5s_all(), scalpel_h5p_default(),
                    bytes.baseAddress),
                path, "cannot write dataset \(name)")
        }
    }

    /// A new contiguous dataset at `name`, with the groups on its path.
    static func create(_ file: hid_t, _ name: String, _ view: TensorView, path: String) throws {
        let (type, owned) = fileType(view.dtype)
        defer { if owned { H5Tclose(type) } }
        let dims = view.shape.map { hsize_t($0) }
        let space = view.shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        defer { H5Sclose(space) }
        let links = H5Pcreate(scalpel_h5p_link_create())
        defer { H5Pclose(links) }
        H5Pset_create_intermediate_group(links, 1)
        let dataset = try HDF5.check(
            H5Dcreate2(file, name, type, space, links, scalpel_h5p_default(), scalpel_h5p_default()),
            path, "cannot create dataset \(name) (a group or dataset of that name is in the way?)")
        defer { H5Dclose(dataset) }
        if view.dtype == .bf16 { try HDF5.setStringAttribute(dataset, "dtype", "bfloat16", path: path) }
        guard view.byteCount > 0 else { return }
        try view.withBytes { bytes in
            try HDF5.check(
                H5Dwrite(dataset, type, scalpel_h5s_all(), scalpel_h5s_all(), scalpel_h5p_default(), bytes.baseAddress),
                path, "cannot write dataset \(name)")
        }
    }

    /// The file type for `dtype`, little-endian; bool as h5py's enum, bfloat16 as Keras's
    /// 2-byte opaque type (with the dtype attribute).
    private static func fileType(_ dtype: DType) -> (hid_t, owned: Bool) {
        switch dtype {
        case .f64: return (scalpel_native_double(), false)
        case .f32: return (scalpel_native_float(), false)
        case .f16: return (scalpel_ieee_f16le(), true)
        case .bf16: return (H5Tcreate(H5T_OPAQUE, 2), true)
        case .i64: return (scalpel_native_int64(), false)
        case .i32: return (scalpel_native_int32(), false)
        case .i16: return (scalpel_native_int16(), false)
        case .i8: return (scalpel_native_int8(), false)
        case .u64: return (scalpel_native_uint64(), false)
        case .u32: return (scalpel_native_uint32(), false)
        case .u16: return (scalpel_native_uint16(), false)
        case .u8: return (scalpel_native_uint8(), false)
        case .bool:
            let type = H5Tenum_create(scalpel_native_int8())
            var no: Int8 = 0
            var yes: Int8 = 1
            H5Tenum_insert(type, "FALSE", &no)
            H5Tenum_insert(type, "TRUE", &yes)
            return (type, true)
        case .f8e4m3, .f8e5m2: preconditionFailure("refused before")
        }
    }
}
