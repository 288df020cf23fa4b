import Testing
@testable import SwerveHTTP

/// The planner's four questions, without sockets or files (RFC 9110 §9, §12.5.3, §13.2.2, §14, §15.4.2).
@Suite("ResponsePlanner")
struct ResponsePlannerTests {
    typealias Facts = ResponsePlanner.RepresentationFacts

    // MARK: 1. Route

    @Test("§9.1 / §9.3.7 / §15.5.6: GET and HEAD are resources, OPTIONS gets Allow, known methods 405, unknown 501")
    func route() {
        #expect(ResponsePlanner.route(.get, recognized: true) == .resource)
        #expect(ResponsePlanner.route(.head, recognized: true) == .resource)
        #expect(ResponsePlanner.route(.options, recognized: true) == .options)
        #expect(ResponsePlanner.route(.other, recognized: true) == .methodNotAllowed)
        #expect(ResponsePlanner.route(.other, recognized: false) == .notImplemented)
    }

    // MARK: 2. Target

    @Test("§15.4.2: a directory without its slash is redirected; a missing name is 404; a refused one keeps its status")
    func target() {
        #expect(ResponsePlanner.target(.file) == .file)
        #expect(ResponsePlanner.target(.directoryWithoutSlash) == .redirectToDirectory)
        #expect(ResponsePlanner.target(.missing) == .error(.notFound))
        #expect(ResponsePlanner.target(.refused(.forbidden)) == .error(.forbidden))
        #expect(ResponsePlanner.target(.refused(.internalServerError)) == .error(.internalServerError))
    }

    @Test("SPA fallback: a missing name, GET or HEAD, from a client naming text/html, with --fallback; nothing else")
    func fallback() {
        let on = ResponsePlanner.MissingPolicy(hasFallback: true)
        #expect(ResponsePlanner.target(.missing, method: .get, acceptsHTML: true, missing: on) == .fallback)
        #expect(ResponsePlanner.target(.missing, method: .head, acceptsHTML: true, missing: on) == .fallback)
        // A script or an image asking for a missing asset gets its 404, never a page.
        #expect(ResponsePlanner.target(.missing, method: .get, acceptsHTML: false, missing: on) == .error(.notFound))
        // Without --fallback, or for what exists but is refused, or a directory without its slash: unchanged.
        #expect(ResponsePlanner.target(.missing, method: .get, acceptsHTML: true) == .error(.notFound))
        #expect(ResponsePlanner.target(.refused(.forbidden), method: .get, acceptsHTML: true, missing: on) == .error(.forbidden))
        #expect(ResponsePlanner.target(.directoryWithoutSlash, method: .get, acceptsHTML: true, missing: on) == .redirectToDirectory)
        #expect(ResponsePlanner.target(.file, method: .get, acceptsHTML: true, missing: on) == .file)
    }

    // MARK: 3. Representation

    static let everything = Facts(compressible: true, cached: true, stream: true, sidecars: [.gzip, .br, .zstd])

    struct RepresentationRow: Sendable, CustomTestStringConvertible {
        let name: String
        let accept: [String]
        let facts: Facts
        var preference = EncodingPreference.standard
        let expected: ResponsePlanner.Representation
        var testDescription: String { name }
    }

