import Foundation
import Tensors

/// Writes NumPy checkpoints: an `.npz` archive of stored `.npy` members (what `np.savez`
/// writes; zip64 where a member or offset needs it), or a single `.npy` array. Arrays are
/// C order, little-endian. NumPy has no bfloat16 or float8: such tensors are refused (convert
/// them with `--dtype f32` first). The file is written atomically, one tensor at a time.
public enum NumpyWriter {
    /// Writes `tensors` to `path` as an `.npz` archive, one stored `NAME.npy` member each (NEP 1's `.npy` format,
    /// version 1.0, or 2.0 when the header needs it), through `AtomicFile`.
    /// - Throws: `CheckpointError`: `.unsupported` for a dtype NumPy lacks (BF16, float8); a name that cannot be a
    ///   member name; a produced tensor that does not match its declared dtype and shape; or the write's failures.
    public static func writeNpz(_ tensors: [OutputTensor], to path: String) throws {
        try checkDTypes(tensors, path: path)
        let file = try AtomicFile(path: path)
        defer { file.discard() }
        var zip = ZipWriter(file: file)
        for tensor in tensors {
            let view = try produce(tensor, path: path)
            let header = NumpyHeader.encode(dtype: tensor.dtype, shape: tensor.shape)
            let crc = view.withBytes { Deflate.crc32($0, continuing: Deflate.crc32(header.withUnsafeBytes { $0 })) }
            try zip.add(tensor.name + ".npy", size: header.count + view.byteCount, crc: crc) {
                try file.write(header)
                try write(view, to: file)
            }
        }
        try zip.finish()
        try file.commit()
    }

    /// A tensor's bytes, copied kernel-side when they lie in a file.
    static func write(_ view: TensorView, to file: AtomicFile) throws {
        if let range = view.fileRange {
            try file.copy(from: range.fileDescriptor, offset: range.offset, count: view.byteCount, fallback: view.bytes)
        } else {
            try view.withBytes { try file.write($0) }
        }
    }

    /// Writes the one tensor of `tensors` to `path` as an `.npy` file (NEP 1), through `AtomicFile`.
    /// - Throws: `CheckpointError` when `tensors` does not hold exactly one tensor, and as `writeNpz` does.
    public static func writeNpy(_ tensors: [OutputTensor], to path: String) throws {
        guard tensors.count == 1, let tensor = tensors.first else {
            throw CheckpointError(
                path, "an .npy file holds one array and this model has \(tensors.count) tensors: write an .npz instead")
        }
        try checkDTypes(tensors, path: path)
        let file = try AtomicFile(path: path)
        defer { file.discard() }
        let view = try produce(tensor, path: path)
        try file.write(NumpyHeader.encode(dtype: tensor.dtype, shape: tensor.shape))
        try view.withBytes { try file.write($0) }
        try file.commit()
    }

    private static func checkDTypes(_ tensors: [OutputTensor], path: String) throws {
        let unsupported = tensors.filter { !NumpyHeader.supports($0.dtype) }
        if let first = unsupported.first {
            throw CheckpointError(
                path,
                """
                NumPy has no \(first.dtype.rawValue): \(unsupported.count) \
                tensor\(unsupported.count == 1 ? "" : "s") \
                (\"\(first.name)\"\(unsupported.count > 1 ? ", ..." : "")) cannot be written to .npz/.npy; \
                convert them with --dtype f32 or f16, or keep safetensors
                """,
                kind: .unsupported
            )
        }
        for tensor in tensors
        where tensor.name.isEmpty || tensor.name.hasPrefix("/") || tensor.name.split(separator: "/").contains("..") {
            throw CheckpointError(path, "tensor name \"\(tensor.name)\" cannot be an .npz member name")
        }
    }

    static func produce(_ tensor: OutputTensor, path: String) throws -> TensorView {
        let view = try tensor.produce()
        guard view.dtype == tensor.dtype, view.shape == tensor.shape, view.byteCount == tensor.byteCount else {
            throw CheckpointError(
                path,
                """
                tensor \"\(tensor.name)\": produced \(view.dtype.rawValue) \(Shape.describe(view.shape)), \
                expected \(tensor.dtype.rawValue) \(Shape.describe(tensor.shape))
                """
            )
        }
        WorkProgress.add(view.byteCount)
        return view
    }
}

/// Little-endian fields of zip records.
struct ZipBytes {
    var bytes: [UInt8] = []
    mutating func u16(_ value: Int) { for i in 0..<2 { bytes.append(UInt8((value >> (8 * i)) & 0xFF)) } }
    mutating func u32(_ value: Int) { for i in 0..<4 { bytes.append(UInt8((value >> (8 * i)) & 0xFF)) } }
    mutating func u32(_ value: UInt32) { u32(Int(value)) }
    mutating func u64(_ value: Int) { for i in 0..<8 { bytes.append(UInt8((value >> (8 * i)) & 0xFF)) } }
}

/// Writes a checkpoint in a given format.
public enum CheckpointWriter {
    /// The format an output path's extension names, if it names one Scalpel writes.
    public static func format(forOutput path: String) -> CheckpointFormat? {
        let lower = path.lowercased()
        if lower.hasSuffix(".safetensors") { return .safetensors }
        if lower.hasSuffix(".npz") { return .npz }
        if lower.hasSuffix(".npy") { return .numpy }
        if lower.hasSuffix(".gguf") { return .gguf }
        if lower.hasSuffix(".bin") || lower.hasSuffix(".pt") || lower.hasSuffix(".pth") { return .pytorch }
        if lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") || lower.hasSuffix(".keras.h5") { return .hdf5 }
        return nil
    }

    /// Writes `tensors` to `path` in `format` with that format's writer, after checking the disk has room.
    /// `headerRoom` applies to safetensors; NumPy files have no metadata; `extras` carries a
    /// GGUF source's metadata pairs over; an HDF5 `base` is the file an HDF5 output starts from.
    /// - Throws: `CheckpointError`: `.unsupported` for a format Scalpel does not write (a plain zip, a legacy
    ///   pickle); `.cannotWrite` when the disk lacks the space; and the chosen writer's errors.
    public static func write(
        _ tensors: [OutputTensor], metadata: [(String, String)], format: CheckpointFormat,
        extras: FormatExtras? = nil, base: Checkpoint? = nil, to path: String, headerRoom: Int = 0
    ) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try DiskSpace.require(tensors.reduce(0) { $0 + $1.byteCount }, in: folder, for: path)
        switch format {
        case .hdf5: try HDF5Writer.write(tensors, metadata: metadata, base: base, to: path)
        case .pytorch, .pytorchIndex: try PyTorchWriter.write(tensors, extras: extras, to: path)
        case .gguf: try GGUFWriter.write(tensors, metadata: metadata, extras: extras, to: path)
        case .safetensors, .safetensorsIndex:
            try SafetensorsWriter.write(tensors, metadata: metadata, to: path, headerRoom: headerRoom)
        case .npz: try NumpyWriter.writeNpz(tensors, to: path)
        case .numpy: try NumpyWriter.writeNpy(tensors, to: path)
        case .zipArchive, .pytorchLegacy:
            throw CheckpointError(
                path,
                """
                writing \(format.displayName) files is not supported by this version; write safetensors or NumPy \
                (.npz)
                """,
                kind: .unsupported
            )
        }
    }
}
