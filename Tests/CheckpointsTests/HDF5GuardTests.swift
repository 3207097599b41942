import Foundation
import Tensors
import TestSupport
import Testing

@testable import Checkpoints

/// Malformed HDF5 files: libhdf5 reads them in a separate process, and a dataset may take
/// memory only in proportion to what the file stores. Each is a one-line error naming the
/// file and what was being read; nothing crashes, hangs or takes terabytes.
struct HDF5GuardTests {
    static let fieldCases = ReferencePython.fieldCases

    static func made(_ command: String, _ label: String = #function) throws -> String {
        let folder = try Fixtures.scratchFolder(label)
        let result = try Python.run(["hdf5_interop.py", command, folder])
        try #require(result.status == 0, "\(result.output)")
        return folder
    }

    static func refusal(_ name: String, declares shape: Int, bytes: Int, stores stored: Int) -> String {
        "HDF5 dataset \"\(name)\" declares shape [\(shape)] (\(bytes) bytes) but the file stores \(stored) bytes of it: refused, as Scalpel fills at most 64 MiB in all with values a file does not store, beyond 1100 bytes per stored byte (damaged file?)"
    }

    /// The field case: a chunked dataset declaring 2^40 float32 values and storing none.
    @Test func theFieldCaseDeclaringFourTerabytesIsRefused() throws {
        let path = Self.fieldCases + "/h5_chunked_huge_declared_shape.h5"
        #expect {
            try Checkpoint.open(path)
        } throws: { "\($0)" == "\(path): " + Self.refusal("huge", declares: 1 << 40, bytes: 1 << 42, stores: 0) }
    }

    /// The same kind: gzip chunks none of which is written; a dataset whose few written chunks
    /// cannot account for its size; twenty unwritten 4 MiB datasets, of which the first
    /// sixteen fit the 64 MiB allowance and the seventeenth does not.
    @Test func datasetsDeclaringMoreThanTheyStoreAreRefused() throws {
        let folder = try Self.made("unbacked")
        let stored = try #require(
            JSONValue.parse(String(contentsOfFile: folder + "/stored.json", encoding: .utf8))["partial"]?.intValue)
        for (file, message) in [
            ("huge.h5", Self.refusal("huge", declares: 1 << 40, bytes: 1 << 42, stores: 0)),
            ("partial.h5", Self.refusal("partial", declares: 1 << 36, bytes: 1 << 38, stores: stored)),
            ("many.h5", Self.refusal("d16", declares: 1 << 20, bytes: 1 << 22, stores: 0)),
        ] {
            #expect("\(file)") { try Checkpoint.open(folder + "/" + file) } throws: {
                "\($0)" == "\(folder)/\(file): \(message)"
            }
        }
    }

    /// A small dataset never written reads as its fill value, as h5py reads it.
    @Test func aSmallUnwrittenDatasetReadsAsItsFillValue() throws {
        let folder = try Self.made("unbacked")
        let view = try Checkpoint.open(folder + "/small.h5").view(named: "small")
        #expect(view.dtype == .i16 && view.shape == [1000])
        #expect(TensorManifest.hex(view) == String(repeating: "0700", count: 1000))
    }

    /// The field case: libhdf5 1.10 crashes reading a variable-length attribute whose global
    /// heap is damaged (HDF5 2.0 reports an error).
    @Test func theFieldCaseCrashingLibhdf5IsAnErrorNamingTheAttribute() throws {
        let path = Self.fieldCases + "/h5_damaged_global_heap.h5"
        #expect {
            try Checkpoint.open(path)
        } throws: { error in
            [
                "libhdf5 crashed (segmentation fault) while reading the attribute \"dtype\" of \"/layers/dense/vars/1\": the file is damaged (it was read in a separate process, which alone stopped)",
                "cannot read the attribute \"dtype\" of \"/layers/dense/vars/1\" (damaged file?)",
            ].map { "\(path): \($0)" }.contains("\(error)")
        }
        // The process that asked is unharmed and reads the next file.
        #expect(try Checkpoint.open(Self.fieldCases + "/attrs_utf8_last.h5").tensors.count == 1)
    }

    /// The same kind, made here: a root attribute's heap collection with a damaged size
    /// (libhdf5 reports it) and with a damaged object length (libhdf5 1.10 crashes).
    @Test(arguments: ["heap_size.h5", "heap_object.h5"])
    func aDamagedGlobalHeapIsAnErrorNamingTheAttribute(_ file: String) throws {
        let path = try Self.made("heap", "heap-\(file)") + "/" + file
        #expect {
            try Checkpoint.open(path)
        } throws: { error in
            [
                "libhdf5 crashed (segmentation fault) while reading the attribute \"backend\" of \"/\": the file is damaged (it was read in a separate process, which alone stopped)",
                "cannot read the attribute \"backend\" of \"/\" (damaged file?)",
            ].map { "\(path): \($0)" }.contains("\(error)")
        }
    }

    /// SCALPEL_HDF5_SILENCE_SECONDS sets how long the reading process may stay silent; unset
    /// it is 120 s, and a value that is not 1 to 86,400 whole seconds is refused by name.
    @Test func theSilenceLimitComesFromItsVariable() throws {
        #expect(try HDF5Reader.silenceLimit(nil, reading: "m.h5") == 120)
        #expect(try HDF5Reader.silenceLimit("5", reading: "m.h5") == 5)
        for bad in ["0", "-3", "2.5", "", "86401", "ten"] {
            #expect {
                try HDF5Reader.silenceLimit(bad, reading: "m.h5")
            } throws: {
                "\($0)" == "m.h5: SCALPEL_HDF5_SILENCE_SECONDS=\(bad) is not a whole number of seconds from 1 to 86400"
            }
        }
    }
}
