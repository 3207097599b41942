import Foundation

@testable import Checkpoints

/// Pickles written opcode by opcode (protocol 2, as torch.save writes them) and zip archives
/// assembled byte by byte, for the files torch.save and Scalpel never write: damaged, hostile,
/// or using constructs torch accepts and Scalpel does not read.
struct PickleBuilder {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func op(_ opcodes: UInt8...) { bytes += opcodes }
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array("\(module)\n\(name)\n".utf8) }
    mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        bytes += [0x58] + (0..<4).map { UInt8((utf8.count >> (8 * $0)) & 0xFF) } + utf8
    }
    /// LONG1 with 8 bytes: any Int, two's complement.
    mutating func int(_ value: Int) {
        bytes += [0x8A, 8] + (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
    mutating func tuple(_ values: [Int]) {
        op(0x28)
        for value in values { int(value) }
        op(0x74)
    }
    mutating func orderedDict() {
        global("collections", "OrderedDict")
        op(0x29, 0x52)
    }

    /// `('storage', torch.<type>, key, 'cpu', count)` then BINPERSID; `type` is `FloatStorage`
    /// or `storage.UntypedStorage` style (`module.name` after `torch`).
    mutating func storage(_ type: String, key: String, count: Int) {
        op(0x28)
        string("storage")
        if type == "UntypedStorage" { global("torch.storage", "UntypedStorage") } else { global("torch", type) }
        string(key)
        string("cpu")
        int(count)
        op(0x74, 0x51)
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`, or v3 with
    /// `torch.<dtype>` when `dtype` is given.
    mutating func tensor(
        _ type: String = "FloatStorage", key: String, count: Int, offset: Int = 0, shape: [Int], stride: [Int],
        dtype: String? = nil
    ) {
        global("torch._utils", dtype == nil ? "_rebuild_tensor_v2" : "_rebuild_tensor_v3")
        op(0x28)
        storage(type, key: key, count: count)
        int(offset)
        tuple(shape)
        tuple(stride)
        op(0x89)
        orderedDict()
        if let dtype { global("torch", dtype) }
        op(0x74, 0x52)
    }

    /// An OrderedDict of `entries`, each a key and the opcodes of its value, then STOP.
    static func stateDict(_ entries: [(String, (inout PickleBuilder) -> Void)]) -> [UInt8] {
        var pickle = PickleBuilder()
        pickle.orderedDict()
        pickle.op(0x28)
        for (key, value) in entries {
            pickle.string(key)
            value(&pickle)
        }
        pickle.op(0x75, 0x2E)
        return pickle.bytes
    }
}

enum HandMadeArchives {
    /// A PyTorch zip: `archive/data.pkl`, `archive/byteorder`, and `archive/data/<key>` for
    /// each storage.
    static func pytorch(pickle: [UInt8], storages: [(String, [UInt8])], at path: String) throws {
        let file = try AtomicFile(path: path)
        var zip = ZipWriter(file: file, alignment: 64)
        try zip.add("archive/data.pkl", bytes: pickle)
        try zip.add("archive/byteorder", bytes: Array("little".utf8))
        for (key, data) in storages { try zip.add("archive/data/" + key, bytes: data) }
        try zip.finish()
        try file.commit()
    }

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
        var out = ZipBytes()
        var directory = ZipBytes()
        for member in members {
            let offset = out.bytes.count
            let crc = member.data.withUnsafeBytes { Deflate.crc32($0) }
            out.u32(0x0403_4B50)
            out.u16(20)
            out.u16(0)
            out.u16(0)
            out.u16(0)
            out.u16(0x21)
            out.u32(crc)
            out.u32(member.data.count)
            out.u32(member.data.count)
            out.u16(member.name.count)
            out.u16(0)
            out.bytes += member.name + member.data
            let size = member.size32 ?? member.data.count
            directory.u32(0x0201_4B50)
            directory.u16(45)
            directory.u16(45)
            directory.u16(0)
            directory.u16(0)
            directory.u16(0)
            directory.u16(0x21)
            directory.u32(crc)
            directory.u32(size)
            directory.u32(size)
            directory.u16(member.name.count)
            directory.u16(member.extra.count)
            directory.u16(0)
            directory.u16(0)
            directory.u16(0)
            directory.u32(0)
            directory.u32(offset)
            directory.bytes += member.name + member.extra
        }
        let directoryOffset = out.bytes.count
        out.bytes += directory.bytes
        out.u32(0x0605_4B50)
        out.u16(0)
        out.u16(0)
        out.u16(members.count)
        out.u16(members.count)
        out.u32(directory.bytes.count)
        out.u32(directoryOffset)
        out.u16(0)
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
