import Checkpoints
import Tensors

/// The JSON header of a `.spatch` file: kind, metadata and entries.
public struct PatchHeader: Sendable {
    /// A patch or a mask.
    public let kind: PatchKind
    /// The format version the file declares (`PatchFormat.version` when written).
    public let version: Int
    /// Key–value pairs in file order (keys compare by bytes).
    public let metadata: [(String, String)]
    /// One entry per tensor, in file order.
    public let entries: [PatchEntry]

    /// A header of the current format version.
    public init(kind: PatchKind, metadata: [(String, String)], entries: [PatchEntry]) {
        self.kind = kind
        self.version = PatchFormat.version
        self.metadata = metadata
        self.entries = entries
    }

    /// The value of the first metadata pair whose key has the bytes of `key`.
    public func metadataValue(_ key: String) -> String? { metadata.first { $0.0.hasSameBytes(as: key) }?.1 }

    // MARK: writing

    var json: JSONValue {
        .object([
            ("format", .string("spatch")),
            ("version", .integer(version)),
            ("kind", .string(kind.rawValue)),
            ("metadata", .object(metadata.map { ($0.0, .string($0.1)) })),
            ("entries", .array(entries.map(Self.json))),
        ])
    }

    private static func json(_ state: TensorState?) -> JSONValue {
        guard let state else { return .null }
        return .object([
            ("dtype", .string(state.dtype.rawValue)),
            ("shape", .array(state.shape.map { .integer($0) })),
            ("sha256", .string(state.sha256)),
        ])
    }

