import Tensors

/// Verifies an undo journal (Formats/undo-journal.md) and decodes what restoring it writes.
///
/// Nothing in a journal is trusted before it is checked: first the SHA-256 that closes it,
/// over every byte before it, so a damaged or truncated journal is refused whatever byte was
/// hit; then, since a checksum proves integrity and not sense, every length, offset and count
/// in it, with overflow-checked arithmetic: frames inside the journal and no larger than zstd
/// can expand them to, every restored byte inside the file and after its saved header.
enum InPlaceJournalReader {
    /// What restoring writes into the file, every range checked against `targetSize`.
    struct Restoration {
        let targetSize: Int
        /// The file's original first bytes (the safetensors length and header).
        let header: [UInt8]
        let regions: [Region]
    }

    struct Region {
        let offset: Int
        let elementSize: Int
        /// Strictly increasing element indices.
        let positions: [Int]
        /// `positions.count × elementSize` original bytes, in position order.
        let values: [UInt8]
    }

    /// Why a journal cannot be used, as the end of the sentence "the journal cannot be used: …".
    struct Problem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The first bytes of a version-1 journal's header, which Scalpel always wrote first.
    static let versionOnePrefix = Array(#"{"version":1,"#.utf8)

    static func read(_ bytes: UnsafeRawBufferPointer, targetSize: Int) throws(Problem) -> Restoration {
        let magic = InPlaceJournal.magic
        let leading = Array(bytes.prefix(magic.count))
        guard leading == Array(magic.prefix(leading.count)), !leading.isEmpty else {
            throw Problem("it is not a Scalpel undo journal (its first bytes are not \\x89SCUNDO\\n)")
        }
        let trailerStart = bytes.count - InPlaceJournal.checksumLength
        guard trailerStart >= InPlaceJournal.prefixLength else {
            throw Problem("it is damaged: truncated to \(bytes.count) bytes")
        }
        var checksum = StreamingSHA256()
        checksum.update(UnsafeRawBufferPointer(rebasing: bytes[0..<trailerStart]))
        guard checksum.digest() == Array(bytes[trailerStart...]) else {
            if Array(bytes[InPlaceJournal.prefixLength...].prefix(versionOnePrefix.count)) == versionOnePrefix {
                throw Problem(
                    """
                    it was written by an older Scalpel (journal version 1), which kept no checksum, so the bytes \
                    it would restore cannot be verified
                    """
                )
            }
            throw Problem(
                """
                it is damaged (its checksum does not match its content: truncated or changed), so the bytes it \
                would restore cannot be trusted
                """
            )
        }

        // Sound bytes from here on; their content is still checked before it is used.
        let declared = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        guard declared <= UInt64(trailerStart - InPlaceJournal.prefixLength) else {
            throw Problem("its header length \(declared) runs past its end")
        }
        let dataStart = InPlaceJournal.prefixLength + Int(declared)
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<trailerStart])
        let header: JSONValue
        do {
            header = try JSONValue.parse(
                UnsafeRawBufferPointer(rebasing: bytes[InPlaceJournal.prefixLength..<dataStart]))
        } catch {
            throw Problem("its header is not valid JSON (\(error))")
        }
        guard let version = header["version"]?.intValue else { throw Problem("its header has no integer \"version\"") }
        guard version <= InPlaceJournal.version else {
            throw Problem(
                """
                it is journal version \(version), newer than this Scalpel reads (\(InPlaceJournal.version)); a \
                newer Scalpel restores it
                """
            )
        }
        guard version == InPlaceJournal.version else {
            throw Problem(
                """
                it declares journal version \(version) but carries a checksum, which only version \
                \(InPlaceJournal.version) has
                """
            )
        }
        guard let recordedSize = header["target_size"]?.intValue else {
            throw Problem("its header has no integer \"target_size\"")
        }
        guard recordedSize == targetSize else {
            throw Problem(
                """
                it is for a file of \(recordedSize) bytes and this one has \(targetSize): the file was replaced \
                or changed since
                """
            )
        }

