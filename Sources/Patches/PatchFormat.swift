/// Constants of the `.spatch` container (Formats/spatch.md is the specification).
public enum PatchFormat {
    /// 0x89 'S' 'P' 'A' 'T' 'C' 'H' '\n': the high byte catches 7-bit transfers, the newline
    /// catches line-ending conversion.
    public static let magic: [UInt8] = [0x89] + Array("SPATCH".utf8) + [0x0A]
    /// 2 added `at_positions` to `xor` entries; version 1 files are still read (they fall back
    /// to whole-tensor checks).
    public static let version = 2
    /// magic (8) + header length (u64).
    public static let prefixLength = 16
    /// Largest header a reader accepts, in bytes (1 GiB): a larger declared length is corruption.
    public static let maximumHeaderLength = 1 << 30
    /// zstd level for frames: fast enough to keep `create` near the speed of reading its
    /// inputs; patch streams are small and highly redundant, so higher levels gain little.
    public static let compressionLevel: Int32 = 3
    /// Metadata key under which `apply` records the patches applied to a model, as a JSON
    /// array of patch ids, oldest first.
    public static let appliedPatchesKey = "scalpel.patches"
}
