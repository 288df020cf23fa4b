import CZlib
import SwerveTestSupport
import Testing
@testable import SwerveCompression

// MARK: - Helpers


/// `count` bytes of HTML-like text (tags, words, numbers, newlines), the same for the same seed.
func textLike(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    let words = ["<div class=\"item\">", "</div>\n", "<p>", "</p>\n", "<a href=\"/docs/", "\">", "</a>", "the",
                 "static", "file", "server", "swerve", "request", "response", "header", "gzip", "content", "encoding",
                 "Lorem", "ipsum", "dolor", "sit", "amet,", "consectetur", "adipiscing", "elit.", "\t", "  "]
        .map { Array($0.utf8) }
    var rng = SplitMix64(state: seed)
    var out = [UInt8]()
    out.reserveCapacity(count + 32)
    while out.count < count {
        if rng.next() % 16 == 0 {
            out += Array(String(rng.next() % 100_000).utf8)
        } else {
            out += words[Int(rng.next() % UInt64(words.count))]
        }
        out.append(0x20)
    }
    out.removeLast(out.count - count)
    return out
}

/// `count` incompressible bytes, the same for the same seed.
func randomBytes(_ count: Int, seed: UInt64 = 2) -> [UInt8] {
    var rng = SplitMix64(state: seed)
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count {
        withUnsafeBytes(of: rng.next().littleEndian) { out += $0 }
    }
    out.removeLast(out.count - count)
    return out
}

/// A named input: the name, not a megabyte of bytes, is what a test report shows.
struct Sample: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
    var testDescription: String { name }
}

struct GunzipError: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { "\(message) (zlib \(code))" }
}

/// Decodes exactly one gzip member that must span all of `data`. zlib's inflate with windowBits 31 checks the
/// header, the CRC-32 and the length in the trailer. The z_stream lives on the heap: zlib refuses a moved stream.
private func gunzip(_ data: [UInt8]) throws(GunzipError) -> [UInt8] {
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    defer {
        stream.deinitialize(count: 1)
        stream.deallocate()
    }
    // inflateInit2 is a macro Swift does not import; 31 = 15-bit window + gzip framing only.
    var rc = inflateInit2_(stream, 31, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    guard rc == Z_OK else { throw GunzipError(code: rc, message: "inflateInit2 failed") }
    defer { inflateEnd(stream) }

    var out = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    var consumedAll = false
    data.withUnsafeBufferPointer { input in
        stream.pointee.next_in = input.baseAddress
        stream.pointee.avail_in = UInt32(input.count)
        repeat {
            chunk.withUnsafeMutableBufferPointer { piece in
                stream.pointee.next_out = piece.baseAddress
                stream.pointee.avail_out = UInt32(piece.count)
                rc = inflate(stream, Z_NO_FLUSH)
                out += piece[0..<(piece.count - Int(stream.pointee.avail_out))]
            }
        } while rc == Z_OK
        consumedAll = stream.pointee.avail_in == 0
    }
    guard rc == Z_STREAM_END else { throw GunzipError(code: rc, message: "inflate did not reach the end") }
    guard consumedAll else { throw GunzipError(code: rc, message: "bytes after the gzip member") }
    return out
}

private func compress(_ input: [UInt8], level: Int32 = 6) throws -> [UInt8] {
    let encoder = try GzipEncoder(level: level)
    return try input.withUnsafeBytes { buffer in try encoder.compress(buffer) }
}

/// Streams `input` through `encoder` in pieces whose sizes come from `rng` (0…maxPiece, zero-length pieces
/// included), the last call with `finish: true`, and returns the concatenated output.
private func streamed(
    _ input: [UInt8], encoder: GzipEncoder, scratchSize: Int, maxPiece: Int, rng: inout SplitMix64
) throws -> [UInt8] {
    var out = [UInt8]()
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: scratchSize, alignment: 1)
    defer { scratch.deallocate() }
    try input.withUnsafeBytes { (all: UnsafeRawBufferPointer) throws in
        var offset = 0
        while offset < all.count {
            let size = min(Int(rng.next() % UInt64(maxPiece + 1)), all.count - offset)
            let piece = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + size)])
            offset += size
            // Finish together with the last bytes on odd pieces, with a separate empty call otherwise.
            let last = offset == all.count && size % 2 == 1
            try encoder.stream(piece, finish: last, scratch: scratch) { out += $0 }
            if last { return }
        }
        try encoder.stream(UnsafeRawBufferPointer(start: nil, count: 0), finish: true, scratch: scratch) {
            out += $0
        }
    }
    return out
}

