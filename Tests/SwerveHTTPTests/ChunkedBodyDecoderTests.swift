import Testing
@testable import SwerveHTTP

// MARK: - Table

enum ChunkedOutcome: Sendable, Equatable {
    /// The body ends after this many bytes (the rest is the next request).
    case done(Int)
    /// Every byte belongs to an unfinished body.
    case needMore
    case status(Int)
}

struct ChunkedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: [UInt8]
    let outcome: ChunkedOutcome
    var testDescription: String { name }
}

private func body(_ name: String, _ raw: String, _ outcome: ChunkedOutcome? = nil) -> ChunkedCase {
    let bytes = Array(raw.utf8)
    return ChunkedCase(name: name, raw: bytes, outcome: outcome ?? .done(bytes.count))
}

private let nextRequest = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

let chunkedCases: [ChunkedCase] = [
    // ---- valid ------------------------------------------------------------------------------------------
    body("RFC 9112 §7.1: one chunk and last-chunk", "5\r\nhello\r\n0\r\n\r\n"),
    body("RFC 9112 §7.1: last-chunk only", "0\r\n\r\n"),
    body("RFC 9112 §7.1: last-chunk = 1*(\"0\")", "000\r\n\r\n"),
    body("RFC 9112 §7.1: chunk-size is HEXDIG, either case",
         "A\r\n0123456789\r\na\r\n0123456789\r\n1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n"),
    body("RFC 9112 §7.1: chunk data may contain CR LF", "4\r\n\r\n\r\n\r\n0\r\n\r\n"),
    body("RFC 9112 §7.1.1: chunk extensions are ignored",
         "5;name=value;q=\"a b\"\r\nhello\r\n0;last\r\n\r\n"),
    body("RFC 9112 §7.1.1: BWS before \";\"", "5 \t;ext\r\nhello\r\n0\r\n\r\n"),
    body("RFC 9112 §7.1.2: trailer fields", "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:abc\r\n\r\n"),
    body("RFC 9112 §7.1: 15-digit chunk-size with leading zeros", "000000000000005\r\nhello\r\n0\r\n\r\n"),
    ChunkedCase(
        name: "RFC 9112 §9.3.2: the next pipelined request is left unconsumed",
        raw: Array(("5\r\nhello\r\n0\r\n\r\n" + nextRequest).utf8), outcome: .done(15)),
    ChunkedCase(
        name: "RFC 9112 §7.1: obs-text in chunk data and extensions",
        raw: Array("2;x=".utf8) + [0xC3, 0xA9] + Array("\r\n".utf8) + [0xFF, 0x00] + Array("\r\n0\r\n\r\n".utf8),
        outcome: .done(17)),
    body("RFC 9112 §7.1: unfinished data", "5\r\nhel", .needMore),
    body("RFC 9112 §7.1: unfinished after data CRLF", "5\r\nhello\r\n", .needMore),
    body("RFC 9112 §7.1.2: unfinished trailer section", "0\r\nX: y\r\n", .needMore),
    body("RFC 9112 §7.1: 15 hex digits: a huge chunk, still waiting", "FFFFFFFFFFFFFFF\r\nabc", .needMore),

    // ---- invalid ----------------------------------------------------------------------------------------
    body("RFC 9112 §7.1: chunk-size must be HEXDIG", "G\r\n", .status(400)),
    body("RFC 9112 §7.1: empty chunk-size", "\r\nhello\r\n", .status(400)),
    body("RFC 9112 §7.1: negative chunk-size", "-1\r\n", .status(400)),
    body("RFC 9112 §7.1: 0x prefix is not HEXDIG", "0x5\r\nhello\r\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1: 16 hex digits (overflow guard)", "1000000000000000\r\n", .status(400)),
    body("RFC 9112 §7.1: bare LF after chunk-size", "5\nhello\r\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1: bare CR after chunk-size", "5\rhello\r\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1: whitespace after chunk-size without extension", "5 \r\nhello\r\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1: data longer than chunk-size", "5\r\nhelloX\r\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1: bare LF after chunk data", "5\r\nhello\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1.1: bare LF inside a chunk extension", "5;a\nb\r\nhello\r\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1.1: control character in a chunk extension", "5;a\u{1}\r\nhello\r\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1.1: chunk extension over 4 KiB",
         "5;" + String(repeating: "a", count: 4100) + "\r\nhello\r\n0\r\n\r\n", .status(400)),
    body("RFC 9112 §5.2: obs-fold in the trailer section", "0\r\nX: a\r\n b\r\n\r\n", .status(400)),
    body("RFC 9112 §5.1: whitespace before colon in a trailer field", "0\r\nX : a\r\n\r\n", .status(400)),
    body("RFC 9112 §5: trailer field without colon", "0\r\nX a\r\n\r\n", .status(400)),
    body("RFC 9110 §5.5: CTL in a trailer field value", "0\r\nX: a\u{7F}\r\n\r\n", .status(400)),
    body("RFC 9112 §7.1.2: trailer field over 4 KiB",
         "0\r\nX: " + String(repeating: "a", count: 4100) + "\r\n\r\n", .status(400)),
    body("RFC 6585 §5: trailer section over 16 KiB → 431",
         "0\r\n" + String(repeating: "X: " + String(repeating: "a", count: 1000) + "\r\n", count: 17) + "\r\n",
         .status(431)),
    body("RFC 9112 §7.1: bare CR ending the body", "0\r\n\r\r", .status(400)),
    body("RFC 9112 §7.1: bare LF ending the body", "0\r\n\n", .status(400)),
]

