import SwerveTestSupport
import Testing
@testable import SwerveHTTP

/// `ResponseHeadMemo` may only ever hand back the bytes `ResponseHead.render` would write for the same head in the same
/// second (RFC 9110 §6.6.1: Date is the time the message was generated; §8.8: validators must match the
/// representation sent): a memoised head that differs from a fresh render in any byte is a stale header on the wire.
@Suite("ResponseHeadMemo")
struct ResponseHeadMemoTests {
    static let html = Array("text/html; charset=utf-8".utf8)
    static let javascript = Array("text/javascript; charset=utf-8".utf8)
    static let noCache = Array("no-cache".utf8)
    static let immutable = Array("public, max-age=31536000, immutable".utf8)
    static let location = Array("/docs/".utf8)
    static let extraA = Array("X-Frame-Options: DENY".utf8)
    static let extraB = Array("X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer".utf8)

    /// Every field `render` reads, as plain values (a `ResponseHead` is not copyable).
    struct Spec {
        var second = 1_800_000_000
        var status = HTTPStatus.ok
        var contentLength = 1024
        var lastModified: Int? = 1_700_000_000
        var etag: ETag? = ETag(contentHigh: 1, low: 2)
        var contentType = 0          // 0: none, 1: html, 2: javascript
        var cacheControl = 0         // 0: none, 1: no-cache, 2: immutable
        var serverTiming: ServerTiming?
        var contentEncoding = ContentCoding.identity
        var connection = ResponseHead.ConnectionField.none
        var allow = false
        var vary: VaryFields = []
        var nosniff = false
        var extra = 0                // 0: none, 1: extraA, 2: extraB
        var cors = false             // a static `*` Allow-Origin
        var chunked = false
        var acceptRanges = false
        var location = false
        var contentRange = false

        func withHead<R>(_ body: (borrowing ResponseHead) -> R) -> R {
            withBytes(contentType == 1 ? ResponseHeadMemoTests.html : ResponseHeadMemoTests.javascript) { type in
                withBytes(cacheControl == 1 ? ResponseHeadMemoTests.noCache : ResponseHeadMemoTests.immutable) { cache in
                    withBytes(ResponseHeadMemoTests.location) { location in
                      withBytes(extra == 1 ? ResponseHeadMemoTests.extraA : ResponseHeadMemoTests.extraB) { extraFields in
                        var head = ResponseHead(status: status, contentLength: contentLength)
                        head.contentType = contentType == 0 ? nil : type
                        head.cacheControl = cacheControl == 0 ? nil : cache
                        head.lastModified = lastModified
                        head.etag = etag
                        head.serverTiming = serverTiming
                        head.contentEncoding = contentEncoding
                        head.connection = connection
                        head.allow = allow
                        head.vary = vary
                        head.nosniff = nosniff
                        head.extraFields = extra == 0 ? nil : extraFields
                        head.cors = cors ? CORSFields(allowOrigin: .any) : nil
                        head.chunked = chunked
                        head.acceptRanges = acceptRanges
                        if self.location { head.location = location }
                        if contentRange { head.contentRange = ContentRangeField(first: 0, last: 9, complete: contentLength) }
                        return body(head)
                      }
                    }
                }
            }
        }

        /// The bytes a fresh render writes.
        func rendered() -> [UInt8] {
            withHead { head in
                var date = [UInt8](repeating: 0, count: HTTPDate.length)
                date.withUnsafeMutableBytes { HTTPDate.format(second, into: $0.baseAddress!) }
                var out = [UInt8](repeating: 0, count: 2048)
                let count = date.withUnsafeBytes { date in
                    out.withUnsafeMutableBytes { area in
                        var w = ByteWriter(area)
                        head.render(into: &w, date: date)
                        return w.count
                    }
                }
                return Array(out[0..<count])
            }
        }

        func key() -> ResponseHeadMemo.Key? { withHead { ResponseHeadMemo.Key($0, second: second) } }
    }