// MARK: - Tests

@Suite("GzipEncoder (RFC 1952 over zlib deflate)")
struct GzipTests {
    @Test(
        "One-shot compress round-trips exactly and starts with the gzip magic 1f 8b 08",
        arguments: [
            Sample("empty", []),
            Sample("1 byte", [0x41]),
            Sample("255 bytes of text", textLike(255)),
            Sample("256 bytes of text", textLike(256)),
            Sample("256 zero bytes", [UInt8](repeating: 0, count: 256)),
            Sample("100 KB of text", textLike(100 * 1024)),
            Sample("1 MB random", randomBytes(1 << 20)),
        ]
    )
    func oneShot(_ sample: Sample) throws {
        let input = sample.bytes
        let gz = try compress(input)
        #expect(gz.count >= 18, "header (10) + trailer (8) at least")
        #expect(Array(gz.prefix(3)) == [0x1F, 0x8B, 0x08])
        // RFC 1952 §2.3.1: ISIZE, the input size modulo 2^32, little-endian, is the last 4 bytes.
        let isize = gz.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(isize == UInt32(truncatingIfNeeded: input.count))
        #expect(try gunzip(gz) == input)
        let encoder = try GzipEncoder()
        #expect(gz.count <= encoder.bound(input.count))
    }

    @Test("Text compresses; incompressible data grows only by a bounded overhead")
    func sizes() throws {
        let text = textLike(100 * 1024)
        #expect(try compress(text).count < text.count / 2)
        let random = randomBytes(1 << 20)
        let gz = try compress(random)
        #expect(gz.count < random.count + random.count / 100 + 64)
    }

    @Test(
        "Streaming a 5 MB text in seeded random pieces gunzips to the input",
        arguments: [
            (UInt64(1), 16 * 1024, 100_000),
            (UInt64(2), 64 * 1024, 1_000_000),
            (UInt64(3), 4096, 300),
        ] as [(UInt64, Int, Int)]
    )
    func streaming(_ seed: UInt64, _ scratchSize: Int, _ maxPiece: Int) throws {
        let input = textLike(5 * 1024 * 1024, seed: seed)
        let encoder = try GzipEncoder()
        var rng = SplitMix64(state: seed)
        let gz = try streamed(input, encoder: encoder, scratchSize: scratchSize, maxPiece: maxPiece, rng: &rng)
        #expect(Array(gz.prefix(3)) == [0x1F, 0x8B, 0x08])
        #expect(try gunzip(gz) == input)
    }

    @Test("Streaming with a tiny scratch area (1 and 7 bytes) still produces the whole member")
    func streamingTinyScratch() throws {
        let input = textLike(64 * 1024, seed: 9)
        for scratchSize in [1, 7] {
            let encoder = try GzipEncoder()
            var rng = SplitMix64(state: 10)
            let gz = try streamed(input, encoder: encoder, scratchSize: scratchSize, maxPiece: 5000, rng: &rng)
            #expect(try gunzip(gz) == input, "scratch \(scratchSize)")
        }
    }

    @Test("Streaming an empty input produces an empty gzip member; reset() starts a new member")
    func streamingEmptyAndReset() throws {
        let encoder = try GzipEncoder()
        var rng = SplitMix64(state: 4)
        let empty = try streamed([], encoder: encoder, scratchSize: 1024, maxPiece: 10, rng: &rng)
        #expect(try gunzip(empty) == [])
        for round in 0..<5 {
            try encoder.reset()
            let input = textLike(10_000 + round * 777, seed: UInt64(round))
            let gz = try streamed(input, encoder: encoder, scratchSize: 512, maxPiece: 3000, rng: &rng)
            #expect(try gunzip(gz) == input)
        }
        // A one-shot job resets by itself, even after a finished stream.
        let text = textLike(3000, seed: 77)
        #expect(try gunzip(text.withUnsafeBytes { buffer in try encoder.compress(buffer) }) == text)
    }

    @Test("One encoder reused for 100 one-shot jobs (varied sizes and kinds) round-trips every one")
    func reuse() throws {
        let encoder = try GzipEncoder(level: 6)
        var rng = SplitMix64(state: 5)
        for job in 0..<100 {
            let size = Int(rng.next() % 50_000)
            let input = job % 3 == 0 ? randomBytes(size, seed: UInt64(job)) : textLike(size, seed: UInt64(job))
            let gz = try input.withUnsafeBytes { buffer in try encoder.compress(buffer) }
            #expect(try gunzip(gz) == input, "job \(job), \(size) bytes")
            // The same input again gives the same bytes: nothing leaks from one job into the next.
            let again = try input.withUnsafeBytes { buffer in try encoder.compress(buffer) }
            #expect(again == gz, "job \(job)")
        }
    }

