// swift-tools-version:6.1
import PackageDescription

// One module per layer (SwiftNIO style):
//   CSwerveSys   – the few Linux declarations Swift's Glibc module does not import (epoll, accept4, openat2, sendfile,
//                  memfd_create and file seals).
//   SwerveEngine – the epoll connection engine, TLS included (through SwerveTLS). Knows nothing about HTTP.
//   SwerveHTTP   – pure HTTP: parser, MIME table, negotiation, preconditions, ranges, serialisation. No system
//                  calls and no clock: it is given facts and returns decisions.
//   SwerveFiles  – everything that touches the disk: file identity, the document root and its re-resolution, the
//                  openat2 resolver, the open-file cache, the sidecar index, loading mime.types (the repository's
//                  copy is compiled in).
//   CZlib        – the system zlib (zlib1g-dev).
//   CZopfli      – the system zopfli (libzopfli-dev): recompresses cached gzip bodies smaller, in the background.
//   CBrotli      – the system brotli encoder (libbrotli-dev, libbrotlienc): the `br` coding (issue 18).
//   CZstd        – the system Zstandard (libzstd-dev): the `zstd` coding (issue 18).
//   SwerveCompression – gzip, brotli and zstd encoding and the byte-bounded LRU of compressed bodies (large ones in
//                  sealed memfds).
//   COpenSSL     – the system OpenSSL 3 (libssl-dev): TLS for HTTPS and HTTP/2 (issue 17), the library nginx, h2o,
//                  curl and Apache use; not a Swift TLS stack.
//   SwerveTLS    – Swerve's TLS context: certificate and key loading, protocol versions, ciphers, ALPN.
//   CNghttp2     – the system libnghttp2 (libnghttp2-dev): HTTP/2 framing, HPACK, flow control (issue 17), the library
//                  curl and Apache httpd use.
//   SwerveHTTP2  – one HTTP/2 server session on nghttp2, with the limits a public server needs; no sockets, no clock.
//   SwerveServer – glues the HTTP pipeline onto the engine; the configuration a user sets.
//   SwerveCLI    – the command-line options: one table that both parses the flags and writes `--help`.
//   swerve       – the thin command-line executable.
/// Release builds skip Swift's dynamic exclusivity checks in the per-request code: the hot path keeps its mutable
/// state in plain structs behind raw pointers and per-loop objects, and a profile showed the checks at ~1.5% of a
/// small-file request. Debug builds (and so the tests) keep them. SwerveHTTP2, SwerveTLS and SwerveCompression skip
/// them too since 2026-12-03: an HTTP/2 profile showed swift_beginAccess/endAccess and their thread-local access set in
/// every nghttp2 callback; HTTP/2 1 KiB at 35% of a core, two A/Bs of 8 and 10 rotated 4 s rounds: ×1.069 and ×1.112
/// req/s; HTTP/1.1 cached gzip ×0.999 (10 rounds), no change.
let hotPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "swerve",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "swerve", targets: ["swerve"]),
        .library(name: "SwerveServer", targets: ["SwerveServer"]),
        // For the microbenchmarks in Benchmarks/ (a separate package that depends on this one by path).
        .library(name: "SwerveHTTP", targets: ["SwerveHTTP"]),
        .library(name: "SwerveFiles", targets: ["SwerveFiles"]),
        .library(name: "SwerveCompression", targets: ["SwerveCompression"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(name: "CSwerveSys"),
        .target(name: "SwerveEngine", dependencies: ["CSwerveSys", "SwerveTLS"], swiftSettings: hotPathSettings),
        .target(name: "SwerveHTTP", swiftSettings: hotPathSettings),
        .target(name: "SwerveFiles", dependencies: ["CSwerveSys", "SwerveHTTP"], swiftSettings: hotPathSettings),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZopfli", providers: [.apt(["libzopfli-dev"])]),
        .systemLibrary(name: "CBrotli", pkgConfig: "libbrotlienc", providers: [.apt(["libbrotli-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // zopfli's static archive (libzopfli-dev ships one), linked by exact name: a server then needs no libzopfli1,
        // which unlike zlib is not on every machine.
        .target(
            name: "SwerveCompression", dependencies: ["CZlib", "CZopfli", "CBrotli", "CZstd", "SwerveHTTP", "SwerveFiles", "CSwerveSys"],
            swiftSettings: hotPathSettings,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-l:libzopfli.a"])]
        ),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "SwerveTLS", dependencies: ["COpenSSL"], swiftSettings: hotPathSettings),
        .systemLibrary(name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .target(name: "SwerveHTTP2", dependencies: ["CNghttp2"], swiftSettings: hotPathSettings),
        .target(
            name: "SwerveServer",
            dependencies: [
                "SwerveEngine", "SwerveHTTP", "SwerveHTTP2", "SwerveFiles", "SwerveCompression", "SwerveTLS", "CSwerveSys",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPathSettings
        ),
        // Hand-written rather than swift-argument-parser: that package links FoundationEssentials into the binary,
        // which for nineteen options doubled the static build (27.6 MB against 13.4 MB) and raised its idle RSS
        // from 7.9 to 10.4 MiB, over the 10 MB target.
        .target(name: "SwerveCLI", dependencies: ["SwerveServer", "SwerveHTTP"]),
        .executableTarget(
            name: "swerve",
            dependencies: [
                "SwerveCLI",
                "SwerveServer",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Helpers shared by the test targets (seeded generator, throwaway TLS certificates); not part of any product.
        .target(name: "SwerveTestSupport", dependencies: ["CNghttp2"], path: "Tests/SwerveTestSupport"),
        .testTarget(name: "SwerveHTTPTests", dependencies: ["SwerveHTTP", "SwerveTestSupport"]),
        .testTarget(name: "SwerveFilesTests", dependencies: ["SwerveFiles", "SwerveHTTP", "CSwerveSys", "SwerveTestSupport"]),
        .testTarget(name: "SwerveCompressionTests", dependencies: ["SwerveCompression", "SwerveFiles", "SwerveHTTP", "CZlib", "CZstd", "CSwerveSys", "SwerveTestSupport"]),
        .testTarget(name: "SwerveCLITests", dependencies: ["SwerveCLI", "SwerveServer"]),
        .testTarget(name: "SwerveTLSTests", dependencies: ["SwerveTLS", "COpenSSL", "SwerveTestSupport"]),
        .testTarget(name: "SwerveHTTP2Tests", dependencies: ["SwerveHTTP2", "CNghttp2", "SwerveTestSupport"]),
        .testTarget(name: "SwerveServerTests", dependencies: ["SwerveServer", "SwerveEngine", "SwerveHTTP", "SwerveFiles", "SwerveCompression", "SwerveTLS", "CZlib", "CSwerveSys", "COpenSSL", "CNghttp2", "SwerveTestSupport"]),
    ]
)