// MARK: - Helpers

/// Feeds `raw` in pieces ending at `splits` (increasing); returns the outcome and total bytes consumed.
private func feed(_ raw: [UInt8], splits: [Int]) -> (ChunkedOutcome, Int) {
    var decoder = ChunkedBodyDecoder()
    var offset = 0
    return raw.withUnsafeBytes { buf in
        for end in splits + [raw.count] where end >= offset {
            switch decoder.consume(UnsafeRawBufferPointer(rebasing: buf[offset..<end])) {
            case .needMore(let used):
                guard used == end - offset else { return (.status(-1), offset) }  // must take everything
                offset = end
            case .done(let used):
                return (.done(offset + used), offset + used)
            case .error(let e):
                return (.status(e.status.code), offset)
            }
        }
        return (.needMore, offset)
    }
}

// MARK: - Tests

@Suite("ChunkedBodyDecoder (RFC 9112 §7.1)")
struct ChunkedBodyDecoderTests {
    @Test("RFC 9112 §7.1: chunked body → outcome (table)", arguments: chunkedCases)
    func table(_ row: ChunkedCase) {
        #expect(feed(row.raw, splits: []).0 == row.outcome)
    }

    @Test("RFC 9112 §7.1: a split at every byte boundary gives the same result", arguments: chunkedCases)
    func everySplit(_ row: ChunkedCase) {
        let whole = feed(row.raw, splits: [])
        // Every boundary; for the few rows over 2 KiB, the first and last KiB and every 61st in between.
        let count = row.raw.count
        let boundaries =
            count <= 2048
            ? Array(0...count)
            : Array(0..<1024) + Array(stride(from: 1024, to: count - 1024, by: 61)) + Array((count - 1024)...count)
        for cut in boundaries {
            let split = feed(row.raw, splits: [cut])
            #expect(split.0 == whole.0, "split at \(cut)")
        }
    }

    @Test("RFC 9112 §7.1: byte-by-byte feeding gives the same result", arguments: chunkedCases)
    func byteByByte(_ row: ChunkedCase) {
        #expect(feed(row.raw, splits: Array(0..<row.raw.count)).0 == row.outcome)
    }

