import Tensors

/// The members of a zip archive (.npz, PyTorch .bin), read from its central directory.
/// Only what checkpoints use: stored and deflated members, zip64 sizes and offsets, one disk.
/// Every size and offset is checked against the file, so a damaged archive is refused
/// before any member is read.
struct ZipArchive {
    struct Member {
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
            guard value < 1 << 62 else { throw CheckpointError(path, "zip archive: a zip64 size or offset is absurd (\(value))") }
            return Int(value)
        }
        // The end-of-central-directory record: 22 bytes plus a comment of up to 65,535.
        var end = -1
        var at = bytes.count - 22
        while at >= max(0, bytes.count - 22 - 65_535) {
            if u32(at) == 0x0605_4B50 { end = at; break }
            at -= 1
        }
        guard end >= 0 else { throw CheckpointError(path, "zip archive: no end-of-central-directory record (the file is truncated or not a zip archive)") }
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
            throw CheckpointError(path, "zip archive: the central directory (\(count) members at \(directoryOffset)) lies outside the \(bytes.count)-byte file (truncated?)")
        }
        var members: [Member] = []
        var cursor = directoryOffset
        for _ in 0..<count {
            guard cursor + 46 <= directoryOffset + directorySize, u32(cursor) == 0x0201_4B50 else {
                throw CheckpointError(path, "zip archive: central directory entry \(members.count) is damaged")
            }
            let flags = u16(cursor + 8), method = u16(cursor + 10)
            let crc = UInt32(u32(cursor + 16))
            var compressed = u32(cursor + 20), uncompressed = u32(cursor + 24)
            let nameLength = u16(cursor + 28), extraLength = u16(cursor + 30), commentLength = u16(cursor + 32)
            var localOffset = u32(cursor + 42)
            let nameStart = cursor + 46, extraStart = nameStart + nameLength
            guard extraStart + extraLength + commentLength <= directoryOffset + directorySize else {
                throw CheckpointError(path, "zip archive: central directory entry \(members.count) runs past the directory")
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<extraStart]), as: UTF8.self)
            // zip64 extra field: the 64-bit values, in order, of those stored as 0xFFFFFFFF.
            var extra = extraStart
            while extra + 4 <= extraStart + extraLength {
                let id = u16(extra), size = u16(extra + 2)
                if id == 0x0001 {
                    var field = extra + 4
                    if uncompressed == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { uncompressed = try u64(field); field += 8 }
                    if compressed == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { compressed = try u64(field); field += 8 }
                    if localOffset == 0xFFFF_FFFF, field + 8 <= extra + 4 + size { localOffset = try u64(field) }
                }
                extra += 4 + size
            }
            if flags & 1 != 0 { throw CheckpointError(path, "zip member \"\(name)\" is encrypted") }
            guard method == 0 || method == 8 else {
                throw CheckpointError(path, "zip member \"\(name)\" uses compression method \(method); only stored (0) and deflated (8) are read")
            }
            guard localOffset + 30 <= bytes.count, u32(localOffset) == 0x0403_4B50 else {
                throw CheckpointError(path, "zip member \"\(name)\": its local header at \(localOffset) is missing (truncated file?)")
            }
            let dataOffset = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28)
            guard dataOffset + compressed <= bytes.count else {
                throw CheckpointError(path, "zip member \"\(name)\": its \(compressed) bytes at \(dataOffset) run past the end of the \(bytes.count)-byte file (truncated?)")
            }
            if method == 0, compressed != uncompressed {
                throw CheckpointError(path, "zip member \"\(name)\" is stored but its sizes differ (\(compressed) vs \(uncompressed))")
            }
            members.append(Member(name: name, method: UInt16(method), crc32: crc, compressedSize: compressed,
                                  uncompressedSize: uncompressed, dataOffset: dataOffset))
            cursor = extraStart + extraLength + commentLength
        }
        self.members = members
    }
}
