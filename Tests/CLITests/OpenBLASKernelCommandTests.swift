import Foundation
import Testing

@testable import Tensors

/// `scalpel` runs OpenBLAS's kernels for the CPU it is on, and a family the user sets is kept.
struct OpenBLASKernelCommandTests {
    /// The family `scalpel --version` reports (OpenBLAS's configuration names it).
    static func core(_ environment: [String: String] = [:]) throws -> String {
        let result = try CLI.run(["--version"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: " ").first {
            [
                "SkylakeX", "Haswell", "Prescott", "Zen", "Sandybridge", "Nehalem", "Core2", "Cooperlake",
                "SapphireRapids",
            ].contains(String($0))
        }.map(String.init) ?? result.stdout
    }

    @Test func theUsersChoiceIsKept() throws {
        #expect(try Self.core(["OPENBLAS_CORETYPE": "Prescott"]) == "Prescott")
    }

    /// On a CPU with AVX2 and FMA, never the generic SSE3 kernels (unless the user chose them).
    @Test(
        .enabled(
            if: OpenBLASKernels.cpuFlags().isSuperset(of: ["avx2", "fma"])
                && ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil))
    func aCapableCPUDoesNotRunTheGenericKernels() throws {
        let result = try Self.core()
        #expect(!OpenBLASKernels.generic.contains(result), "\(result)")
    }
}
