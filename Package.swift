// swift-tools-version: 6.0
// Scalpel: task-local updates of foundation models, shipped as lossless sparse patches.
//
// Targets are layers: each imports only the targets below it. ARCHITECTURE.md has the table
// (what each holds and may import) and each command's path through them; the dependencies
// below are exactly that table, which Tests/CLITests/ArchitectureTests.swift checks.
import PackageDescription

let package = Package(
    name: "Scalpel",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "scalpel", targets: ["scalpel"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "Checkpoints", targets: ["Checkpoints"]),
        .library(name: "Patches", targets: ["Patches"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Relevance", targets: ["Relevance"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // The live progress line of long commands (ActivityIndicator), on stderr.
        .package(url: "https://github.com/vapor/console-kit", from: "4.16.2"),
    ],
    targets: [
        // System libraries, located with pkg-config. Debian: libopenblas-dev libzstd-dev libhdf5-dev zlib1g-dev.
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        // Deflate and CRC-32 for zip members (.npz). libhdf5-dev depends on zlib1g-dev already.
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // prctl(2) for the forked reader of HDF5 files (a header only; libc has the code).
        .systemLibrary(name: "CProcess"),

        .target(
            name: "Tensors",
            dependencies: [
                "CBLAS", "CZstd", "CHDF5",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(
            name: "Checkpoints",
            dependencies: ["Tensors", "CZlib", "CHDF5", "CProcess"]),
        // The element-wise activations, in C so they vectorise whole; optimised and without
        // fused multiply-adds in every configuration (bit-identical results, debug or release).
        .target(
            name: "CActivations",
            cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]),
        .target(
            name: "Models",
            dependencies: ["Checkpoints", "Tensors", "CActivations"]),
        .target(
            name: "Training",
            dependencies: ["Relevance", "Models", "Patches", "Checkpoints", "Tensors"]),
        .target(
            name: "Relevance",
            dependencies: ["Models", "Tensors"]),
        .target(
            name: "Patches",
            dependencies: [
                "Checkpoints", "Tensors",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .executableTarget(
            name: "scalpel",
            dependencies: [
                "Training", "Relevance", "Patches", "Models", "Checkpoints", "Tensors",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ConsoleKitTerminal", package: "console-kit"),
            ]),

        // Times the runtime for Samples/benchmarks/runtime.py (not a product; built with -c release).
        .executableTarget(
            name: "runtime-bench",
            dependencies: ["Models"],
            path: "Samples/benchmarks/RuntimeBench"),
        // Times the CLIP runtime for Samples/benchmarks/clip_runtime.py.
        .executableTarget(
            name: "clip-bench",
            dependencies: ["Models", "Checkpoints"],
            path: "Samples/benchmarks/CLIPBench"),
        // Times SPU's scoring batch and masked training step for Samples/benchmarks/spu_step.py.
        .executableTarget(
            name: "spu-bench",
            dependencies: ["Training", "Relevance", "Models", "Checkpoints"],
            path: "Samples/benchmarks/SPUBench"),

        // Coverage-guided fuzzing of every parser (Tests/Fuzz/fuzz.sh builds it with libFuzzer and
        // the address sanitizer; a plain build replays inputs, which the test suite does).
        .target(
            name: "CFuzzDriver",
            path: "Tests/Fuzz/CFuzzDriver"),
        .executableTarget(
            name: "scalpel-fuzz",
            dependencies: ["Checkpoints", "Patches", "Models", "Tensors", "CFuzzDriver"],
            path: "Tests/Fuzz/Harnesses"),

        // Helpers shared by the test targets (running the reference Python).
        .target(
            name: "TestSupport",
            path: "Tests/Support"),
        .testTarget(
            name: "TensorsTests",
            dependencies: ["Tensors"]),
        .testTarget(
            name: "CheckpointsTests",
            dependencies: ["Checkpoints", "Tensors", "TestSupport"],
            resources: [.copy("Python")]),
        .testTarget(
            name: "PatchesTests",
            dependencies: ["Patches", "Checkpoints", "Tensors", "TestSupport"]),
        .testTarget(
            name: "ModelsTests",
            dependencies: ["Models", "CActivations", "Checkpoints", "Tensors", "TestSupport"]),
        .testTarget(
            name: "RelevanceTests",
            dependencies: ["Relevance", "Models", "Checkpoints", "Tensors", "TestSupport"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Models", "Checkpoints", "Tensors", "TestSupport"]),
        .testTarget(
            name: "CLITests",
            // Depending on the executables makes `swift test` build them; the tests run them.
            dependencies: ["scalpel", "scalpel-fuzz", "Patches", "Checkpoints", "Tensors", "TestSupport"]),
    ]
)