    static let representationRows: [RepresentationRow] = [
        RepresentationRow(name: "no Accept-Encoding → identity, even with every coding at hand", accept: [], facts: everything, expected: .identity),
        RepresentationRow(name: "gzip → the sidecar beats the cached body", accept: ["gzip"], facts: everything, expected: .sidecar(.gzip)),
        RepresentationRow(name: "gzip, no sidecar → the cached body", accept: ["gzip"],
                          facts: Facts(compressible: true, cached: true, stream: true), expected: .cached(.gzip)),
        RepresentationRow(name: "gzip, nothing cacheable → a stream", accept: ["gzip"],
                          facts: Facts(compressible: true, stream: true), expected: .stream(.gzip)),
        RepresentationRow(name: "gzip, no way to compress → identity", accept: ["gzip"], facts: Facts(compressible: true), expected: .identity),
        RepresentationRow(name: "br and gzip equal → br (the sidecar)", accept: ["gzip, br"], facts: everything, expected: .sidecar(.br)),
        RepresentationRow(name: "zstd and gzip equal → zstd (the sidecar)", accept: ["gzip, zstd"], facts: everything, expected: .sidecar(.zstd)),
        RepresentationRow(name: "br, zstd and gzip equal → br: the server's order", accept: ["gzip, zstd, br"], facts: everything,
                          expected: .sidecar(.br)),
        RepresentationRow(name: "a browser's list, no sidecars → Swerve's own br body", accept: ["gzip, deflate, br, zstd"],
                          facts: Facts(compressible: true, cached: true, stream: true), expected: .cached(.br)),
        RepresentationRow(name: "zstd preferred, no .zst → Swerve's own zstd body, not the .br sidecar", accept: ["zstd, br;q=0.5"],
                          facts: Facts(compressible: true, cached: true, sidecars: .br), expected: .cached(.zstd)),
        RepresentationRow(name: "br preferred, nothing cacheable → a br stream", accept: ["br, gzip;q=0.5"],
                          facts: Facts(compressible: true, stream: true), expected: .stream(.br)),
        RepresentationRow(name: "br;q=0 → the next of the server's order", accept: ["br;q=0, zstd, gzip"],
                          facts: Facts(compressible: true, cached: true), expected: .cached(.zstd)),
        RepresentationRow(name: "*;q=0.5 covers the unlisted br and zstd, the listed gzip wins", accept: ["gzip, *;q=0.5"],
                          facts: Facts(compressible: true, cached: true), expected: .cached(.gzip)),
        RepresentationRow(name: "*;q=0.5 alone → br, the first of the server's order", accept: ["*;q=0.5"],
                          facts: Facts(compressible: true, cached: true), expected: .cached(.br)),
        RepresentationRow(name: "unknown codings only → identity", accept: ["deflate, compress, x-foo"],
                          facts: everything, expected: .identity),
        RepresentationRow(name: "a duplicated coding: the last element wins", accept: ["br, gzip;q=0.5, br;q=0.1"],
                          facts: Facts(compressible: true, cached: true), expected: .cached(.gzip)),
        RepresentationRow(name: "--encodings gzip: a br sidecar and br acceptance give gzip", accept: ["br, gzip"],
                          facts: Facts(compressible: true, cached: true, sidecars: .br), preference: EncodingPreference([.gzip]),
                          expected: .cached(.gzip)),
        RepresentationRow(name: "--encodings zstd,br: zstd first among equals", accept: ["br, zstd, gzip"],
                          facts: Facts(compressible: true, cached: true), preference: EncodingPreference([.zstd, .br]),
                          expected: .cached(.zstd)),
        RepresentationRow(name: "identity;q=0 and nothing else possible → 406", accept: ["identity;q=0"],
                          facts: Facts(compressible: true), expected: .notAcceptable),
        RepresentationRow(name: "identity;q=0, a stream possible → gzip stream", accept: ["gzip, identity;q=0"],
                          facts: Facts(compressible: true, stream: true), expected: .stream(.gzip)),
        RepresentationRow(name: "not compressible: identity, whatever is accepted", accept: ["gzip, br"],
                          facts: Facts(compressible: false, cached: true), expected: .identity),
        RepresentationRow(name: "not compressible, identity refused → 406", accept: ["*;q=0"],
                          facts: Facts(compressible: false), expected: .notAcceptable),
        RepresentationRow(name: "gzip;q=0 → identity", accept: ["gzip;q=0"], facts: everything, expected: .identity),
    ]

    @Test("§12.5.3: which bytes of a file, from what the client accepts and what the server has", arguments: representationRows)
    func representation(_ row: RepresentationRow) {
        let arena = Arena()
        var accept = AcceptEncoding()
        for value in row.accept { accept.add(arena.bytes(value)) }
        withExtendedLifetime(arena) {
            #expect(ResponsePlanner.representation(accept, row.facts, preference: row.preference) == row.expected)
        }
    }