    private static func json(_ entry: PatchEntry) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("name", .string(entry.name)),
            ("op", .string(entry.operation.rawValue)),
            ("before", json(entry.before)),
            ("after", json(entry.after)),
            ("nnz", .integer(entry.nnz)),
        ]
        if let encoding = entry.indexEncoding { members.append(("index_encoding", .string(encoding.rawValue))) }
        members.append(
            (
                "frames",
                .object(
                    entry.frames.map { role, frame in
                        (
                            role.rawValue,
                            .object([
                                ("offset", .integer(frame.offset)), ("length", .integer(frame.length)),
                                ("size", .integer(frame.rawLength)),
                            ])
                        )
                    })
            ))
        members.append(("sha256", .string(entry.checksum)))
        if let at = entry.atPositions {
            members.append(
                ("at_positions", .object([("before_sha256", .string(at.before)), ("after_sha256", .string(at.after))])))
        }
        return .object(members)
    }

    // MARK: reading

    /// Parses and validates a header: every field present and of the right type, operations
    /// consistent with their states, frames tiling the data section of `dataLength` bytes.
    static func parse(_ bytes: UnsafeRawBufferPointer, dataLength: Int, path: String) throws -> PatchHeader {
        func fail(_ problem: String, kind: FileError.Kind = .malformed) -> PatchError {
            PatchError(path, problem, kind: kind)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw fail("header is not valid JSON: \(error)")
        }
        guard json["format"]?.stringValue == "spatch" else {
            throw fail("header does not declare \"format\": \"spatch\"")
        }
        guard let version = json["version"]?.intValue else { throw fail("header has no integer \"version\"") }
        guard version <= PatchFormat.version else {
            throw fail(
                """
                patch format version \(version) is newer than this Scalpel reads (\(PatchFormat.version)); \
                upgrade Scalpel
                """,
                kind: .unsupported
            )
        }
        guard version >= 1 else { throw fail("invalid patch format version \(version)") }
        guard let kindName = json["kind"]?.stringValue, let kind = PatchKind(rawValue: kindName) else {
            throw fail("header \"kind\" must be \"patch\" or \"mask\"")
        }
        var metadata: [(String, String)] = []
        for (key, value) in json["metadata"]?.objectMembers ?? [] {
            guard let text = value.stringValue else { throw fail("metadata \"\(key)\" must be a string") }
            metadata.append((key, text))
        }
        guard let entryValues = json["entries"]?.arrayValue else { throw fail("header has no \"entries\" array") }
        var entries: [PatchEntry] = []
        var names = NameSet()  // bytes: Unicode-equivalent names are two tensors
        var cursor = 0
        for value in entryValues {
            let entry = try parseEntry(value, kind: kind, version: version, fail: { fail($0) })
            guard names.insert(entry.name) else { throw fail("tensor \"\(entry.name)\" has two entries") }
            for (role, frame) in entry.frames {
                guard frame.offset == cursor else {
                    throw fail(
                        """
                        tensor \"\(entry.name)\": \(role.rawValue) frame at offset \(frame.offset), expected \
                        \(cursor) (frames must follow each other without gaps)
                        """
                    )
                }
                let (end, overflow) = frame.offset.addingReportingOverflow(frame.length)
                guard !overflow, end <= dataLength else {
                    throw fail(
                        """
                        tensor \"\(entry.name)\": \(role.rawValue) frame runs past the end of the data section \
                        (\(dataLength) bytes): the file is truncated
                        """
                    )
                }
                cursor = end
            }
            entries.append(entry)
        }
        guard cursor == dataLength else {
            throw fail("\(dataLength - cursor) bytes of the data section belong to no entry")
        }
        return PatchHeader(kind: kind, version: version, metadata: metadata, entries: entries)
    }

    init(kind: PatchKind, version: Int, metadata: [(String, String)], entries: [PatchEntry]) {
        self.kind = kind
        self.version = version
        self.metadata = metadata
        self.entries = entries
    }

    private static func parseState(_ value: JSONValue?, _ name: String, _ field: String, fail: (String) -> PatchError)
        throws -> TensorState?
    {
        guard let value, value != .null else { return nil }
        guard let dtypeName = value["dtype"]?.stringValue, let dtype = DType(rawValue: dtypeName) else {
            throw fail("tensor \"\(name)\": \(field).dtype missing or unknown")
        }
        guard let dims = value["shape"]?.arrayValue?.compactMap(\.intValue), dims.allSatisfy({ $0 >= 0 }),
            dims.count == value["shape"]?.arrayValue?.count, Shape.byteCount(dims, dtype) != nil
        else {
            throw fail("tensor \"\(name)\": \(field).shape must be non-negative integers whose product fits in 64 bits")
        }
        guard let sha = value["sha256"]?.stringValue, sha.count == 64, sha.allSatisfy(\.isHexDigit) else {
            throw fail("tensor \"\(name)\": \(field).sha256 must be 64 hex digits")
        }
        return TensorState(dtype: dtype, shape: dims, sha256: sha.lowercased())
    }

    private static func isDigest(_ text: String?) -> Bool {
        guard let text else { return false }
        return text.utf8.count == 64
            && text.utf8.allSatisfy {
                (0x30...0x39).contains($0) || (0x61...0x66).contains($0) || (0x41...0x46).contains($0)
            }
    }

    private static func parseEntry(_ value: JSONValue, kind: PatchKind, version: Int, fail: (String) -> PatchError)
        throws -> PatchEntry
    {
        guard let name = value["name"]?.stringValue else { throw fail("an entry has no \"name\"") }
        guard let opName = value["op"]?.stringValue, let operation = EntryOperation(rawValue: opName) else {
            throw fail("tensor \"\(name)\": unknown op \"\(value["op"]?.stringValue ?? "")\"")
        }
        let before = try parseState(value["before"], name, "before", fail: fail)
        let after = try parseState(value["after"], name, "after", fail: fail)
        guard let nnz = value["nnz"]?.intValue, nnz >= 0 else { throw fail("tensor \"\(name)\": missing \"nnz\"") }
        guard let checksum = value["sha256"]?.stringValue, checksum.count == 64 else {
            throw fail("tensor \"\(name)\": missing entry \"sha256\"")
        }
        var frames: [(FrameRole, FrameReference)] = []
        for (roleName, frame) in value["frames"]?.objectMembers ?? [] {
            guard let role = FrameRole(rawValue: roleName) else {
                throw fail("tensor \"\(name)\": unknown frame \"\(roleName)\"")
            }
            guard let offset = frame["offset"]?.intValue, let length = frame["length"]?.intValue,
                let size = frame["size"]?.intValue, offset >= 0, length >= 0, size >= 0
            else {
                throw fail("tensor \"\(name)\": frame \"\(roleName)\" needs non-negative offset, length and size")
            }
            // Bounds the memory a frame can ask for by what the file really stores.
            guard Zstd.canExpand(stored: length, to: size) else {
                throw fail(
                    """
                    tensor \"\(name)\": frame \"\(roleName)\" claims \(size) bytes from \(length) stored bytes, \
                    more than zstd expands to (at most \(Zstd.maximumExpansion) times): the patch is corrupt
                    """
                )
            }
            frames.append((role, FrameReference(offset: offset, length: length, rawLength: size)))
        }
        let encoding = value["index_encoding"]?.stringValue.flatMap(IndexEncoding.init(rawValue:))
        var atPositions: PositionFingerprints?
        if let at = value["at_positions"], at != .null {
            let before = at["before_sha256"]?.stringValue
            let after = at["after_sha256"]?.stringValue
            guard operation == .xor, isDigest(before), isDigest(after), let before, let after else {
                throw fail(
                    """
                    tensor \"\(name)\": \"at_positions\" belongs to xor entries and needs before_sha256 and \
                    after_sha256 of 64 hex digits
                    """
                )
            }
            atPositions = PositionFingerprints(before: before.lowercased(), after: after.lowercased())
        }

        // What each operation requires. Every count is checked against the tensor it describes
        // (Formats/spatch.md, the op table), so no later sum or product of counts read here
        // can overflow or ask for more memory than the stored frames can expand to.
        let roles = frames.map(\.0)
        func require(_ condition: Bool, _ problem: String) throws {
            if !condition { throw fail("tensor \"\(name)\": \(operation.rawValue) entry \(problem)") }
        }
        /// nnz of a whole-tensor entry: the element count of the tensor it stores.
        func requireElementCount(of state: TensorState?, _ which: String) throws {
            let count = state?.elementCount ?? 0
            try require(
                nnz == count, "has nnz \(nnz), but the \(which) tensor has \(count) elements (nnz is its element count)"
            )
        }
        switch operation {
        case .xor:
            try require(kind == .patch, "in a mask")
            try require(before != nil && after != nil, "needs before and after")
            try require(
                before?.dtype == after?.dtype && before?.shape == after?.shape,
                "changes dtype or shape (that is a replace)")
            try require(encoding != nil, "needs an index_encoding")
            try require(roles == [.index, .values], "needs index and values frames")
            try require(
                nnz <= (before?.elementCount ?? 0),
                "has nnz \(nnz) above the tensor's \(before?.elementCount ?? 0) elements")
            let (valueBytes, overflow) = nnz.multipliedReportingOverflow(by: before?.dtype.size ?? 0)
            try require(!overflow && frames[1].1.rawLength == valueBytes, "values frame size does not match nnz")
            try require(version < 2 || atPositions != nil, "needs \"at_positions\" (format version \(version))")
        case .mask:
            try require(kind == .mask, "in a patch")
            try require(before != nil, "needs before")
            try require(encoding != nil, "needs an index_encoding")
            try require(roles == [.index], "needs an index frame only")
            try require(
                nnz <= (before?.elementCount ?? 0),
                "has nnz \(nnz) above the tensor's \(before?.elementCount ?? 0) elements")
        case .add:
            try require(kind == .patch && before == nil && after != nil, "needs after only")
            try require(
                roles == [.afterData] && frames[0].1.rawLength == after?.byteCount,
                "needs an after_data frame of the tensor's size")
            try requireElementCount(of: after, "added")
        case .remove:
            try require(kind == .patch && before != nil && after == nil, "needs before only")
            try require(
                roles == [.beforeData] && frames[0].1.rawLength == before?.byteCount,
                "needs a before_data frame of the tensor's size")
            try requireElementCount(of: before, "removed")
        case .replace:
            try require(kind == .patch && before != nil && after != nil, "needs before and after")
            try require(roles == [.beforeData, .afterData], "needs before_data and after_data frames")
            try require(
                frames[0].1.rawLength == before?.byteCount && frames[1].1.rawLength == after?.byteCount,
                "frame sizes do not match the tensors")
            try requireElementCount(of: after, "new")
        }
        if let encoding, let state = before, let index = frames.first(where: { $0.0 == .index })?.1 {
            switch encoding {
            case .bitmap:
                try require(
                    index.rawLength == IndexEncoding.bitmapSize(elementCount: state.elementCount),
                    "bitmap size does not match the tensor")
            case .deltaVarint:
                // Each position takes one byte at least.
                try require(
                    nnz <= index.rawLength,
                    "has nnz \(nnz), more positions than its \(index.rawLength)-byte index can hold")
            }
        }
        return PatchEntry(
            name: name, operation: operation, before: before, after: after, nnz: nnz,
            indexEncoding: encoding, frames: frames, checksum: checksum.lowercased(), atPositions: atPositions)
    }
}
