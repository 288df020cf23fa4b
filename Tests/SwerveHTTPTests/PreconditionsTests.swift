import SwerveTestSupport
import Testing
@testable import SwerveHTTP

// MARK: - Fixtures

/// The selected representation: Last-Modified Sun, 06 Nov 1994 08:49:37 GMT, strong tag below.
private let lmSeconds = PreconditionFixtures.lastModified
private let currentTag = PreconditionFixtures.tag
private let gzipTag = "\"1a-2b-3c.4d-gz\""
/// The server clock: about 11.6 days after Last-Modified.
private let serverClock = lmSeconds + 1_000_000

private let lmDate = HTTPDate.string(lmSeconds)            // == Last-Modified
private let olderDate = HTTPDate.string(lmSeconds - 1)     // one second before
private let newerDate = HTTPDate.string(lmSeconds + 3600)  // after, still before now
private let futureDate = HTTPDate.string(serverClock + 86_400)        // after the server clock


struct PreconditionRow: Sendable, CustomTestStringConvertible {
    var section: String
    var method: HTTPMethod = .get
    var ifMatch: [String] = []
    var ifNoneMatch: [String] = []
    var ifModifiedSince: String? = nil
    var ifUnmodifiedSince: String? = nil
    var lastModified: Int? = PreconditionFixtures.lastModified
    var etag: String = PreconditionFixtures.tag
    var expected: PreconditionOutcome

    var testDescription: String { section }
}

/// Exposed to the row type's defaults (file-private globals cannot be default arguments of an internal type).
enum PreconditionFixtures {
    static let lastModified = 784_111_777
    static let tag = "\"1a-2b-3c.4d\""
}

private func evaluate(_ row: PreconditionRow) -> PreconditionOutcome {
    let arena = Arena()
    let input = PreconditionInput(
        ifMatch: arena.lines(row.ifMatch), ifNoneMatch: arena.lines(row.ifNoneMatch),
        ifModifiedSince: row.ifModifiedSince.map(arena.bytes), ifUnmodifiedSince: row.ifUnmodifiedSince.map(arena.bytes))
    return withExtendedLifetime(arena) {
        Preconditions.evaluate(
            method: row.method, input: input, currentETag: arena.bytes(row.etag), lastModified: row.lastModified,
            now: serverClock)
    }
}

private func ifRange(_ value: String, etag: String = currentTag, lastModified: Int? = lmSeconds) -> Bool {
    let arena = Arena()
    return withExtendedLifetime(arena) {
        IfRange.evaluate(arena.bytes(value), currentETag: arena.bytes(etag), lastModified: lastModified, now: serverClock)
    }
}

