import Foundation
import Testing

@testable import Tensors

/// The kernel family Scalpel asks OpenBLAS for when it fell back to a generic one.
struct OpenBLASKernelsTests {
    static let avx512: Set<String> = [
        "sse3", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl",
    ]

    @Test func aGenericFallbackOnACapableCPUGetsTheCPUsFamily() {
        #expect(OpenBLASKernels.recommendedCore(chosen: "Prescott", flags: Self.avx512) == "SkylakeX")
        #expect(OpenBLASKernels.recommendedCore(chosen: "Sandybridge", flags: ["avx", "avx2", "fma"]) == "Haswell")
        // AVX-512 without BW/DQ/VL (Xeon Phi): not SkylakeX.
        #expect(
            OpenBLASKernels.recommendedCore(chosen: "Nehalem", flags: ["avx2", "fma", "avx512f", "avx512cd"])
                == "Haswell")
    }

    @Test func aProperChoiceOrAnOldCPUIsLeftAlone() {
        #expect(OpenBLASKernels.recommendedCore(chosen: "Haswell", flags: Self.avx512) == nil)
        #expect(OpenBLASKernels.recommendedCore(chosen: "Zen", flags: Self.avx512) == nil)
        #expect(OpenBLASKernels.recommendedCore(chosen: "Prescott", flags: ["sse3", "avx"]) == nil)
        #expect(OpenBLASKernels.recommendedCore(chosen: "Prescott", flags: []) == nil)
    }

    @Test func flagsComeFromTheFirstFlagsLine() throws {
        let path = NSTemporaryDirectory() + "cpuinfo-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try
            "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse3 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(OpenBLASKernels.cpuFlags(cpuinfo: path) == ["fpu", "sse3", "avx2", "fma"])
        #expect(OpenBLASKernels.cpuFlags(cpuinfo: path + "-missing").isEmpty)
    }
}
