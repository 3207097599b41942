import Foundation
@testable import Checkpoints

/// Zip archives assembled byte by byte, for the files Scalpel never writes: damaged or hostile.
enum HandMadeArchives {
    /// One member of a raw zip: its name bytes, data, and what its central directory entry
    /// says (sizes stored as given, so 0xFFFFFFFF marks zip64; `extra` as given).
    struct Member {
        var name: [UInt8]
        var data: [UInt8]
        var size32: Int? = nil
        var extra: [UInt8] = []
    }

    /// A stored zip archive of `members`, with no checks, so it can be as damaged as asked.
    static func zip(_ members: [Member]) -> [UInt8] {
        var out = ZipBytes(), directory = ZipBytes()
        for member in members {
            let offset = out.bytes.count
            let crc = member.data.withUnsafeBytes { Deflate.crc32($0) }
            out.u32(0x0403_4B50); out.u16(20); out.u16(0); out.u16(0); out.u16(0); out.u16(0x21)
            out.u32(crc); out.u32(member.data.count); out.u32(member.data.count)
            out.u16(member.name.count); out.u16(0)
            out.bytes += member.name + member.data
            let size = member.size32 ?? member.data.count
            directory.u32(0x0201_4B50); directory.u16(45); directory.u16(45); directory.u16(0); directory.u16(0)
            directory.u16(0); directory.u16(0x21); directory.u32(crc); directory.u32(size); directory.u32(size)
            directory.u16(member.name.count); directory.u16(member.extra.count); directory.u16(0)
            directory.u16(0); directory.u16(0); directory.u32(0); directory.u32(offset)
            directory.bytes += member.name + member.extra
        }
        let directoryOffset = out.bytes.count
        out.bytes += directory.bytes
        out.u32(0x0605_4B50); out.u16(0); out.u16(0); out.u16(members.count); out.u16(members.count)
        out.u32(directory.bytes.count); out.u32(directoryOffset); out.u16(0)
        return out.bytes
    }

    /// An `.npy` member's bytes: the header NumPy writes for `header` (a dict literal), then `data`.
    static func npy(header: String, data: [UInt8]) -> [UInt8] {
        var dict = Array(header.utf8)
        while (10 + dict.count + 1) % 64 != 0 { dict.append(0x20) }
        dict.append(0x0A)
        return NumpyHeader.magic + [1, 0, UInt8(dict.count & 0xFF), UInt8(dict.count >> 8)] + dict + data
    }
}