        let saved = try frame(header["header"], "the saved header", in: data)
        guard saved.count >= 8, saved.count <= targetSize else {
            throw Problem("its saved header is \(saved.count) bytes, outside 8…\(targetSize) (the file's size)")
        }
        guard let described = header["regions"]?.arrayValue else {
            throw Problem("its header has no \"regions\" array")
        }
        var regions: [Region] = []
        for (n, value) in described.enumerated() {
            regions.append(try region(value, number: n + 1, in: data, savedHeader: saved.count, targetSize: targetSize))
        }
        return Restoration(targetSize: targetSize, header: saved, regions: regions)
    }

    /// One region, with every restored byte inside the file, after the saved header.
    private static func region(
        _ value: JSONValue, number: Int, in data: UnsafeRawBufferPointer,
        savedHeader: Int, targetSize: Int
    ) throws(Problem) -> Region {
        let what = "region \(number)"
        guard let offset = value["offset"]?.intValue, let elementSize = value["element_size"]?.intValue,
            let count = value["count"]?.intValue
        else {
            throw Problem("\(what) lacks an integer offset, element_size or count")
        }
        guard [1, 2, 4, 8].contains(elementSize) else {
            throw Problem("\(what) has element size \(elementSize), not 1, 2, 4 or 8")
        }
        guard offset >= savedHeader, offset <= targetSize else {
            throw Problem("\(what) starts at byte \(offset), outside the file's data (\(savedHeader)…\(targetSize))")
        }
        let encoded = try frame(value["positions"], "\(what)'s positions", in: data)
        let values = try frame(value["values"], "\(what)'s values", in: data)
        // Each position takes one byte at least: bounds `count` before memory is reserved.
        guard count >= 0, count <= encoded.count else {
            throw Problem("\(what) counts \(count) positions in \(encoded.count) bytes of positions")
        }
        let (valueBytes, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow, values.count == valueBytes else {
            throw Problem("\(what) holds \(values.count) bytes of values for \(count) elements of \(elementSize) bytes")
        }
        let room = (targetSize - offset) / elementSize  // whole elements between the region's start and the file's end
        var positions: [Int] = []
        positions.reserveCapacity(count)
        var cursor = 0
        encoded.withUnsafeBytes { raw in
            var previous = -1
            while positions.count < count, let delta = Varint.read(raw, &cursor) {
                // The first varint is the position itself, each next one the step (at least 1).
                guard previous < 0 || delta > 0, delta <= UInt64(room) else { break }
                let (element, overflow) = max(previous, 0).addingReportingOverflow(Int(delta))
                guard !overflow, element < room else { break }
                positions.append(element)
                previous = element
            }
        }
        guard positions.count == count, cursor == encoded.count else {
            throw Problem("\(what)'s positions are malformed, repeated, out of order or past the end of the file")
        }
        return Region(offset: offset, elementSize: elementSize, positions: positions, values: values)
    }

    /// A frame's bytes: inside the data section, no larger than its stored bytes expand to.
    private static func frame(_ value: JSONValue?, _ what: String, in data: UnsafeRawBufferPointer) throws(Problem)
        -> [UInt8]
    {
        guard let offset = value?["offset"]?.intValue, let length = value?["length"]?.intValue,
            let size = value?["size"]?.intValue, offset >= 0, length >= 0, size >= 0
        else {
            throw Problem("\(what) has no frame of non-negative offset, length and size")
        }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= data.count else {
            throw Problem("\(what) (bytes \(offset) + \(length)) runs past the journal's data (\(data.count) bytes)")
        }
        guard Zstd.canExpand(stored: length, to: size) else {
            throw Problem("\(what) claims \(size) bytes from \(length) stored bytes, more than zstd expands to")
        }
        do {
            return try Zstd.decompress(UnsafeRawBufferPointer(rebasing: data[offset..<end]), expectedSize: size)
        } catch {
            throw Problem("\(what) does not decompress (\(error))")
        }
    }
}