    /// The tables' bytes live as long as the test data: stable addresses, as the memo requires.
    static func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> R) -> R {
        bytes.withUnsafeBytes(body)
    }

    /// One field of `spec` changed to another value it can take.
    static func mutate(_ spec: inout Spec, field: Int, _ rng: inout SplitMix64) {
        switch field {
        case 0: spec.second += 1
        case 1: spec.status = spec.status == .ok ? .notModified : .ok
        case 2: spec.contentLength += 1
        case 3: spec.lastModified = spec.lastModified == nil ? 1_700_000_000 : (rng.next() % 2 == 0 ? nil : spec.lastModified! + 1)
        case 4:
            let tags: [ETag?] = [
                nil, ETag(contentHigh: 1, low: 2), ETag(contentHigh: 1, low: 3), ETag(contentHigh: 1, low: 2, coding: .gzip),
                ETag(contentHigh: 1, low: 2).coded(.gzip, recompressed: true), ETag(contentHigh: 1, low: 2, coding: .br),
                ETag(contentHigh: 1, low: 2).coded(.br, recompressed: true), ETag(contentHigh: 1, low: 2, coding: .zstd),
                ETag(contentHigh: 1, low: 2, coding: .zstd).weakened,
                ETag(source: .metadata(inode: 7, size: 1024, modified: 2_000_000_003, changed: 5)),
                ETag(source: .metadata(inode: 7, size: 1024, modified: 2_000_000_004, changed: 5)),
                ETag(source: .metadata(inode: 7, size: 1024, modified: 2_000_000_003, changed: 6)),
            ]
            var next = spec.etag
            while next == spec.etag { next = tags[Int(rng.next() % UInt64(tags.count))] }
            spec.etag = next
        case 5: spec.contentType = (spec.contentType + 1 + Int(rng.next() % 2)) % 3
        case 6: spec.cacheControl = (spec.cacheControl + 1 + Int(rng.next() % 2)) % 3
        case 7:
            let timings: [ServerTiming?] = [nil, .hit, .miss(nanoseconds: 1_500_000), .miss(nanoseconds: 2_500_000), .precompressed, .stream]
            var next = spec.serverTiming
            while next == spec.serverTiming { next = timings[Int(rng.next() % UInt64(timings.count))] }
            spec.serverTiming = next
        case 8: spec.contentEncoding = spec.contentEncoding == .identity ? .gzip : (spec.contentEncoding == .gzip ? .br : .identity)
        case 9: spec.connection = spec.connection == .none ? .close : (spec.connection == .close ? .keepAlive : .none)
        case 10: spec.allow.toggle()
        case 11: spec.vary = VaryFields(rawValue: (spec.vary.rawValue + 1 + UInt8(rng.next() % 6)) % 8)
        case 12: spec.chunked.toggle()
        case 13: spec.nosniff.toggle()
        case 14: spec.extra = (spec.extra + 1 + Int(rng.next() % 2)) % 3
        case 15: spec.cors.toggle()
        default: spec.acceptRanges.toggle()
        }
    }

    @Test("a memoised head is byte for byte the fresh render; a change to any field or the second is never served from it")
    func neverDiffersFromRender() {
        let memo = ResponseHeadMemo()
        var rng = SplitMix64(state: 0x4EAD_0F_F11E)
        var spec = Spec()
        var hits = 0
        for _ in 0..<20_000 {
            // Store the current head, then ask for it again or for a neighbour that differs in one field.
            let bytes = spec.rendered()
            if let key = spec.key() { bytes.withUnsafeBytes { _ = memo.store(key, $0) } }
            let same = rng.next() % 4 == 0
            if !same { Self.mutate(&spec, field: Int(rng.next() % 17), &rng) }
            guard let key = spec.key() else { Issue.record("a plain file head must be memoisable"); continue }
            let fresh = spec.rendered()
            if let memoised = memo.bytes(for: key) {
                hits += 1
                #expect(String(decoding: Array(memoised), as: UTF8.self) == String(decoding: fresh, as: UTF8.self))
            } else {
                // A head longer than a slot is never kept (`longHeadsAreNotKept`).
                #expect(!same || fresh.count > ResponseHeadMemo.slotBytes, "the head just stored was not found")
            }
        }
        #expect(hits > 3_000)
    }

    @Test("heads carrying Location, Content-Range or an echoed CORS origin are never memoised")
    func perResponseFieldsAreNotMemoised() {
        var spec = Spec()
        #expect(spec.key() != nil)
        spec.location = true
        #expect(spec.key() == nil)
        spec.location = false
        spec.contentRange = true
        #expect(spec.key() == nil)
        let origin = Array("https://a.example".utf8)
        origin.withUnsafeBytes { origin in
            var head = ResponseHead(status: .ok, contentLength: 1)
            head.cors = CORSFields(allowOrigin: .echo(origin))
            #expect(ResponseHeadMemo.Key(head, second: 1) == nil)
            head.cors = CORSFields(allowOrigin: .any, preflight: true)
            #expect(ResponseHeadMemo.Key(head, second: 1) == nil)
            head.cors = CORSFields(allowOrigin: .any)
            #expect(ResponseHeadMemo.Key(head, second: 1) != nil)
        }
    }

    @Test("a head longer than a slot is rendered every time")
    func longHeadsAreNotKept() {
        let memo = ResponseHeadMemo()
        let spec = Spec()
        let key = spec.key()!
        let long = [UInt8](repeating: 0x61, count: ResponseHeadMemo.slotBytes + 1)
        #expect(long.withUnsafeBytes { memo.store(key, $0) } == nil)
        #expect(memo.bytes(for: key) == nil)
        let bytes = spec.rendered()
        #expect(bytes.withUnsafeBytes { memo.store(key, $0).map(Array.init) } == bytes)
        #expect(memo.bytes(for: key).map(Array.init) == bytes)
    }
}
