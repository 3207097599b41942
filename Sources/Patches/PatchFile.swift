import Checkpoints
import Crypto
import Foundation
import Tensors

/// A `.spatch` file opened for reading. Opening validates the framing and the whole header;
/// `verifyIntegrity` checks every entry's stored bytes against its checksum; `decode` gives
/// an entry's positions and values.
public final class PatchFile: @unchecked Sendable {
    /// The path it was opened from.
    public let path: String
    /// The parsed, validated header.
    public let header: PatchHeader
    /// SHA-256 of the header bytes. The header holds every entry's checksum, so the id
    /// identifies the whole patch; `apply` records it in the models it writes.
    public let id: String
    /// The file's size, in bytes.
    public let fileSize: Int
    private let mapping: MappedFile
    private let dataStart: Int

    /// The first 12 hex digits of `id`, as messages show it.
    public var shortId: String { String(id.prefix(12)) }

    /// Maps `path` and validates its framing and header (Formats/spatch.md): magic, header length,
    /// version, every entry's fields, frames that tile the data section exactly. Frame checksums
    /// are checked later by `verifyIntegrity` (every command runs it before writing).
    /// - Throws: `PatchError`: `.notFound`, `.unreadable` (a folder, a device), `.malformed`
    ///   (truncated, wrong magic, another format, a header that breaks the format),
    ///   `.unsupported` (a newer format version).
    public static func open(_ path: String) throws -> PatchFile {
        let mapping: MappedFile
        do {
            mapping = try MappedFile(path: path)
        } catch {
            if !FileManager.default.fileExists(atPath: path) { throw PatchError.notFound(path) }
            if let folder = PatchError.folderGiven(path, expected: "a patch is a .spatch file") { throw folder }
            throw error
        }
        return try PatchFile(mapping: mapping, path: path)
    }

    private init(mapping: MappedFile, path: String) throws {
        let bytes = mapping.bytes
        guard bytes.count >= PatchFormat.prefixLength else {
            throw PatchError(path, "truncated: \(bytes.count) bytes, shorter than the 16-byte .spatch prefix")
        }
        guard Array(bytes.prefix(8)) == PatchFormat.magic else {
            if let format = CheckpointFormat.detect(leadingBytes: Array(bytes.prefix(16))) {
                throw PatchError(path, "not a .spatch patch: this is a \(format.displayName)")
            }
            throw PatchError(path, "not a .spatch patch (wrong magic bytes)")
        }
        let declared = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        guard declared <= UInt64(PatchFormat.maximumHeaderLength) else {
            throw PatchError(path, "header length \(declared) is beyond the format's limit: the file is corrupt")
        }
        let headerLength = Int(declared)
        guard PatchFormat.prefixLength + headerLength <= bytes.count else {
            throw PatchError(
                path,
                """
                truncated: the header needs \(headerLength) bytes, the file has \
                \(bytes.count - PatchFormat.prefixLength) after the prefix
                """
            )
        }
        let headerBytes = UnsafeRawBufferPointer(
            rebasing: bytes[PatchFormat.prefixLength..<(PatchFormat.prefixLength + headerLength)])
        self.path = path
        self.mapping = mapping
        self.fileSize = bytes.count
        self.dataStart = PatchFormat.prefixLength + headerLength
        self.header = try PatchHeader.parse(headerBytes, dataLength: bytes.count - dataStart, path: path)
        self.id = Fingerprint.sha256(headerBytes)
    }

    /// The header's entries, in file order.
    public var entries: [PatchEntry] { header.entries }

    /// The entry for the tensor named `name` (its bytes), if any.
    public func entry(named name: String) -> PatchEntry? { header.entries.first { $0.name.hasSameBytes(as: name) } }

    /// The stored (compressed) bytes of a frame.
    func storedBytes(_ frame: FrameReference) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(
            rebasing: mapping.bytes[(dataStart + frame.offset)..<(dataStart + frame.offset + frame.length)])
    }

    /// Checks `entry`'s stored bytes against its checksum.
    public func verify(_ entry: PatchEntry) throws {
        var hasher = SHA256()
        for (_, frame) in entry.frames { hasher.update(bufferPointer: storedBytes(frame)) }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard digest == entry.checksum else {
            throw PatchError(
                path, "tensor \"\(entry.name)\": stored data does not match its checksum: the patch is corrupt",
                kind: .corrupt)
        }
    }

    /// Checks every entry (run before any output is written).
    public func verifyIntegrity() throws {
        for entry in header.entries { try verify(entry) }
    }

    /// Decompresses one frame. Its size was checked when the header was read: no more than
    /// its stored bytes can expand to (`Zstd.canExpand`), so memory follows the file's content.
    func decompress(_ entry: PatchEntry, _ role: FrameRole) throws -> [UInt8] {
        guard let frame = entry.frame(role) else {
            throw PatchError(path, "tensor \"\(entry.name)\": no \(role.rawValue) frame")
        }
        do {
            return try Zstd.decompress(storedBytes(frame), expectedSize: frame.rawLength)
        } catch {
            throw PatchError(path, "tensor \"\(entry.name)\": \(role.rawValue) frame: \(error): the patch is corrupt")
        }
    }

    /// The positions of an `xor` or `mask` entry, validated.
    public func positions(_ entry: PatchEntry) throws -> [Int] {
        guard let encoding = entry.indexEncoding, let state = entry.before else {
            throw PatchError(path, "tensor \"\(entry.name)\": \(entry.operation.rawValue) entry has no positions")
        }
        let raw = try decompress(entry, .index)
        do {
            return try raw.withUnsafeBytes { bytes throws(IndexDecodingError) in
                try encoding.decode(bytes, count: entry.nnz, elementCount: state.elementCount)
            }
        } catch {
            throw PatchError(path, "tensor \"\(entry.name)\": \(error)")
        }
    }

    /// The XOR byte planes of an `xor` entry.
    func xorPlanes(_ entry: PatchEntry) throws -> [UInt8] { try decompress(entry, .values) }

    /// The whole tensor stored by `add`, `remove` or `replace` (`after` or `before` bytes).
    public func wholeTensor(_ entry: PatchEntry, after: Bool) throws -> TensorView {
        guard let state = after ? entry.after : entry.before else {
            throw PatchError(path, "tensor \"\(entry.name)\": no \(after ? "after" : "before") tensor stored")
        }
        let planes = try decompress(entry, after ? .afterData : .beforeData)
        return planes.withUnsafeBytes { source in
            TensorView.make(dtype: state.dtype, shape: state.shape) { buffer in
                BytePlanes.join(source, into: buffer, elementSize: state.dtype.size)
            }
        }
    }
}
