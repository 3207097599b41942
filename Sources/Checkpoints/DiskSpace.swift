import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The free space an output needs, checked before its first byte is written, so that a
/// multi-gigabyte write does not fill the disk and fail at the end.
public enum DiskSpace {
    /// Bytes free to this user on the file system holding `folder`, or nil when unknown.
    public static func available(in folder: String) -> Int? {
        var info = statvfs()
        guard statvfs(folder, &info) == 0 else { return nil }
        let (bytes, overflow) = Int(info.f_bavail).multipliedReportingOverflow(by: Int(info.f_frsize))
        return overflow ? Int.max : bytes
    }

    /// Throws when `bytes` (plus 1 % and 1 MiB for headers and the file system's own
    /// bookkeeping) do not fit in `folder`'s file system, naming `path` and both sizes.
    public static func require(_ bytes: Int, in folder: String, for path: String) throws {
        guard let free = available(in: folder) else { return }
        let needed = bytes + bytes / 100 + (1 << 20)
        if needed > free {
            throw CheckpointError(
                path,
                """
                needs about \(describe(needed)) and the file system of \(folder) has \(describe(free)) free; \
                nothing was written
                """,
                kind: .cannotWrite)
        }
    }

    /// Decimal sizes, as `df -H` prints them.
    static func describe(_ n: Int) -> String {
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        for (scale, unit) in units where Double(n) >= scale {
            return String(format: "%.1f %@", Double(n) / scale, unit)
        }
        return "\(n) B"
    }
}