    @Test("RFC 9112 §9.3.2: after the body, the pipelined request parses")
    func pipelinedAfterBody() {
        let raw = Array(
            ("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "3;x\r\nabc\r\n0\r\nT: v\r\n\r\n" + nextRequest).utf8)
        var parser = RequestParser()
        var decoder = ChunkedBodyDecoder()
        raw.withUnsafeBytes { buf in
            guard case .head(let first) = parser.parse(buf), first.chunked else {
                Issue.record("expected a chunked head")
                return
            }
            let afterHead = UnsafeRawBufferPointer(rebasing: buf[first.headerLength...])
            guard case .done(let used) = decoder.consume(afterHead) else {
                Issue.record("expected the body to end")
                return
            }
            #expect(decoder.isDone && decoder.bodyBytes == 3)
            let rest = UnsafeRawBufferPointer(rebasing: afterHead[used...])
            guard case .head(let second) = parser.parse(rest) else {
                Issue.record("expected the pipelined head")
                return
            }
            #expect(second.path.string(in: rest) == "/next")
            #expect(second.headerLength == rest.count)
        }
    }

    @Test("RFC 9112 §7.1: after .done or .error, further calls repeat the outcome")
    func terminalStates() {
        var decoder = ChunkedBodyDecoder()
        Array("0\r\n\r\nGET".utf8).withUnsafeBytes { buf in
            #expect(decoder.consume(buf) == .done(consumed: 5))
            #expect(decoder.consume(buf) == .done(consumed: 0))
        }
        var broken = ChunkedBodyDecoder()
        Array("Z".utf8).withUnsafeBytes { buf in
            let first = broken.consume(buf)
            #expect(first == .error(ParseError(status: .badRequest, reason: "invalid chunk-size")))
            #expect(broken.consume(buf) == first)
        }
        var empty = ChunkedBodyDecoder()
        #expect(empty.consume(UnsafeRawBufferPointer(start: nil, count: 0)) == .needMore(consumed: 0))
    }

    @Test("RFC 9112 §7.1.3: bodyBytes sums the chunk sizes and saturates")
    func bodyBytes() {
        var decoder = ChunkedBodyDecoder()
        Array("A\r\n0123456789\r\n5\r\nhello\r\n".utf8).withUnsafeBytes { buf in
            #expect(decoder.consume(buf) == .needMore(consumed: buf.count))
        }
        #expect(decoder.bodyBytes == 15)
        var huge = ChunkedBodyDecoder()
        for _ in 0..<10 {
            // Announce 2^60 − 1 bytes ten times; the test resets the state rather than feeding exabytes.
            Array("FFFFFFFFFFFFFFF\r\n".utf8).withUnsafeBytes { buf in _ = huge.consume(buf) }
            huge.state = .sizeFirst  // test-only: pretend the data was skipped
        }
        #expect(huge.bodyBytes == Int.max)
    }

    @Test("RFC 9112 §7.1 robustness: fuzzed chunked bodies never trap; splitting never changes the outcome")
    func fuzz() {
        var rng = ParserFuzzRNG(seed: 0xC4A7_0B0D_1E5E_ED01)
        let seeds = chunkedCases.filter { if case .status = $0.outcome { false } else { true } }.map(\.raw)
        let specials: [UInt8] = [0x0D, 0x0A, 0x20, 0x09, 0x3B, 0x3A, 0x30, 0x46, 0x00, 0x7F, 0xFF, 0x3D, 0x22]
        for _ in 0..<5_000 {
            var input = seeds[rng.below(seeds.count)]
            for _ in 0...rng.below(3) {
                let at = rng.below(input.count + 1)
                switch rng.below(4) {
                case 0: if at < input.count { input[at] = specials[rng.below(specials.count)] }
                case 1: input.insert(specials[rng.below(specials.count)], at: at)
                case 2: if at < input.count { input.remove(at: at) }
                default: if at < input.count { input[at] = rng.byte() }
                }
            }
            let whole = feed(input, splits: [])
            if case .done(let n) = whole.0 { #expect(n <= input.count) }
            let cut = rng.below(input.count + 1)
            #expect(feed(input, splits: [cut]).0 == whole.0, "split at \(cut) of \(input)")
        }
    }
}