    @Test("a fact found false is corrected and asked again: a vanished .br sidecar falls to Swerve's br body, a futile compression to identity")
    func correctedFacts() {
        let arena = Arena()
        var accept = AcceptEncoding()
        accept.add(arena.bytes("br, gzip"))
        withExtendedLifetime(arena) {
            var facts = Facts(compressible: true, cached: true, stream: true, sidecars: .br)
            #expect(ResponsePlanner.representation(accept, facts) == .sidecar(.br))
            facts.sidecars.remove(.br)
            #expect(ResponsePlanner.representation(accept, facts) == .cached(.br))
            facts.cached = false
            #expect(ResponsePlanner.representation(accept, facts) == .stream(.br))
            facts.stream = false
            #expect(ResponsePlanner.representation(accept, facts) == .identity)
        }
    }

    // MARK: 4. Body

    static let now = 1_800_000_000
    static let tag = ETag(source: .metadata(inode: 1, size: 100, modified: 5, changed: 6))
    static var renderedTag: String { tag.withRendered { String(decoding: $0, as: UTF8.self) } }
    static let lastModified = 1_700_000_000

    static func body(
        method: HTTPMethod = .get, ifNoneMatch: String? = nil, ifMatch: String? = nil, range: String? = nil,
        ifRange: String? = nil, etag: ETag? = tag, length: Int? = 100
    ) -> ResponsePlanner.Body {
        let arena = Arena()
        var input = PreconditionInput()
        if let ifNoneMatch { input.ifNoneMatch.append(arena.bytes(ifNoneMatch)) }
        if let ifMatch { input.ifMatch.append(arena.bytes(ifMatch)) }
        let fields = ResponsePlanner.RangeFields(range: range.map(arena.bytes), ifRange: ifRange.map(arena.bytes))
        return withExtendedLifetime(arena) {
            ResponsePlanner.body(method, input, fields, etag: etag, lastModified: lastModified, length: length, now: now)
        }
    }

    @Test("§13.2.2: preconditions before Range; 304 for a matching If-None-Match, 412 for a failing If-Match")
    func preconditionsFirst() {
        #expect(Self.body() == .full)
        #expect(Self.body(ifNoneMatch: Self.renderedTag) == .notModified)
        #expect(Self.body(ifNoneMatch: Self.renderedTag, range: "bytes=0-9") == .notModified)
        #expect(Self.body(ifMatch: "\"other\"", range: "bytes=0-9") == .preconditionFailed)
        #expect(Self.body(method: .head, ifNoneMatch: Self.renderedTag) == .notModified)
    }

    @Test("§14.2: Range on GET only; one range, several ranges, unsatisfiable, and a stream that has no positions")
    func ranges() {
        #expect(Self.body(range: "bytes=0-9") == .range(ByteRange(first: 0, last: 9)))
        if case .ranges(let parsed) = Self.body(range: "bytes=0-9, 50-59") {
            #expect(parsed.count == 2)
        } else {
            Issue.record("two ranges expected")
        }
        #expect(Self.body(range: "bytes=500-") == .unsatisfiable)
        #expect(Self.body(method: .head, range: "bytes=0-9") == .full)
        #expect(Self.body(range: "bytes=0-9", length: nil) == .full)
        #expect(Self.body(range: "lines=1-2") == .full)
    }

    @Test("§13.1.5: If-Range with the current strong tag applies the range; another tag, a weak one or no current tag sends all")
    func ifRange() {
        #expect(Self.body(range: "bytes=0-9", ifRange: Self.renderedTag) == .range(ByteRange(first: 0, last: 9)))
        #expect(Self.body(range: "bytes=0-9", ifRange: "\"other\"") == .full)
        #expect(Self.body(range: "bytes=0-9", ifRange: "W/" + Self.renderedTag) == .full)
        #expect(Self.body(range: "bytes=0-9", ifRange: HTTPDate.string(Self.lastModified)) == .range(ByteRange(first: 0, last: 9)))
        // A file changed within the current clock tick has no tag: nothing can match it.
        #expect(Self.body(range: "bytes=0-9", ifRange: Self.renderedTag, etag: nil) == .full)
        #expect(Self.body(ifNoneMatch: Self.renderedTag, etag: nil) == .full)
        #expect(Self.body(ifNoneMatch: "*", etag: nil) == .notModified)
    }
}
