import Foundation
import Testing
@testable import SwerveCompression

/// The `br` (RFC 7932) and `zstd` (RFC 8878, RFC 9659) encoders, each body decoded by the reference command-line tool
/// (`brotli -d`, `zstd -d`: Debian's brotli and zstd packages, installed by .ci/run) and compared byte for byte.
@Suite("brotli and zstd encoders")
struct BrotliZstdTests {
    /// Runs `tool arguments` on `input` (a temporary file) and returns what it wrote to standard output.
    static func decode(_ tool: String, _ arguments: [String], _ input: [UInt8]) throws -> (output: [UInt8], status: Int32) {
        let path = NSTemporaryDirectory() + "swerve-codec-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(input).write(to: URL(fileURLWithPath: path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/" + tool)
        process.arguments = arguments + [path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (Array(data), process.terminationStatus)
    }

    /// The sizes: empty, 1 byte, 256 B, 1 MiB of text, and incompressible bytes.
    static let inputs: [(String, [UInt8])] = [
        ("empty", []), ("1 byte", [0x41]), ("256 B", textLike(256, seed: 5)), ("1 MiB text", textLike(1 << 20, seed: 6)),
        ("200 KiB incompressible", randomBytes(200 * 1024, seed: 7)),
    ]

    @Test("brotli bodies decode to the exact input, at the first-pass and the recompression quality", arguments: [4, 11])
    func brotliRoundTrip(quality: Int32) throws {
        let encoder = try BrotliEncoder(quality: quality)
        for (name, input) in Self.inputs {
            let body = try input.withUnsafeBytes { try encoder.compress($0, text: name.contains("text")) }
            let decoded = try Self.decode("brotli", ["-d", "-c"], body)
            #expect(decoded.status == 0, "\(name)")
            #expect(decoded.output == input, "\(name): \(decoded.output.count) bytes decoded of \(input.count)")
            if name == "1 MiB text" { #expect(body.count < input.count / 4) }
        }
    }

    @Test("zstd frames decode to the exact input, at the first-pass and the recompression level", arguments: [3, 19])
    func zstdRoundTrip(level: Int32) throws {
        let encoder = try ZstdEncoder(level: level)
        for (name, input) in Self.inputs {
            let body = try input.withUnsafeBytes { try encoder.compress($0) }
            let decoded = try Self.decode("zstd", ["-d", "-c", "-q"], body)
            #expect(decoded.status == 0, "\(name)")
            #expect(decoded.output == input, "\(name): \(decoded.output.count) bytes decoded of \(input.count)")
        }
    }

    @Test("RFC 9659 §3: a zstd body's window is at most 8 MB, also for a 9 MiB input at level 20 (whose own window is larger); the frame names its size")
    func zstdWindow() throws {
        // Repeated text, so the high level runs fast; its matches span the whole input, so the window is the level's.
        let block = textLike(1 << 20, seed: 8)
        let input = Array((0..<9).map { _ in block }.joined())
        let body = try input.withUnsafeBytes { try ZstdEncoder(level: 20).compress($0) }
        // `zstd -lv` describes the frame: its Window Size and Decompressed Size.
        let listed = try Self.decode("zstd", ["-lv"], body)
        let text = String(decoding: listed.output, as: UTF8.self)
        let window = try #require(text.split(separator: "\n").first { $0.contains("Window Size") })
        #expect(window.contains("8.00 MiB") || window.contains("(8388608 B)"), "\(window)")
        #expect(text.contains("\(input.count) B"), "\(text)")
        let decoded = try Self.decode("zstd", ["-d", "-c", "-q", "--memory=8MB"], body)
        #expect(decoded.status == 0 && decoded.output == input)
    }

    @Test("levels outside the codec's range are refused", arguments: [-1, 12])
    func brotliLevels(quality: Int32) {
        #expect(throws: CompressionError.self) { _ = try BrotliEncoder(quality: quality) }
    }

    @Test("zstd levels outside 1…22 are refused", arguments: [0, 23])
    func zstdLevels(level: Int32) {
        #expect(throws: CompressionError.self) { _ = try ZstdEncoder(level: level) }
    }
}