private let rows: [PreconditionRow] = [
    // §13.1.1 If-Match: strong comparison.
    .init(section: "§13.1.1 If-Match exact tag → proceed", ifMatch: [currentTag], expected: .proceed),
    .init(section: "§13.1.1 If-Match other tag → 412", ifMatch: ["\"zz\""], expected: .preconditionFailed),
    .init(section: "§13.1.1 If-Match * → proceed (a current representation exists)", ifMatch: ["*"],
          expected: .proceed),
    .init(section: "§13.1.1 If-Match weak W/ tag never matches strongly → 412", ifMatch: ["W/\(currentTag)"],
          expected: .preconditionFailed),
    .init(section: "§13.1.1 If-Match list, match second → proceed", ifMatch: ["\"x\", \(currentTag)"],
          expected: .proceed),
    .init(section: "§13.1.1 If-Match several field lines, match in the last → proceed",
          ifMatch: ["\"x\"", "\"y\",\"z\"", currentTag], expected: .proceed),
    .init(section: "§13.1.1 If-Match empty field value → 412", ifMatch: [""], expected: .preconditionFailed),
    .init(section: "§13.1.1 If-Match garbage element skipped, later tag matches → proceed",
          ifMatch: ["xyz\"q, \(currentTag)"], expected: .proceed),
    .init(section: "§13.1.1 If-Match unquoted tag is not an entity-tag → 412", ifMatch: ["1a-2b-3c.4d"],
          expected: .preconditionFailed),
    .init(section: "§13.1.1 If-Match tag followed by junk is not a match → 412", ifMatch: ["\(currentTag)x"],
          expected: .preconditionFailed),
    .init(section: "§13.1.1 If-Match prefix of the tag → 412", ifMatch: ["\"1a-2b-3c\""],
          expected: .preconditionFailed),
    .init(section: "§13.1.1 If-Match mismatch on HEAD → 412", method: .head, ifMatch: ["\"zz\""],
          expected: .preconditionFailed),
    .init(section: "§13.1.1 If-Match gzip variant tag vs identity current → 412", ifMatch: [gzipTag],
          expected: .preconditionFailed),
    .init(section: "§13.1.1 If-Match gzip variant tag when the gzip variant is selected → proceed", ifMatch: [gzipTag],
          etag: gzipTag, expected: .proceed),

    // §13.1.4 If-Unmodified-Since.
    .init(section: "§13.1.4 If-Unmodified-Since = Last-Modified → proceed", ifUnmodifiedSince: lmDate,
          expected: .proceed),
    .init(section: "§13.1.4 If-Unmodified-Since before Last-Modified → 412", ifUnmodifiedSince: olderDate,
          expected: .preconditionFailed),
    .init(section: "§13.1.4 If-Unmodified-Since invalid → ignored → proceed", ifUnmodifiedSince: "yesterday",
          expected: .proceed),
    .init(section: "§13.1.4 If-Unmodified-Since list of dates → ignored → proceed",
          ifUnmodifiedSince: "\(olderDate), \(olderDate)", expected: .proceed),
    .init(section: "§13.1.4 If-Unmodified-Since, no modification date available → ignored → proceed",
          ifUnmodifiedSince: olderDate, lastModified: nil, expected: .proceed),
    .init(section: "§13.1.4 If-Unmodified-Since ignored when If-Match is present (and matches) → proceed",
          ifMatch: [currentTag], ifUnmodifiedSince: olderDate, expected: .proceed),

    // §13.1.2 If-None-Match: weak comparison.
    .init(section: "§13.1.2 If-None-Match exact tag, GET → 304", ifNoneMatch: [currentTag], expected: .notModified),
    .init(section: "§13.1.2 If-None-Match exact tag, HEAD → 304", method: .head, ifNoneMatch: [currentTag],
          expected: .notModified),
    .init(section: "§13.1.2 If-None-Match exact tag, other method → 412", method: .other, ifNoneMatch: [currentTag],
          expected: .preconditionFailed),
    .init(section: "§13.1.2 If-None-Match W/ tag matches weakly → 304", ifNoneMatch: ["W/\(currentTag)"],
          expected: .notModified),
    .init(section: "§13.1.2 If-None-Match * → 304", ifNoneMatch: ["*"], expected: .notModified),
    .init(section: "§13.1.2 If-None-Match other tag → proceed", ifNoneMatch: ["\"zz\""], expected: .proceed),
    .init(section: "§13.1.2 If-None-Match list, match third → 304",
          ifNoneMatch: ["\"a\", W/\"b\",\t\(currentTag)"], expected: .notModified),
    .init(section: "§13.1.2 If-None-Match several field lines → 304", ifNoneMatch: ["\"a\"", "W/\(currentTag)"],
          expected: .notModified),
    .init(section: "§13.1.2 If-None-Match comma inside an opaque-tag does not split it → 304",
          ifNoneMatch: ["\"a,b\", \(currentTag)"], expected: .notModified),
    .init(section: "§13.1.2 If-None-Match empty elements ignored → 304", ifNoneMatch: [" , ,\(currentTag),,"],
          expected: .notModified),
    .init(section: "§13.1.2 If-None-Match identity tag while the gzip variant is selected → proceed",
          ifNoneMatch: [currentTag], etag: gzipTag, expected: .proceed),
    .init(section: "§13.1.2 If-None-Match lower-case w/ is not a weak prefix → proceed",
          ifNoneMatch: ["w/\(currentTag)"], expected: .proceed),
    .init(section: "§13.1.2 If-None-Match unterminated tag → proceed", ifNoneMatch: ["\"1a-2b-3c.4d"],
          expected: .proceed),

    // §13.1.3 If-Modified-Since.
    .init(section: "§13.1.3 If-Modified-Since = Last-Modified → 304", ifModifiedSince: lmDate, expected: .notModified),
    .init(section: "§13.1.3 If-Modified-Since after Last-Modified → 304", ifModifiedSince: newerDate,
          expected: .notModified),
    .init(section: "§13.1.3 If-Modified-Since before Last-Modified → proceed", ifModifiedSince: olderDate,
          expected: .proceed),
    .init(section: "§13.1.3 If-Modified-Since later than the server clock → ignored → proceed",
          ifModifiedSince: futureDate, expected: .proceed),
    .init(section: "§13.1.3 If-Modified-Since invalid → ignored → proceed", ifModifiedSince: "not-a-date",
          expected: .proceed),
    .init(section: "§13.1.3 If-Modified-Since with more than one member → ignored → proceed",
          ifModifiedSince: "\(lmDate), \(lmDate)", expected: .proceed),
    .init(section: "§13.1.3 If-Modified-Since on a non-GET/HEAD method → ignored → proceed", method: .other,
          ifModifiedSince: lmDate, expected: .proceed),
    .init(section: "§13.1.3 If-Modified-Since, no modification date available → ignored → proceed",
          ifModifiedSince: lmDate, lastModified: nil, expected: .proceed),
    .init(section: "§13.1.3 If-Modified-Since in rfc850 format → 304",
          ifModifiedSince: "Sunday, 06-Nov-94 08:49:37 GMT", expected: .notModified),
    .init(section: "§13.1.3 If-Modified-Since in asctime format → 304", ifModifiedSince: "Sun Nov  6 08:49:37 1994",
          expected: .notModified),
    .init(section: "§13.1.3 If-Modified-Since on HEAD → 304", method: .head, ifModifiedSince: lmDate,
          expected: .notModified),

    // §13.2.2 order of evaluation.
    .init(section: "§13.2.2 nginx bug: matching If-None-Match + old If-Modified-Since → 304 (IMS ignored)",
          ifNoneMatch: [currentTag], ifModifiedSince: olderDate, expected: .notModified),
    .init(section: "§13.2.2 nginx bug: non-matching If-None-Match + recent If-Modified-Since → 200 (IMS ignored)",
          ifNoneMatch: ["\"old-tag\""], ifModifiedSince: newerDate, expected: .proceed),
    .init(section: "§13.2.2 step 1 before step 3: failing If-Match + matching If-None-Match → 412",
          ifMatch: ["\"zz\""], ifNoneMatch: [currentTag], expected: .preconditionFailed),
    .init(section: "§13.2.2 step 2 before step 3: failing If-Unmodified-Since + matching If-None-Match → 412",
          ifNoneMatch: [currentTag], ifUnmodifiedSince: olderDate, expected: .preconditionFailed),
    .init(section: "§13.2.2 step 1 true then step 3 false: If-Match and If-None-Match both match, GET → 304",
          ifMatch: [currentTag], ifNoneMatch: [currentTag], expected: .notModified),
    .init(section: "§13.2.2 step 2 true then step 4 false: If-Unmodified-Since ok + If-Modified-Since → 304",
          ifModifiedSince: lmDate, ifUnmodifiedSince: lmDate, expected: .notModified),
    .init(section: "§13.2.2 If-Match * and If-None-Match *, GET → 304", ifMatch: ["*"], ifNoneMatch: ["*"],
          expected: .notModified),
    .init(section: "§13.2.1 OPTIONS ignores preconditions → proceed", method: .options, ifMatch: ["\"zz\""],
          ifNoneMatch: [currentTag], expected: .proceed),
    .init(section: "§13.2.2 no conditional fields → proceed", expected: .proceed),
]

