import Foundation
import Testing
@testable import SwerveCompression
import SwerveHTTP
import SwerveTestSupport

/// The `br` (RFC 7932) and `zstd` (RFC 8878, RFC 9659) encoders, each body decoded by the reference command-line tool
/// (`brotli -d`, `zstd -d`: Debian's brotli and zstd packages, installed by .ci/run) and compared byte for byte.
@Suite("brotli and zstd encoders")
struct BrotliZstdTests {
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
            let decoded = try ReferenceDecoder.run("brotli", ["-d", "-c"], body)
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
            let decoded = try ReferenceDecoder.run("zstd", ["-d", "-c", "-q"], body)
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
        let listed = try ReferenceDecoder.run("zstd", ["-lv"], body)
        let text = String(decoding: listed.output, as: UTF8.self)
        let window = try #require(text.split(separator: "\n").first { $0.contains("Window Size") })
        #expect(window.contains("8.00 MiB") || window.contains("(8388608 B)"), "\(window)")
        #expect(text.contains("\(input.count) B"), "\(text)")
        let decoded = try ReferenceDecoder.run("zstd", ["-d", "-c", "-q", "--memory=8MB"], body)
        #expect(decoded.status == 0 && decoded.output == input)
    }

    @Test("RFC 7932 §9.1: the brotli window is the smallest that holds the input (2^bits − 16 bytes), 2^10 … 2^22")
    func brotliWindow() {
        #expect(BrotliEncoder.windowBits(forInputBytes: 0) == 10)
        #expect(BrotliEncoder.windowBits(forInputBytes: 1008) == 10)
        #expect(BrotliEncoder.windowBits(forInputBytes: 1009) == 11)
        #expect(BrotliEncoder.windowBits(forInputBytes: 7333) == 13)
        #expect(BrotliEncoder.windowBits(forInputBytes: (1 << 22) - 16) == 22)
        #expect(BrotliEncoder.windowBits(forInputBytes: 50 << 20) == 22)
    }

    @Test("levels outside the codec's range are refused", arguments: [-1, 12])
    func brotliLevels(quality: Int32) {
        #expect(throws: CompressionError.self) { _ = try BrotliEncoder(quality: quality) }
    }

    @Test("zstd levels outside 1…22 are refused", arguments: [0, 23])
    func zstdLevels(level: Int32) {
        #expect(throws: CompressionError.self) { _ = try ZstdEncoder(level: level) }
    }

    /// `input` through a first-pass stream encoder in pieces of varying sizes (as a stream's 64 KiB reads, and
    /// smaller), the output of every call concatenated.
    static func streamed(_ input: [UInt8], coding: ContentCoding, levels: CompressionLevels) throws -> [UInt8] {
        let encoder = try levels.streamEncoder(for: coding, size: input.count)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { scratch.deallocate() }
        var output: [UInt8] = []
        var offset = 0
        var pieces = [65536, 1, 7000, 300_000, 12]
        repeat {
            let count = min(pieces.first ?? 65536, input.count - offset)
            if !pieces.isEmpty { pieces.removeFirst() }
            let last = offset + count == input.count
            try input.withUnsafeBytes { bytes in
                try encoder.stream(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]), finish: last, scratch: scratch) {
                    output.append(contentsOf: $0)
                }
            }
            offset += count
        } while offset < input.count
        return output
    }

    static let levels = CompressionLevels(gzip: 6, brotli: 5, zstd: 3)

    @Test("streams in pieces decode to the exact input: gzip, br and zstd, through the reference decoders",
          arguments: [ContentCoding.gzip, .br, .zstd])
    func streamRoundTrip(coding: ContentCoding) throws {
        for (name, input) in Self.inputs {
            let body = try Self.streamed(input, coding: coding, levels: Self.levels)
            let decoded = try ReferenceDecoder.decode(body, contentEncoding: coding.name)
            #expect(decoded == input, "\(coding.name) \(name): \(decoded?.count ?? -1) bytes decoded of \(input.count)")
        }
    }

    @Test("RFC 9659 §3: a zstd stream of 9 MiB keeps its window within 8 MB (zstd -d --memory=8MB decodes it)")
    func zstdStreamWindow() throws {
        let input = textLike(9 << 20, seed: 9)
        let body = try Self.streamed(input, coding: .zstd, levels: CompressionLevels(gzip: 6, brotli: 5, zstd: 19))
        #expect(try ReferenceDecoder.decode(body, contentEncoding: "zstd") == input)
    }

    @Test("a zstd stream whose pieces end short of its pledged size fails instead of ending as a well-formed frame")
    func zstdStreamPledge() throws {
        let encoder = try Self.levels.streamEncoder(for: .zstd, size: 1000)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { scratch.deallocate() }
        let input = textLike(500, seed: 10)
        try input.withUnsafeBytes { try encoder.stream($0, finish: false, scratch: scratch) { _ in } }
        #expect(throws: (any Error).self) {
            try input.withUnsafeBytes { try encoder.stream(UnsafeRawBufferPointer(rebasing: $0[0..<100]), finish: true, scratch: scratch) { _ in } }
        }
    }

    @Test("the recompression decodes to the same input and is not larger than the first pass", arguments: [ContentCoding.gzip, .br, .zstd])
    func recompression(coding: ContentCoding) throws {
        let input = textLike(100_000, seed: 11)
        let first = try input.withUnsafeBytes { try Self.levels.compress($0, coding: coding) }
        let second = try input.withUnsafeBytes { try Self.levels.recompress($0, coding: coding) }
        #expect(try ReferenceDecoder.decode(first, contentEncoding: coding.name) == input)
        #expect(try ReferenceDecoder.decode(second, contentEncoding: coding.name) == input)
        #expect(second.count < first.count, "\(coding.name): \(second.count) B recompressed, \(first.count) B first")
        #expect(Self.levels.recompresses(coding))
        #expect(!CompressionLevels(gzip: 6, brotli: 11, zstd: 19).recompresses(coding == .gzip ? .br : coding))
    }
}
