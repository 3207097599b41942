import Tensors

/// Writes a zip archive of stored (uncompressed) members into an `AtomicFile`, one member at
/// a time: the local header, then the bytes, then at the end the central directory. Member
/// data can be aligned (PyTorch aligns to 64 bytes, so tensors map in place); zip64 records
/// are used where a size or offset needs them. Member times are fixed, so the same members
/// give the same bytes.
struct ZipWriter {
    let file: AtomicFile
    /// Data of every member starts on a multiple of this (1: no padding).
    let alignment: Int
    private var directory: [UInt8] = []
    private var count = 0

    init(file: AtomicFile, alignment: Int = 1) {
        self.file = file
        self.alignment = alignment
    }

    /// Adds a member whose `size` bytes `write` produces, with CRC-32 `crc`.
    mutating func add(_ name: String, size: Int, crc: UInt32, write: () throws -> Void) throws {
        let nameBytes = Array(name.utf8)
        // General purpose bit 11 (APPNOTE 4.4.4): the name is UTF-8. Without it readers
        // (Python's zipfile, so NumPy) decode non-ASCII names as CP437. ASCII names keep 0,
        // as PyTorch writes them.
        let flags: UInt16 = nameBytes.contains { $0 >= 0x80 } ? 0x0800 : 0
        let offset = file.bytesWritten
        let big = size >= 0xFFFF_FFFF
        let farOffset = offset >= 0xFFFF_FFFF
        var extra = ZipBytes()
        if big {
            extra.u16(1)
            extra.u16(16)
            extra.u64(size)
            extra.u64(size)
        }
        // Padding in an extra field of its own (id 0xFFFF, as PyTorch's writer does), so the
        // data lands on the alignment.
        let unpadded = offset + 30 + nameBytes.count + extra.bytes.count
        if alignment > 1, unpadded % alignment != 0 {
            let padding = (alignment - (unpadded + 4) % alignment) % alignment
            extra.u16(0xFFFF)
            extra.u16(padding)
            extra.bytes += [UInt8](repeating: 0x5A, count: padding)
        }
        var local = ZipBytes()
        local.u32(0x0403_4B50)
        local.u16(big ? 45 : 20)
        local.u16(Int(flags))
        local.u16(0)
        local.u16(0)
        local.u16(0x21)  // time 00:00, date 1980-01-01
        local.u32(crc)
        local.u32(big ? 0xFFFF_FFFF : size)
        local.u32(big ? 0xFFFF_FFFF : size)
        local.u16(nameBytes.count)
        local.u16(extra.bytes.count)
        try file.write(local.bytes + nameBytes + extra.bytes)
        try write()
        var centralExtra = ZipBytes()
        if big {
            centralExtra.u64(size)
            centralExtra.u64(size)
        }
        if farOffset { centralExtra.u64(offset) }
        var entry = ZipBytes()
        entry.u32(0x0201_4B50)
        entry.u16(big || farOffset ? 45 : 20)
        entry.u16(big || farOffset ? 45 : 20)
        entry.u16(Int(flags))
        entry.u16(0)
        entry.u16(0)
        entry.u16(0x21)
        entry.u32(crc)
        entry.u32(big ? 0xFFFF_FFFF : size)
        entry.u32(big ? 0xFFFF_FFFF : size)
        entry.u16(nameBytes.count)
        entry.u16(centralExtra.bytes.isEmpty ? 0 : centralExtra.bytes.count + 4)
        entry.u16(0)
        entry.u16(0)
        entry.u16(0)
        entry.u32(0)
        entry.u32(farOffset ? 0xFFFF_FFFF : offset)
        entry.bytes += nameBytes
        if !centralExtra.bytes.isEmpty {
            entry.u16(1)
            entry.u16(centralExtra.bytes.count)
            entry.bytes += centralExtra.bytes
        }
        directory += entry.bytes
        count += 1
    }

    /// Adds a member holding `bytes`.
    mutating func add(_ name: String, bytes: [UInt8]) throws {
        let file = self.file
        try add(name, size: bytes.count, crc: bytes.withUnsafeBytes { Deflate.crc32($0) }) { try file.write(bytes) }
    }

    /// Writes the central directory and the end records.
    mutating func finish() throws {
        let directoryOffset = file.bytesWritten
        try file.write(directory)
        var end = ZipBytes()
        if count >= 0xFFFF || directoryOffset >= 0xFFFF_FFFF || directory.count >= 0xFFFF_FFFF {
            let record = file.bytesWritten
            end.u32(0x0606_4B50)
            end.u64(44)
            end.u16(45)
            end.u16(45)
            end.u32(0)
            end.u32(0)
            end.u64(count)
            end.u64(count)
            end.u64(directory.count)
            end.u64(directoryOffset)
            end.u32(0x0706_4B50)
            end.u32(0)
            end.u64(record)
            end.u32(1)
        }
        end.u32(0x0605_4B50)
        end.u16(0)
        end.u16(0)
        end.u16(min(count, 0xFFFF))
        end.u16(min(count, 0xFFFF))
        end.u32(min(directory.count, 0xFFFF_FFFF))
        end.u32(min(directoryOffset, 0xFFFF_FFFF))
        end.u16(0)
        try file.write(end.bytes)
    }
}
