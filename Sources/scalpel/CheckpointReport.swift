import Checkpoints
import Dispatch
import Foundation
import Tensors

/// What `inspect` prints, as text for people and JSON for programs.
enum CheckpointReport {
    private static func dtypeCounts(_ checkpoint: Checkpoint) -> [(DType, tensors: Int, parameters: Int)] {
        var order: [DType] = []
        var counts: [DType: (Int, Int)] = [:]
        for tensor in checkpoint.tensors {
            if counts[tensor.dtype] == nil { order.append(tensor.dtype) }
            let (t, p) = counts[tensor.dtype] ?? (0, 0)
            counts[tensor.dtype] = (t + 1, p + tensor.elementCount)
        }
        return order.map { ($0, counts[$0]!.0, counts[$0]!.1) }
    }

    /// Every tensor's statistics, computed two tensors at a time (one per core), each
    /// tensor's pages released once read so memory stays bounded.
    static func statistics(_ checkpoint: Checkpoint) -> [TensorStatistics?] {
        let results = StatisticsSlots(count: checkpoint.tensors.count)
        checkpoint.expectSequentialReads()
        DispatchQueue.concurrentPerform(iterations: checkpoint.tensors.count) { i in
            let entry = checkpoint.tensors[i]
            results.set(i, TensorStatistics.of(checkpoint.view(entry)))
            checkpoint.releasePages(of: entry)
            WorkProgress.add(entry.byteCount)
        }
        return results.values
    }

    static func text(_ checkpoint: Checkpoint, listTensors: Bool, statistics: [TensorStatistics?]? = nil) -> String {
        // Names, metadata and shard paths come from the file: shown escaped (`DisplayText`),
        // here and in the table (`Format.table`).
        var out = "\(DisplayText.escaped(checkpoint.path))\n"
        var rows: [(String, String)] = [
            ("format", checkpoint.format.displayName),
            ("tensors", Format.count(checkpoint.tensors.count)),
            ("parameters", "\(Format.count(checkpoint.parameterCount)) (\(Format.scaled(checkpoint.parameterCount)))"),
            ("tensor bytes", Format.bytes(checkpoint.tensorByteCount)),
            ("file bytes", Format.bytes(checkpoint.fileByteCount)),
            (
                "dtypes",
                dtypeCounts(checkpoint).map {
                    "\($0.0.rawValue) ×\($0.tensors) (\(Format.scaled($0.parameters)) parameters)"
                }.joined(separator: ", ")
            ),
        ]
        if !checkpoint.opaqueTensors.isEmpty {
            rows.append(
                (
                    "quantized",
                    """
                    \(Format.plural(checkpoint.opaqueTensors.count, "tensor")) \
                    (\(Format.bytes(checkpoint.opaqueTensors.reduce(0) { $0 + $1.byteCount }))), listed, not \
                    computed on
                    """
                ))
        }
        for (key, value) in checkpoint.metadata { rows.append(("metadata", "\(key) = \(value)")) }
        for (key, value) in checkpoint.indexMetadata { rows.append(("index metadata", "\(key) = \(value)")) }
        if checkpoint.format == .safetensorsIndex || checkpoint.format == .pytorchIndex {
            for file in checkpoint.files {
                rows.append(
                    ("shard", "\(file.path)  \(Format.plural(file.tensorCount, "tensor")), \(Format.bytes(file.size))"))
            }
        }
        let keyWidth = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows { out += "  " + key.padding(keyWidth) + "  " + DisplayText.escaped(value) + "\n" }
        guard listTensors, !checkpoint.tensors.isEmpty || !checkpoint.opaqueTensors.isEmpty else { return out }
        out += "\n"
        var table: [[String]] = [
            ["name", "dtype", "shape", "bytes"]
                + (statistics == nil ? [] : ["min", "max", "mean", "std", "NaN", "inf"])
        ]
        table += checkpoint.tensors.enumerated().map { i, entry in
            var row = [entry.name, entry.dtype.rawValue, Shape.describe(entry.shape), Format.bytes(entry.byteCount)]
            if let statistics {
                if let s = statistics[i], s.finiteCount > 0 {
                    row +=
                        [s.minimum, s.maximum, s.mean, s.standardDeviation].map { String(format: "%.4g", $0) } + [
                            Format.count(s.nanCount), Format.count(s.infinityCount),
                        ]
                } else if let s = statistics[i] {
                    row += ["", "", "", "", Format.count(s.nanCount), Format.count(s.infinityCount)]
                } else {
                    row += ["(opaque)", "", "", "", "", ""]
                }
            }
            return row
        }
        table += checkpoint.opaqueTensors.map {
            [$0.name, $0.typeName, Shape.describe($0.shape), Format.bytes($0.byteCount)]
        }
        out += Format.table(table, rightAligned: statistics == nil ? [3] : [3, 4, 5, 6, 7, 8, 9])
        return out
    }

