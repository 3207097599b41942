import CHDF5
import Tensors

#if canImport(Glibc)
    import Glibc
#endif

/// Opens HDF5 files as checkpoints: every numeric dataset is a tensor named by its path
/// (`layers/dense/vars/0` in a Keras 3 `.weights.h5`, `model_weights/dense/dense/kernel:0` in
/// a Keras 2 `.h5`). Contiguous, unfiltered little-endian datasets are viewed in place;
/// chunked, compressed, compact or big-endian ones are read into memory when opened. String
/// attributes of the root group are the checkpoint's metadata.
///
/// libhdf5 crashes, loops or allocates without bound on some malformed files, so it reads
/// the file in a forked process (`HDF5Walk` in `IsolatedProcess`) and this process never
/// calls it for reading: a crash or a hang there is an error naming the file and the object
/// being read, and this process keeps running.
enum HDF5Reader {
    /// Seconds the reading process may go without reporting before it is taken to hang: 120,
    /// or SCALPEL_HDF5_SILENCE_SECONDS (the fuzzer sets it below its own time limit for one
    /// input). Each dataset read reports, so this bounds one libhdf5 call, not the whole file.
    /// `setting` is the variable's value (nil when unset). Throws `CheckpointError` naming
    /// `path` when it is not a whole number of seconds from 1 to 86,400.
    static func silenceLimit(_ setting: String?, reading path: String) throws -> Int {
        guard let text = setting else { return 120 }
        guard let seconds = Int(text), (1...86_400).contains(seconds) else {
            throw CheckpointError(
                path, "\(silenceVariable)=\(DisplayText.escaped(text)) is not a whole number of seconds from 1 to 86400"
            )
        }
        return seconds
    }

    static let silenceVariable = "SCALPEL_HDF5_SILENCE_SECONDS"

    /// Opens `path`. Throws `CheckpointError` naming the file for a file libhdf5 cannot open,
    /// a damaged or truncated one, one whose datasets declare more than it stores, and when
    /// libhdf5 crashes or hangs on it.
    static func open(_ path: String) throws -> Checkpoint {
        let mapping = try MappedFile(path: path)
        let fileSize = mapping.bytes.count
        var found = Found(path: path)
        do {
            try IsolatedProcess.run(
                silence: try silenceLimit(getenv(silenceVariable).map { String(cString: $0) }, reading: path),
                memory: HDF5Walk.workingMemory, fork: HDF5.forkLocked,
                child: { channel in
                    var walk = HDF5Walk(path: path, fileSize: fileSize, channel: channel)
                    try walk.run()
                }, receive: { kind, payload in try found.take(kind, payload) })
        } catch let failure as IsolatedProcess.Failure {
            throw CheckpointError(path, Self.describe(failure))
        }
        var metadata = found.metadata
        if !found.skipped.isEmpty {
            metadata.append((HDF5Writer.notTensorsKey, found.skipped.joined(separator: ", ")))
        }
        let fileInfo = Checkpoint.File(
            path: path, size: fileSize, headerLength: 0, tensorCount: found.tensors.count, mapping: mapping)
        return try Checkpoint(
            path: path, format: .hdf5, metadata: metadata, tensors: found.tensors, files: [fileInfo],
            decoded: found.decoded)
    }

    /// One line for a reading process that did not finish.
    static func describe(_ failure: IsolatedProcess.Failure) -> String {
        switch failure.kind {
        case .failed(let message): return message
        case .crashed, .exited:
            return
                """
                libhdf5 \(failure.summary) while \(failure.step): the file is damaged (it was read in a separate \
                process, which alone stopped)
                """
        case .silent:
            return
                """
                libhdf5 \(failure.summary) while \(failure.step): the file is damaged or its structure loops (the \
                reading process was stopped)
                """
        }
    }

    /// What the reading process reported.
    struct Found {
        let path: String
        var tensors: [TensorEntry] = []
        var decoded = NameMap<TensorView>()  // by name bytes
        var metadata: [(String, String)] = []
        var skipped: [String] = []
        /// The tensor whose bytes come in the next message.
        var awaiting: HDF5Message.Tensor?

        mutating func take(_ kind: UInt8, _ payload: ByteBuffer) throws {
            let bytes = UnsafeRawBufferPointer(payload.bytes)
            if let tensor = awaiting {
                guard kind == HDF5Message.data, bytes.count == tensor.byteCount else {
                    throw CheckpointError(path, "the HDF5 reading process sent no data for \"\(tensor.name)\"")
                }
                decoded[tensor.name] = TensorView(
                    dtype: tensor.dtype, shape: tensor.shape, bytes: bytes, owner: payload)
                awaiting = nil
                return
            }
            switch kind {
            case HDF5Message.metadata:
                var reader = HDF5Message.Reader(bytes: bytes)
                metadata.append((try reader.string(), try reader.string()))
            case HDF5Message.skipped:
                skipped.append(String(decoding: bytes, as: UTF8.self))
            case HDF5Message.tensor:
                let tensor = try HDF5Message.decodeTensor(bytes)
                tensors.append(
                    TensorEntry(
                        name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, fileIndex: 0,
                        offset: tensor.offset, byteCount: tensor.byteCount))
                switch tensor.placement {
                case .inPlace: break
                case .empty: decoded[tensor.name] = TensorView.make(dtype: tensor.dtype, shape: tensor.shape) { _ in }
                case .decoded: awaiting = tensor
                }
            case HDF5Message.order:
                var reader = HDF5Message.Reader(bytes: bytes)
                let indices = try (0..<(bytes.count / 8)).map { _ in try reader.int() }
                guard indices.sorted() == Array(tensors.indices) else {
                    throw CheckpointError(path, "the HDF5 reading process sent a damaged order")
                }
                tensors = indices.map { tensors[$0] }
            default:
                throw CheckpointError(path, "the HDF5 reading process sent an unknown message (\(kind))")
            }
        }
    }
}
