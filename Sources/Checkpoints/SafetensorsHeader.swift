import Tensors

/// The parsed and validated header of one safetensors file.
///
/// Validation follows the reference implementation (huggingface/safetensors): the header is
/// at most 100 MB, is UTF-8 JSON starting with `{`, names each tensor once, and the tensors'
/// byte ranges tile the data section exactly: contiguous, no gap, no overlap, each the size
/// its dtype and shape require (computed with overflow checks), ending at the end of the file.
public struct SafetensorsHeader: Sendable {
    /// The longest header accepted, in bytes (the reference implementation's 100 MB limit).
    public static let maximumHeaderLength = 100_000_000

    /// Byte offset of the data section (8 + header length).
    public let dataStart: Int
    /// The JSON header's length in bytes, as the file's leading little-endian u64 declares it.
    public let headerLength: Int
    /// The `__metadata__` string pairs, in file order (empty when there is none).
    public let metadata: [(String, String)]
    /// Tensors in data order; offsets are absolute within the file.
    public let tensors: [TensorEntry]

    /// Parses the header of `file` (the whole file's bytes, usually a mapping: only the
    /// header pages are touched). `fileIndex` is recorded in each entry.
    /// - Throws: `CheckpointError` (`.malformed`) when the file is shorter than 8 bytes, the header is too long, runs
    ///   past the file, is not a JSON object, names a tensor twice, or an entry or the data layout breaks the rules.
    public static func parse(_ file: UnsafeRawBufferPointer, path: String, fileIndex: Int = 0) throws
        -> SafetensorsHeader
    {
        func fail(_ problem: String) -> CheckpointError { CheckpointError(path, problem) }
        guard file.count >= 8 else {
            throw fail("truncated: \(file.count) bytes, shorter than the 8-byte header length of a safetensors file")
        }
        let declared = file.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard declared <= UInt64(maximumHeaderLength) else {
            if let format = CheckpointFormat.detect(leadingBytes: Array(file.prefix(16))), format != .safetensors {
                throw fail("this is a \(format.displayName), not a safetensors file")
            }
            throw fail(
                """
                header length \(declared) exceeds the safetensors limit of \(maximumHeaderLength) bytes; the file \
                is corrupt or not safetensors
                """
            )
        }
        let headerLength = Int(declared)
        guard 8 + headerLength <= file.count else {
            throw fail(
                """
                header length \(headerLength) runs past the end of the file (\(file.count) bytes): the file is \
                truncated or corrupt
                """
            )
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<(8 + headerLength)])
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw fail("header does not start with '{': not a safetensors header")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(headerBytes)
        } catch let error as JSONError {
            if error.kind == .duplicateKey {
                throw fail("header names a tensor twice: \(error.description)")
            }
            throw fail("header is not valid JSON: \(error.description)")
        }
        guard let members = json.objectMembers else { throw fail("header is not a JSON object") }

        var metadata: [(String, String)] = []
        var tensors: [TensorEntry] = []
        let dataStart = 8 + headerLength
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, fail: fail)
                continue
            }
            tensors.append(try parseTensor(name, value, dataStart: dataStart, fileIndex: fileIndex, fail: fail))
        }
        try validateLayout(&tensors, dataStart: dataStart, fileSize: file.count, fail: fail)
        return SafetensorsHeader(
            dataStart: dataStart, headerLength: headerLength,
            metadata: metadata, tensors: tensors)
    }

    private static func parseMetadata(_ value: JSONValue, fail: (String) -> CheckpointError) throws -> [(
        String, String
    )] {
        guard let pairs = value.objectMembers else {
            throw fail("__metadata__ must be an object of strings, found \(value.kindName)")
        }
        return try pairs.map { key, value in
            guard let text = value.stringValue else {
                throw fail("__metadata__ value of \"\(key)\" must be a string, found \(value.kindName)")
            }
            return (key, text)
        }
    }

    private static func parseTensor(
        _ name: String, _ value: JSONValue, dataStart: Int, fileIndex: Int,
        fail: (String) -> CheckpointError
    ) throws -> TensorEntry {
        guard value.objectMembers != nil else {
            throw fail("tensor \"\(name)\": entry must be an object, found \(value.kindName)")
        }
        guard let dtypeName = value["dtype"]?.stringValue else {
            throw fail("tensor \"\(name)\": missing or non-string \"dtype\"")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail("tensor \"\(name)\": unknown dtype \"\(dtypeName)\" (supported: \(DType.knownNames))")
        }
        guard let shapeValues = value["shape"]?.arrayValue else {
            throw fail("tensor \"\(name)\": missing or non-array \"shape\"")
        }
        var shape: [Int] = []
        for dim in shapeValues {
            guard let size = dim.intValue, size >= 0 else {
                throw fail("tensor \"\(name)\": shape must hold non-negative integers")
            }
            shape.append(size)
        }
        guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
            let begin = offsets[0].intValue, let end = offsets[1].intValue, begin >= 0, end >= 0
        else {
            throw fail("tensor \"\(name)\": \"data_offsets\" must be two non-negative integers")
        }
        guard end >= begin else {
            throw fail("tensor \"\(name)\": data_offsets [\(begin), \(end)] end before they begin")
        }
        guard let needed = Shape.byteCount(shape, dtype) else {
            throw fail("tensor \"\(name)\": shape \(Shape.describe(shape)) has more elements than fit in 64 bits")
        }
        guard end - begin == needed else {
            throw fail(
                """
                tensor \"\(name)\": \(dtype.rawValue) \(Shape.describe(shape)) needs \(needed) bytes but \
                data_offsets [\(begin), \(end)] span \(end - begin)
                """
            )
        }
        let (absolute, overflow) = dataStart.addingReportingOverflow(begin)
        guard !overflow else { throw fail("tensor \"\(name)\": data_offsets out of range") }
        return TensorEntry(
            name: name, dtype: dtype, shape: shape, fileIndex: fileIndex,
            offset: absolute, byteCount: needed)
    }

    /// Sorts `tensors` by offset and checks that they tile the data section exactly.
    private static func validateLayout(
        _ tensors: inout [TensorEntry], dataStart: Int, fileSize: Int,
        fail: (String) -> CheckpointError
    ) throws {
        tensors.sort { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        let dataLength = fileSize - dataStart
        var cursor = dataStart
        var previous: String?
        for tensor in tensors {
            let relativeStart = tensor.offset - dataStart
            let relativeEnd = relativeStart + tensor.byteCount
            if relativeEnd > dataLength {
                throw fail(
                    """
                    tensor \"\(tensor.name)\": data_offsets [\(relativeStart), \(relativeEnd)] run past the end \
                    of the data section (\(dataLength) bytes): the file is truncated
                    """
                )
            }
            if tensor.offset < cursor {
                throw fail(
                    """
                    tensor \"\(tensor.name)\" overlaps tensor \"\(previous ?? "")\" (data_offsets start at \
                    \(relativeStart), before \(cursor - dataStart))
                    """
                )
            }
            if tensor.offset > cursor {
                let after = previous.map { "after tensor \"\($0)\"" } ?? "at the start of the data section"
                throw fail("gap of \(tensor.offset - cursor) unused bytes \(after), before tensor \"\(tensor.name)\"")
            }
            cursor = tensor.offset + tensor.byteCount
            previous = tensor.name
        }
        if cursor != fileSize {
            throw fail("\(fileSize - cursor) bytes after the last tensor are not described by the header")
        }
    }
}
