import Testing
@testable import SwerveHTTP

/// RFC 9110 §12.5.1 Accept, for the two choices Swerve makes with it: may an SPA fallback answer (the client named
/// text/html), and does a listing go out as JSON (application/json weighs more than text/html)?
@Suite("AcceptMedia")
struct AcceptMediaTests {
    struct Row: Sendable, CustomTestStringConvertible {
        let lines: [String]
        let html: Bool
        let json: Bool
        var testDescription: String { lines.isEmpty ? "(no Accept)" : lines.joined(separator: " | ") }
    }

    static let rows: [Row] = [
        Row(lines: [], html: false, json: false),
        // What browsers send when they navigate.
        Row(lines: ["text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"], html: true, json: false),
        Row(lines: ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"], html: true, json: false),
        // What scripts, images and curl send.
        Row(lines: ["*/*"], html: false, json: false),
        Row(lines: ["image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"], html: false, json: false),
        Row(lines: ["application/json"], html: false, json: true),
        Row(lines: ["application/json, text/plain, */*"], html: false, json: true),
        Row(lines: ["application/json;q=0.9, text/html"], html: true, json: false),
        Row(lines: ["text/html;q=0.5, application/json"], html: true, json: true),
        Row(lines: ["text/html, application/json"], html: true, json: false),  // a tie is HTML
        Row(lines: ["text/html;q=0"], html: false, json: false),
        Row(lines: ["TEXT/HTML"], html: true, json: false),
        Row(lines: ["application/*"], html: false, json: true),
        Row(lines: ["text/*, application/json;q=0.5"], html: false, json: false),
        Row(lines: ["application/json", "text/html"], html: true, json: false),  // two lines are one list
        // Malformed elements are ignored whole, never read as weight 1.
        Row(lines: ["text/html;q=2"], html: false, json: false),
        Row(lines: ["text/html;q=0.5555"], html: false, json: false),
        Row(lines: ["text/html;q=abc, application/json"], html: false, json: true),
        Row(lines: ["text/html;level"], html: false, json: false),
        Row(lines: ["text/html ; charset=utf-8 ; q=0.7"], html: true, json: false),
        Row(lines: [",,, text/html ,"], html: true, json: false),
        Row(lines: [""], html: false, json: false),
    ]

    @Test("text/html named explicitly (fallback), application/json preferred (listing)", arguments: rows)
    func row(_ row: Row) {
        let arena = Arena()
        var accept = AcceptMedia()
        for line in row.lines { accept.add(arena.bytes(line)) }
        withExtendedLifetime(arena) {
            #expect(accept.explicitlyAcceptsHTML == row.html)
            #expect(accept.prefersJSON == row.json)
        }
    }

    @Test("§12.4.2 qvalue: 0 to 1 with at most three decimals, in thousandths")
    func qvalues() {
        let arena = Arena()
        withExtendedLifetime(arena) {
            for (text, value) in [("1", 1000), ("1.", 1000), ("1.000", 1000), ("0", 0), ("0.5", 500), ("0.25", 250), ("0.001", 1)] as [(String, Int16)] {
                #expect(AcceptMedia.qvalue(arena.bytes(text)) == value, "\(text)")
            }
            for text in ["", "2", "1.5", "0.1234", ".5", "0,5", "-0"] {
                #expect(AcceptMedia.qvalue(arena.bytes(text)) == nil, "\(text)")
            }
        }
    }

    @Test("fuzz: random Accept values never trap")
    func fuzz() {
        var state: UInt64 = 0xACCE_9700
        let alphabet = Array("text/html application/json*;q=0.5,\t 1".utf8) + [0, 0xFF, 0x22]
        let arena = Arena()
        withExtendedLifetime(arena) {
            for _ in 0..<20_000 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let length = Int(state >> 58)
                var bytes: [UInt8] = []
                var s = state
                for _ in 0..<length {
                    s = s &* 6364136223846793005 &+ 1442695040888963407
                    bytes.append(alphabet[Int(s >> 33) % alphabet.count])
                }
                var accept = AcceptMedia()
                accept.add(arena.bytes(String(decoding: bytes, as: UTF8.self)))
                _ = accept.prefersJSON
                _ = accept.explicitlyAcceptsHTML
            }
        }
    }
}