@Suite("Preconditions")
struct PreconditionsTests {
    @Test("RFC 9110 §13.1.1–§13.1.4, §13.2.2 table", arguments: rows)
    func table(_ row: PreconditionRow) {
        #expect(evaluate(row) == row.expected)
    }

    @Test("FieldLines holds 8 lines inline; more are dropped yet keep the field present")
    func fieldLinesOverflow() {
        let arena = Arena()
        withExtendedLifetime(arena) {
            var lines = FieldLines()
            #expect(!lines.isPresent)
            for _ in 0..<FieldLines.capacity { lines.append(arena.bytes("\"nope\"")) }
            lines.append(arena.bytes(currentTag)) // the 9th line: dropped
            #expect(lines.count == 8 && lines.droppedCount == 1 && lines.isPresent)
            let tag = arena.bytes(currentTag)
            // If-None-Match: dropped match → full 200 (safe).
            let inm = PreconditionInput(ifNoneMatch: lines)
            #expect(Preconditions.evaluate(method: .get, input: inm, currentETag: tag, lastModified: lmSeconds,
                                           now: serverClock) == .proceed)
            // If-Match: dropped match → 412 (conservative).
            let im = PreconditionInput(ifMatch: lines)
            #expect(Preconditions.evaluate(method: .get, input: im, currentETag: tag, lastModified: lmSeconds,
                                           now: serverClock) == .preconditionFailed)
            #expect(PreconditionInput().isEmpty && !inm.isEmpty)
        }
    }

    struct IfRangeRow: Sendable, CustomTestStringConvertible {
        let section: String
        let value: String
        var etag: String = PreconditionFixtures.tag
        var lastModified: Int? = PreconditionFixtures.lastModified
        let expected: Bool
        var testDescription: String { section }
    }

    @Test("RFC 9110 §13.1.5 If-Range", arguments: [
        IfRangeRow(section: "§13.1.5 same strong tag → true", value: currentTag, expected: true),
        IfRangeRow(section: "§13.1.5 weak tag never matches → false", value: "W/\(currentTag)", expected: false),
        IfRangeRow(section: "§13.1.5 other tag → false", value: "\"zz\"", expected: false),
        IfRangeRow(section: "§13.1.5 identity tag vs gzip variant → false", value: currentTag, etag: gzipTag,
                   expected: false),
        IfRangeRow(section: "§13.1.5 a list is not an entity-tag → false", value: "\(currentTag), \"zz\"",
                   expected: false),
        IfRangeRow(section: "§13.1.5 tag with trailing junk → false", value: "\(currentTag)x", expected: false),
        IfRangeRow(section: "§13.1.5 unterminated tag → false", value: "\"1a-2b-3c.4d", expected: false),
        IfRangeRow(section: "§13.1.5 date equal to Last-Modified → true", value: lmDate, expected: true),
        IfRangeRow(section: "§13.1.5 date one second later → false (exact match only)",
                   value: HTTPDate.string(lmSeconds + 1), expected: false),
        IfRangeRow(section: "§13.1.5 date one second earlier → false", value: olderDate, expected: false),
        IfRangeRow(section: "§13.1.5 rfc850 date equal → true", value: "Sunday, 06-Nov-94 08:49:37 GMT",
                   expected: true),
        IfRangeRow(section: "§13.1.5 invalid date → false", value: "Sun, 06 Nov 1994", expected: false),
        IfRangeRow(section: "§13.1.5 date without Last-Modified → false", value: lmDate, lastModified: nil,
                   expected: false),
        IfRangeRow(section: "§13.1.5 empty → false", value: "", expected: false),
        IfRangeRow(section: "§13.1.5 * → false", value: "*", expected: false),
    ])
    func ifRangeTable(_ row: IfRangeRow) {
        #expect(ifRange(row.value, etag: row.etag, lastModified: row.lastModified) == row.expected)
    }

    @Test("Fuzz: random entity-tag lists never trap, and a match needs the exact tag bytes")
    func fuzz() {
        var rng = SplitMix64(state: 0x5EED_1001)
        func next() -> UInt64 { rng.next() }
        let alphabet = Array("\"W/*, \t1a-2b3c.4dxyz\u{0}\u{7F}\u{FF}".utf8)
        let arena = Arena()
        withExtendedLifetime(arena) {
            let tag = arena.bytes(currentTag)
            for _ in 0..<20_000 {
                let n = Int(next() % 40)
                let line = (0..<n).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
                let text = String(decoding: line, as: UTF8.self)
                let input = PreconditionInput(ifMatch: arena.lines([text]), ifNoneMatch: arena.lines([text]))
                let outcome = Preconditions.evaluate(method: .get, input: input, currentETag: tag,
                                                     lastModified: lmSeconds, now: serverClock)
                // A 304 needs If-Match to pass, which needs `*` or the exact strong tag somewhere in the line.
                if outcome == .notModified {
                    #expect(line.contains(0x2A) || text.contains(currentTag))
                }
                _ = ifRange(text)
            }
        }
    }
}