    @Test("A one-shot job after an unfinished stream discards the stream")
    func compressAfterPartialStream() throws {
        let encoder = try GzipEncoder()
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { scratch.deallocate() }
        let partial = textLike(50_000, seed: 6)
        try partial.withUnsafeBytes { buffer in
            try encoder.stream(buffer, finish: false, scratch: scratch) { _ in }
        }
        let input = textLike(20_000, seed: 7)
        let gz = try input.withUnsafeBytes { buffer in try encoder.compress(buffer) }
        #expect(try gunzip(gz) == input)
    }

    @Test("Levels 1, 6 and 9 all round-trip; level 9 is no larger than level 1 on text", arguments: [Int32(1), 6, 9])
    func levels(_ level: Int32) throws {
        let text = textLike(300 * 1024, seed: 8)
        let gz = try compress(text, level: level)
        #expect(try gunzip(gz) == text)
        #expect(try GzipEncoder(level: level).level == level)
        if level == 9 {
            #expect(gz.count <= (try compress(text, level: 1)).count)
        }
    }

    @Test("Level 9 ≤ level 6 ≤ level 1 in size on text")
    func levelOrdering() throws {
        let text = textLike(300 * 1024, seed: 11)
        let sizes = try [Int32(1), 6, 9].map { try compress(text, level: $0).count }
        #expect(sizes[2] <= sizes[1] && sizes[1] <= sizes[0], "\(sizes)")
    }

    @Test("An invalid level throws GzipError", arguments: [Int32(0), -1, 10, 100, .min, .max])
    func invalidLevel(_ level: Int32) {
        #expect(throws: GzipError.self) { _ = try GzipEncoder(level: level) }
    }

    @Test("The test's own gunzip rejects corrupted and truncated members")
    func gunzipRejectsDamage() throws {
        let input = textLike(10_000, seed: 12)
        let gz = try compress(input)
        var corrupted = gz
        corrupted[corrupted.count - 6] ^= 0xFF  // inside the CRC-32
        #expect(throws: GunzipError.self) { _ = try gunzip(corrupted) }
        #expect(throws: GunzipError.self) { _ = try gunzip(Array(gz.dropLast(1))) }
        #expect(throws: GunzipError.self) { _ = try gunzip(gz + [0]) }
    }
}

@Suite("ZopfliGzip (RFC 1952 by zopfli)")
struct ZopfliGzipTests {
    private func zopfli(_ input: [UInt8], iterations: Int32 = 5) -> [UInt8] {
        input.withUnsafeBytes { ZopfliGzip.compress($0, iterations: iterations) }
    }

    @Test("round-trips through zlib's inflate (header, CRC-32 and length checked)",
          arguments: [Sample("empty", []), Sample("1 byte", [0x41]), Sample("text 100 KB", textLike(100_000)),
                      Sample("random 20 KB", randomBytes(20_000))])
    func roundTrip(sample: Sample) throws {
        #expect(try gunzip(zopfli(sample.bytes)) == sample.bytes)
    }

    @Test("RFC 1952 §2.3 header: ID1 ID2 CM=8, no flags, MTIME 0 – equal inputs give equal bytes")
    func header() {
        let input = textLike(10_000)
        let gz = zopfli(input)
        #expect(Array(gz.prefix(8)) == [0x1F, 0x8B, 8, 0, 0, 0, 0, 0])
        #expect(zopfli(input) == gz)
    }

    @Test("on text it is smaller than zlib at level 9 (what the background recompression is for)")
    func smallerThanZlib() throws {
        let input = textLike(100_000)
        let zlib9 = try compress(input, level: 9)
        let z = zopfli(input)
        #expect(z.count < zlib9.count, "zopfli \(z.count) B, zlib -9 \(zlib9.count) B")
    }

    @Test("iterations: 15 up to 256 KiB, 5 above (zopfli's advice for large inputs)")
    func iterations() {
        #expect(ZopfliGzip.iterations(forInputBytes: 0) == 15)
        #expect(ZopfliGzip.iterations(forInputBytes: 256 << 10) == 15)
        #expect(ZopfliGzip.iterations(forInputBytes: (256 << 10) + 1) == 5)
    }
}