    static func json(_ checkpoint: Checkpoint, statistics: [TensorStatistics?]? = nil) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("model", .string(checkpoint.path)),
            ("format", .string(checkpoint.format.rawValue)),
            ("tensor_count", .integer(checkpoint.tensors.count)),
            ("parameter_count", .integer(checkpoint.parameterCount)),
            ("tensor_bytes", .integer(checkpoint.tensorByteCount)),
            ("file_bytes", .integer(checkpoint.fileByteCount)),
            (
                "dtypes",
                .object(
                    dtypeCounts(checkpoint).map {
                        (
                            $0.0.rawValue,
                            .object([("tensors", .integer($0.tensors)), ("parameters", .integer($0.parameters))])
                        )
                    })
            ),
            ("metadata", .object(checkpoint.metadata.map { ($0.0, .string($0.1)) })),
        ]
        if checkpoint.format == .safetensorsIndex || checkpoint.format == .pytorchIndex {
            members.append(("index_metadata", .object(checkpoint.indexMetadata.map { ($0.0, .string($0.1)) })))
            members.append(
                (
                    "shards",
                    .array(
                        checkpoint.files.map {
                            .object([
                                ("path", .string($0.path)), ("tensor_count", .integer($0.tensorCount)),
                                ("bytes", .integer($0.size)),
                            ])
                        })
                ))
        }
        members.append(
            (
                "tensors",
                .array(
                    checkpoint.tensors.enumerated().map { i, tensor in
                        var fields: [(String, JSONValue)] = [
                            ("name", .string(tensor.name)),
                            ("dtype", .string(tensor.dtype.rawValue)),
                            ("shape", .array(tensor.shape.map { .integer($0) })),
                            ("bytes", .integer(tensor.byteCount)),
                        ]
                        if checkpoint.files.count > 1 { fields.append(("shard", .integer(tensor.fileIndex))) }
                        if let s = statistics?[i] {
                            func number(_ x: Double) -> JSONValue { x.isFinite ? .number(x) : .null }
                            fields.append(
                                (
                                    "stats",
                                    .object([
                                        ("min", number(s.minimum)), ("max", number(s.maximum)),
                                        ("mean", number(s.mean)),
                                        ("std", number(s.standardDeviation)), ("nan", .integer(s.nanCount)),
                                        ("inf", .integer(s.infinityCount)),
                                    ])
                                ))
                        }
                        return .object(fields)
                    })
            ))
        if !checkpoint.opaqueTensors.isEmpty {
            members.append(
                (
                    "quantized_tensors",
                    .array(
                        checkpoint.opaqueTensors.map {
                            .object([
                                ("name", .string($0.name)), ("type", .string($0.typeName)),
                                ("shape", .array($0.shape.map { .integer($0) })),
                                ("bytes", .integer($0.byteCount)),
                            ])
                        })
                ))
        }
        return members
    }
}

/// Results of a concurrent loop, one slot per tensor.
final class StatisticsSlots: @unchecked Sendable {
    private var slots: [TensorStatistics?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: TensorStatistics?) {
        lock.lock()
        slots[index] = value
        lock.unlock()
    }

    var values: [TensorStatistics?] {
        lock.lock()
        defer { lock.unlock() }
        return slots
    }
}
