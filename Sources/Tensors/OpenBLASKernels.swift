import CBLAS
import Foundation

/// Which of OpenBLAS's kernel families runs the matrix products, and a better one when OpenBLAS
/// fell back to a generic family on a CPU it does not know.
///
/// OpenBLAS built for every x86 CPU (Debian's, `DYNAMIC_ARCH`) picks its kernels when the library
/// loads, by the CPU's model number. OpenBLAS 0.3.21 (Debian 12) does not know recent Intel
/// server CPUs and falls back to "Prescott", SSE3 kernels from 2004, though the CPU runs AVX-512:
/// on the machine this project is measured on that makes zero-shot evaluation 3.4 times slower
/// (90 s against 27 s for the WordNet control set). The documented override is the environment
/// variable `OPENBLAS_CORETYPE`, read only when the library loads; `scalpel` therefore starts
/// itself again with it set (see `Scalpel.main`) when `recommendedCore` says so. A variable the
/// user set is always left as it is.
public enum OpenBLASKernels {
    /// The kernel family OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", …).
    public static var core: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Families without AVX2: on a CPU with AVX2 and FMA, a choice among these is a fallback.
    static let generic: Set<String> = [
        "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
        "Northwood", "Banias", "Sandybridge", "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat",
    ]

    /// The family to ask for instead of `chosen` on a CPU with `flags` (/proc/cpuinfo's names):
    /// "SkylakeX" with AVX-512 (F, CD, BW, DQ, VL), else "Haswell" with AVX2 and FMA; nil when
    /// `chosen` is not a generic fallback or the CPU has neither.
    public static func recommendedCore(chosen: String, flags: Set<String>) -> String? {
        guard generic.contains(chosen) else { return nil }
        if flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The CPU's feature flags, from the first "flags" line of /proc/cpuinfo (empty elsewhere).
    public static func cpuFlags(cpuinfo: String = "/proc/cpuinfo") -> Set<String> {
        guard let text = try? String(contentsOfFile: cpuinfo, encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// The family this process should run with, when it is not the one it has and the user
    /// did not choose one (`OPENBLAS_CORETYPE` unset).
    public static func recommendedRestart() -> String? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        return recommendedCore(chosen: core, flags: cpuFlags())
    }
}
