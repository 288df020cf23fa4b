// swift-tools-version:6.1
import PackageDescription

// Microbenchmarks of Swerve's per-request building blocks, with ordo-one/benchmark.
//
//   cd Benchmarks && swift package --allow-writing-to-package-directory benchmark
//
// A separate package so that the server's own build and `swift test` never resolve or compile the benchmark
// tooling. It depends on the server package by path (`..`) and needs its library products SwerveHTTP,
// SwerveFiles and SwerveCompression.
//
// `traits: ["MallocInterposer"]` turns on the malloc counters (mallocCountTotal) and, by naming the traits
// explicitly, leaves out the package's default "RuntimeInterposer" trait, whose Linux/Swift 6.3 ARC interposer
// package is not available here.
let package = Package(
    name: "SwerveBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swerve", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "SwerveBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SwerveHTTP", package: "swerve"),
                .product(name: "SwerveFiles", package: "swerve"),
                .product(name: "SwerveCompression", package: "swerve"),
            ],
            path: "Benchmarks/SwerveBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        )
    ]
)
