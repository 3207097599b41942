import Tensors

/// The members of a zip archive (.npz, PyTorch .bin), read from its central directory.
/// Only what checkpoints use: stored and deflated members, zip64 sizes and offsets, one disk.
/// Every size and offset is checked against the file, and every record read lies inside the
/// structure that holds it (an extra field record inside its entry's extra field), so a
/// damaged archive is refused before any member is read and no byte outside it is looked at.
/// Member names are bytes and must be unique.
struct ZipArchive {
    struct Member {
        /// The name as stored: compared byte for byte, never as Unicode text.
        let nameBytes: [UInt8]
        /// The name as text, for messages and tensor names.
        let name: String
        /// 0 stored, 8 deflated.
        let method: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        /// Where the member's (compressed) data begins in the file.
        let dataOffset: Int
    }

    let members: [Member]

    init(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        func u16(_ at: Int) -> Int { Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian) }
        func u32(_ at: Int) -> Int { Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian) }
        func u64(_ at: Int) throws -> Int {
            let value = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian
            guard value < 1 << 62 else {
                throw CheckpointError(path, "zip archive: a zip64 size or offset is absurd (\(value))")
            }
            return Int(value)
        }
        // The end-of-central-directory record: 22 bytes plus a comment of up to 65,535.
        var end = -1
        var at = bytes.count - 22
        while at >= max(0, bytes.count - 22 - 65_535) {
            if u32(at) == 0x0605_4B50 {
                end = at
                break
            }
            at -= 1
        }
        guard end >= 0 else {
            throw CheckpointError(
                path, "zip archive: no end-of-central-directory record (the file is truncated or not a zip archive)")
        }
        var count = u16(end + 10)
        var directorySize = u32(end + 12)
        var directoryOffset = u32(end + 16)
        if u16(end + 4) != 0 || u16(end + 6) != 0 {
            throw CheckpointError(path, "zip archive spans several disks, which checkpoints never do")
        }
        // zip64: a locator just before the record points at the zip64 end record.
        if end >= 20, u32(end - 20) == 0x0706_4B50 {
            let record = try u64(end - 20 + 8)
            guard record >= 0, record + 56 <= bytes.count, u32(record) == 0x0606_4B50 else {
                throw CheckpointError(path, "zip archive: the zip64 end record is missing or out of bounds")
            }
            count = try u64(record + 32)
            directorySize = try u64(record + 40)
            directoryOffset = try u64(record + 48)
        }
        guard directoryOffset + directorySize <= bytes.count, count <= directorySize / 46 + 1 else {
            throw CheckpointError(
                path,
                """
                zip archive: the central directory (\(count) members at \(directoryOffset)) lies outside the \
                \(bytes.count)-byte file (truncated?)
                """
            )
        }
        var members: [Member] = []
        var cursor = directoryOffset
        for _ in 0..<count {
            guard cursor + 46 <= directoryOffset + directorySize, u32(cursor) == 0x0201_4B50 else {
                throw CheckpointError(path, "zip archive: central directory entry \(members.count) is damaged")
            }
            let flags = u16(cursor + 8)
            let method = u16(cursor + 10)
            let crc = UInt32(u32(cursor + 16))
            var compressed = u32(cursor + 20)
            var uncompressed = u32(cursor + 24)
            let nameLength = u16(cursor + 28)
            let extraLength = u16(cursor + 30)
            let commentLength = u16(cursor + 32)
            var localOffset = u32(cursor + 42)
            let nameStart = cursor + 46
            let extraStart = nameStart + nameLength
            guard extraStart + extraLength + commentLength <= directoryOffset + directorySize else {
                throw CheckpointError(
                    path, "zip archive: central directory entry \(members.count) runs past the directory")
            }
            let nameBytes = Array(bytes[nameStart..<extraStart])
            let name = String(decoding: nameBytes, as: UTF8.self)
            // The extra field is a sequence of (id, size, data) records, each of which must lie
            // inside it. zip64 (id 1) holds the 64-bit values, in order, of the sizes and offset
            // stored as 0xFFFFFFFF; when it is present, each one so marked must be in it (as
            // Python's zipfile requires; without it the 32-bit values stand).
            let extraEnd = extraStart + extraLength
            var extra = extraStart
            while extra < extraEnd {
                guard extraEnd - extra >= 4 else {
                    throw CheckpointError(
                        path,
                        """
                        zip member \"\(name.escapedForMessage)\": its extra field ends inside a record header \
                        (damaged archive)
                        """
                    )
                }
                let id = u16(extra)
                let size = u16(extra + 2)
                let data = extra + 4
                guard size <= extraEnd - data else {
                    throw CheckpointError(
                        path,
                        """
                        zip member \"\(name.escapedForMessage)\": an extra field record of \(size) bytes runs \
                        past the \(extraLength)-byte extra field (damaged archive)
                        """
                    )
                }
                if id == 0x0001 {
                    var field = data
                    func next(_ what: String) throws -> Int {
                        guard data + size - field >= 8 else {
                            throw CheckpointError(
                                path,
                                """
                                zip member \"\(name.escapedForMessage)\": its \(what) is marked as stored in the \
                                zip64 extra field, which is too short to hold it (damaged archive)
                                """
                            )
                        }
                        defer { field += 8 }
                        return try u64(field)
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try next("size") }
                    if compressed == 0xFFFF_FFFF { compressed = try next("compressed size") }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next("offset") }
                }
                extra = data + size
            }
            if flags & 1 != 0 { throw CheckpointError(path, "zip member \"\(name.escapedForMessage)\" is encrypted") }
            guard method == 0 || method == 8 else {
                throw CheckpointError(
                    path,
                    """
                    zip member \"\(name.escapedForMessage)\" uses compression method \(method); only stored (0) \
                    and deflated (8) are read
                    """
                )
            }
            guard localOffset + 30 <= bytes.count, u32(localOffset) == 0x0403_4B50 else {
                throw CheckpointError(
                    path,
                    """
                    zip member \"\(name.escapedForMessage)\": its local header at \(localOffset) is missing \
                    (truncated file?)
                    """
                )
            }
            let dataOffset = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28)
            guard dataOffset + compressed <= bytes.count else {
                throw CheckpointError(
                    path,
                    """
                    zip member \"\(name.escapedForMessage)\": its \(compressed) bytes at \(dataOffset) run past \
                    the end of the \(bytes.count)-byte file (truncated?)
                    """
                )
            }
            if method == 0, compressed != uncompressed {
                throw CheckpointError(
                    path,
                    """
                    zip member \"\(name.escapedForMessage)\" is stored but its sizes differ (\(compressed) vs \
                    \(uncompressed))
                    """
                )
            }
            members.append(
                Member(
                    nameBytes: nameBytes, name: name, method: UInt16(method), crc32: crc, compressedSize: compressed,
                    uncompressedSize: uncompressed, dataOffset: dataOffset))
            cursor = extraStart + extraLength + commentLength
        }
        var seen = Set<[UInt8]>()
        for member in members where !seen.insert(member.nameBytes).inserted {
            throw CheckpointError(
                path,
                """
                zip archive: the member name \"\(member.name.escapedForMessage)\" appears twice, so which one is \
                meant is ambiguous (damaged archive)
                """
            )
        }
        self.members = members
    }
}
