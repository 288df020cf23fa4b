import CNghttp2
import SwerveTestSupport
import Testing

@testable import SwerveHTTP2

/// The HTTP/2 session against nghttp2's own client, in memory: bytes are moved between the two until both are
/// quiet. RFC 9113 sections are named per test.
@Suite("HTTP/2 server session (RFC 9113)")
struct HTTP2ServerSessionTests {
    /// nghttp2's client session, collecting what the server sends per stream.
    final class Client {
        var session: OpaquePointer?
        var statuses: [Int32: Int] = [:]
        var fields: [Int32: [(String, String)]] = [:]
        var bodies: [Int32: [UInt8]] = [:]
        var closed: [Int32: UInt32] = [:]
        var goAwayCode: UInt32?

        init() {
            var callbacks: OpaquePointer?
            nghttp2_session_callbacks_new(&callbacks)
            nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
                let me = Unmanaged<Client>.fromOpaque(user!).takeUnretainedValue()
                let id = frame!.pointee.hd.stream_id
                let n = String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self)
                let v = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
                if n == ":status" { me.statuses[id] = Int(v) } else { me.fields[id, default: []].append((n, v)) }
                return 0
            }
            nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, user in
                let me = Unmanaged<Client>.fromOpaque(user!).takeUnretainedValue()
                me.bodies[id, default: []].append(contentsOf: UnsafeBufferPointer(start: data, count: length))
                return 0
            }
            nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, user in
                Unmanaged<Client>.fromOpaque(user!).takeUnretainedValue().closed[id] = code
                return 0
            }
            nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
                if frame!.pointee.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
                    Unmanaged<Client>.fromOpaque(user!).takeUnretainedValue().goAwayCode = frame!.pointee.goaway.error_code
                }
                return 0
            }
            nghttp2_session_client_new(&session, callbacks, Unmanaged.passUnretained(self).toOpaque())
            nghttp2_session_callbacks_del(callbacks)
            nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil, 0)
        }

        deinit { nghttp2_session_del(session) }

        /// Submits a GET and returns its stream id.
        @discardableResult
        func get(_ path: String, _ extra: [(String, String)] = [], endStream: Bool = true) -> Int32 {
            let fields = [(":method", "GET"), (":scheme", "https"), (":authority", "example.org"), (":path", path)] + extra
            return withNghttpHeaderList(fields) { list in
                endStream
                    ? nghttp2_submit_request(session, nil, list.baseAddress, list.count, nil, nil)
                    : nghttp2_submit_headers(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), -1, nil, list.baseAddress, list.count, nil)
            }
        }

        /// Body bytes of each POST not yet handed to nghttp2.
        var uploadLeft: [Int32: Int] = [:]
        private var uploads: [Int32: [UInt8]] = [:]

        /// Submits a POST with `body` (sent in DATA frames as flow control allows) and returns its stream id.
        func post(_ path: String, body: [UInt8]) -> Int32 {
            let fields = [(":method", "POST"), (":scheme", "https"), (":authority", "example.org"), (":path", path)]
            var provider = nghttp2_data_provider(source: nghttp2_data_source(fd: 0)) { _, id, buffer, length, flags, _, user in
                let me = Unmanaged<Client>.fromOpaque(user!).takeUnretainedValue()
                let left = me.uploads[id] ?? []
                let n = min(length, left.count)
                left.withUnsafeBufferPointer { buffer!.update(from: $0.baseAddress!, count: n) }
                me.uploads[id] = Array(left.dropFirst(n))
                me.uploadLeft[id] = left.count - n
                if n == left.count { flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
                return n
            }
            let id = withNghttpHeaderList(fields) { list in
                nghttp2_submit_request(session, nil, list.baseAddress, list.count, &provider, nil)
            }
            uploads[id] = body
            uploadLeft[id] = body.count
            return id
        }

        /// What the client would write.
        func output() -> [UInt8] {
            var out: [UInt8] = []
            while true {
                var data: UnsafePointer<UInt8>?
                let n = nghttp2_session_mem_send(session, &data)
                if n <= 0 { return out }
                out.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
            }
        }

        func receive(_ bytes: [UInt8]) {
            _ = bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
        }
    }

    /// The server side's bodies, as the caller of `send` keeps them: the bytes of each answered stream not yet
    /// handed to a DATA frame.
    final class Bodies {
        var pending: [Int32: ArraySlice<UInt8>] = [:]
        /// Refuse DATA frames (a connection whose output is full).
        var refuse = false

        /// Answers with an HTTP/1.1-form head, as the server's pipeline renders one.
        func respond(_ server: HTTP2ServerSession, _ id: Int32, status: Int, fields: [(String, String)] = [], body: [UInt8]?) {
            if let body, !body.isEmpty { pending[id] = body[...] }
            let head = "HTTP/1.1 \(status) Reason\r\n" + fields.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
            let accepted = Array(head.utf8).withUnsafeBytes { server.respond(streamID: id, http1Head: $0, bodyLength: body?.count ?? 0) }
            #expect(accepted)
        }

        /// What the server hands out now, frames and DATA payloads in wire order.
        func output(_ server: HTTP2ServerSession) -> (bytes: [UInt8], outcome: HTTP2ServerSession.SendOutcome) {
            var out: [UInt8] = []
            let outcome = server.send(frames: { out.append(contentsOf: $0); return true }) { header, id, length in
                guard !self.refuse, let body = self.pending[id] else { return false }
                out.append(contentsOf: header)
                out.append(contentsOf: body.prefix(length))
                self.pending[id] = body.dropFirst(length)
                return true
            }
            return (out, outcome)
        }
    }

    /// Moves bytes both ways until neither side has any. `answer` runs on the server's new requests each turn.
    func pump(_ client: Client, _ server: HTTP2ServerSession, _ bodies: Bodies = Bodies(), now: Int64 = 0,
              answer: (HTTP2ServerSession.Request) -> Void = { _ in }) {
        for _ in 0..<1000 {
            let toServer = client.output()
            if !toServer.isEmpty { toServer.withUnsafeBytes { _ = server.receive($0, now: now) } }
            for request in server.takeRequests() { answer(request) }
            let toClient = bodies.output(server).bytes
            if !toClient.isEmpty { client.receive(toClient) }
            if toServer.isEmpty && toClient.isEmpty { return }
        }
        Issue.record("the two sides never went quiet")
    }

    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Opens a stream and then cancels it, each frame delivered on its own: the HEADERS goes out before the RST_STREAM
    /// (a client drops a stream it cancels before sending it).
    func openAndCancel(_ client: Client, _ server: HTTP2ServerSession, now: Int64) {
        let id = client.get("/x", endStream: false)
        pump(client, server, now: now)
        nghttp2_submit_rst_stream(client.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
        pump(client, server, now: now)
    }

    @Test("§8.3.1: a GET's pseudo-header fields and fields arrive as one request; the response's status, fields and body reach the client")
    func exchange() {
        let server = HTTP2ServerSession()
        let client = Client()
        let id = client.get("/a?b=c", [("accept-encoding", "gzip, br"), ("if-none-match", "\"x\"")])
        var seen: [HTTP2ServerSession.Request] = []
        let body = Array(repeating: UInt8(ascii: "z"), count: 100_000)
        let bodies = Bodies()
        pump(client, server, bodies) { request in
            seen.append(request)
            bodies.respond(server, request.streamID, status: 200,
                           fields: [("Content-Type", "text/plain"), ("ETag", "\"1-gz\""), ("Connection", "keep-alive")],
                           body: body)
        }
        #expect(seen.count == 1)
        let request = seen[0]
        #expect(request.streamID == id)
        #expect(String(decoding: request.method, as: UTF8.self) == "GET")
        #expect(String(decoding: request.path, as: UTF8.self) == "/a?b=c")
        #expect(request.authority.map { String(decoding: $0, as: UTF8.self) } == "example.org")
        #expect(request.fields.map { String(decoding: $0.name, as: UTF8.self) } == ["accept-encoding", "if-none-match"])
        #expect(!request.hadBody && !request.headerListTooLarge)
        #expect(client.statuses[id] == 200)
        #expect(client.fields[id]?.map(\.0) == ["content-type", "etag"])
        // 100,000 bytes is more than the 65,535-byte initial window (RFC 9113 §6.9.2): the client's WINDOW_UPDATEs
        // let the rest through.
        #expect(client.bodies[id] == body)
        #expect(client.closed[id] == NGHTTP2_NO_ERROR.rawValue)
        #expect(server.takeClosedStreams() == [id])
    }

    @Test("§8.2: responses whose heads repeat byte for byte, or differ in one byte of the same length, each reach the client with their own fields")
    func repeatedHeads() {
        let server = HTTP2ServerSession()
        let client = Client()
        let bodies = Bodies()
        // Heads in answer order: a repeat of the first, one differing from it only in the ETag's last byte (same
        // length), a different status, a head that is not one (refused, nothing sent), then the first again.
        let heads: [(status: Int, etag: String)?] = [(200, "\"a-1\""), (200, "\"a-1\""), (200, "\"a-2\""), (304, "\"a-2\""), nil, (200, "\"a-1\"")]
        var ids: [Int32] = []
        for _ in heads { ids.append(client.get("/a")) }
        var answered = 0
        pump(client, server, bodies) { request in
            guard let head = heads[answered] else {
                let bad = Array("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n".utf8)
                #expect(!bad.withUnsafeBytes { server.respond(streamID: request.streamID, http1Head: $0, bodyLength: 0) })
                // The refused head must not become the one a later repeat is compared with: answer it properly.
                bodies.respond(server, request.streamID, status: 404, fields: [("ETag", "\"none\"")], body: nil)
                answered += 1
                return
            }
            bodies.respond(server, request.streamID, status: head.status,
                           fields: [("Content-Type", "text/plain"), ("ETag", head.etag)], body: head.status == 200 ? [1, 2, 3] : nil)
            answered += 1
        }
        #expect(answered == heads.count)
        for (id, head) in zip(ids, heads) {
            #expect(client.statuses[id] == (head?.status ?? 404))
            #expect(client.fields[id]?.first { $0.0 == "etag" }?.1 == (head?.etag ?? "\"none\""))
            #expect(client.fields[id]?.map(\.0) == ["content-type", "etag"] || head == nil)
            #expect(client.closed[id] == NGHTTP2_NO_ERROR.rawValue)
        }
        #expect(client.bodies[ids[5]] == [1, 2, 3])
    }

    @Test("response fields go to nghttp2 uncopied: each stays owed until its HEADERS frame is sent or dropped (a stream reset first), and heads answered before one send keep their own bytes")
    func fieldsOwedUntilSent() {
        let server = HTTP2ServerSession()
        let client = Client()
        let bodies = Bodies()
        pump(client, server, bodies)
        // Answered, then reset by the client before the server sent anything: nghttp2 drops the HEADERS frame.
        let reset = client.get("/gone")
        client.output().withUnsafeBytes { _ = server.receive($0, now: 0) }
        for request in server.takeRequests() {
            bodies.respond(server, request.streamID, status: 200, fields: [("ETag", "\"gone\"")], body: nil)
        }
        #expect(server.headersOwed == 1)
        nghttp2_submit_rst_stream(client.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), reset, NGHTTP2_CANCEL.rawValue)
        client.output().withUnsafeBytes { _ = server.receive($0, now: 0) }
        client.receive(bodies.output(server).bytes)
        #expect(server.headersOwed == 0)
        #expect(client.statuses[reset] == nil)
        // Three different heads answered before one send: each reaches its stream whole, and none is owed after.
        let etags = ["\"one\"", "\"second\"", "\"third-etag\""]
        var ids: [Int32] = []
        for _ in etags { ids.append(client.get("/a")) }
        client.output().withUnsafeBytes { _ = server.receive($0, now: 0) }
        for (k, request) in server.takeRequests().enumerated() {
            bodies.respond(server, request.streamID, status: 200 + k, fields: [("Content-Type", "text/plain"), ("ETag", etags[k])], body: nil)
        }
        #expect(server.headersOwed == 3)
        pump(client, server, bodies)
        for (k, id) in ids.enumerated() {
            #expect(client.statuses[id] == 200 + k)
            #expect(client.fields[id]?.map(\.0) == ["content-type", "etag"])
            #expect(client.fields[id]?.last?.1 == etags[k])
        }
        #expect(server.headersOwed == 0)
        #expect(server.spareFields.count == 2)
    }

    @Test("response fields of any size: a head of 40 fields and 2 KiB, a short one, then the long one again, each reaches its stream whole")
    func largeResponseFields() {
        let server = HTTP2ServerSession()
        let client = Client()
        let bodies = Bodies()
        pump(client, server, bodies)
        let long = (0..<40).map { ("X-Field-\($0)", String(repeating: "v", count: 40) + "\($0)") }
        for fields in [long, [("ETag", "\"a\"")], long] {
            let id = client.get("/a")
            pump(client, server, bodies) { request in
                bodies.respond(server, request.streamID, status: 200, fields: fields, body: [7])
            }
            #expect(client.statuses[id] == 200 && client.bodies[id] == [7])
            #expect(client.fields[id]?.map(\.0) == fields.map { $0.0.lowercased() })
            #expect(client.fields[id]?.map(\.1) == fields.map(\.1))
        }
    }

    @Test("RFC 9113 §5.3.1: closed streams are forgotten at once (RFC 7540's priority tree would keep up to 100 per connection)")
    func closedStreamsForgotten() {
        let server = HTTP2ServerSession()
        let client = Client()
        let bodies = Bodies()
        var ids: [Int32] = []
        for _ in 0..<3 { ids.append(client.get("/a")) }
        pump(client, server, bodies) { request in
            #expect(server.holdsStream(request.streamID))
            bodies.respond(server, request.streamID, status: 200, fields: [("ETag", "\"a\"")], body: [1])
        }
        #expect(server.takeClosedStreams() == ids)
        for id in ids {
            #expect(client.bodies[id] == [1])
            #expect(!server.holdsStream(id))
        }
    }

    @Test("§8.3.1: a request's block storage, recycled, is the next request's, and that request holds only its own fields")
    func requestBlocksReused() {
        let blocks = RequestBlocks()
        let server = HTTP2ServerSession(blocks: blocks)
        let client = Client()
        let bodies = Bodies()
        let first = client.get("/a-long-path-of-the-first-request", [("accept-encoding", "gzip"), ("referer", "https://example.org/x")])
        var seen: [HTTP2ServerSession.Request] = []
        pump(client, server, bodies) { request in
            seen.append(request)
            bodies.respond(server, request.streamID, status: 200, body: [1])
        }
        #expect(seen.map(\.streamID) == [first])
        var answered = seen.removeFirst()
        blocks.recycle(&answered)
        #expect(blocks.count == 1)
        #expect(answered.method.isEmpty && answered.fields.isEmpty)
        let second = client.get("/b", [("accept", "*/*")])
        pump(client, server, bodies) { request in
            seen.append(request)
            bodies.respond(server, request.streamID, status: 200, body: [2])
        }
        #expect(blocks.count == 0)
        #expect(seen.map(\.streamID) == [second])
        #expect(String(decoding: seen[0].path, as: UTF8.self) == "/b")
        #expect(seen[0].fields.map { String(decoding: $0.name, as: UTF8.self) } == ["accept"])
        #expect(client.bodies[second] == [2])
    }

    @Test("§8.1: a request with a body is answered at once; a short body is dropped and its stream ends normally, a long one is stopped with RST_STREAM NO_ERROR",
          arguments: [(100, false), (200_000, true)])
    func requestBody(bodySize: Int, stopped: Bool) {
        var limits = HTTP2ServerSession.Limits()
        limits.maxDiscardedBodyBytes = 1000
        let server = HTTP2ServerSession(limits: limits)
        let client = Client()
        let bodies = Bodies()
        pump(client, server, bodies)
        let id = client.post("/upload", body: Array(repeating: 0x61, count: bodySize))
        var seen: [HTTP2ServerSession.Request] = []
        pump(client, server, bodies) { request in
            seen.append(request)
            bodies.respond(server, request.streamID, status: 405, body: Self.text("no"))
        }
        #expect(seen.map(\.streamID) == [id])
        #expect(seen.first?.hadBody == true)
        #expect(client.statuses[id] == 405 && client.bodies[id] == Self.text("no"))
        #expect(client.closed[id] == NGHTTP2_NO_ERROR.rawValue)
        // Stopped: the client had body bytes left that it never sent.
        #expect((client.uploadLeft[id] ?? 0 > 0) == stopped, "\(client.uploadLeft[id] ?? 0) bytes left")
    }

    @Test("§6.1: a DATA frame the caller has no room for is held back and offered again, its bytes in order")
    func dataRefused() {
        let server = HTTP2ServerSession()
        let client = Client()
        let bodies = Bodies()
        pump(client, server, bodies)
        let id = client.get("/a")
        client.output().withUnsafeBytes { _ = server.receive($0, now: 0) }
        let request = server.takeRequests()
        #expect(request.map(\.streamID) == [id])
        let body = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        bodies.respond(server, id, status: 200, body: body)
        bodies.refuse = true
        let held = bodies.output(server)
        #expect(held.outcome == .blocked)
        client.receive(held.bytes)  // the HEADERS frame went out; no DATA did
        #expect(client.statuses[id] == 200 && client.bodies[id] == nil)
        bodies.refuse = false
        pump(client, server, bodies)
        #expect(client.bodies[id] == body)
    }

    @Test("§5.1.2: streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused; the others are answered")
    func concurrentStreams() {
        var limits = HTTP2ServerSession.Limits()
        limits.maxConcurrentStreams = 2
        let server = HTTP2ServerSession(limits: limits)
        let client = Client()
        // Three streams sent before the client has read the server's SETTINGS (nghttp2's client holds back streams
        // over a limit it knows): the server enforces its limit from its first SETTINGS on, acknowledged or not.
        let ids = (0..<3).map { _ in client.get("/x", endStream: false) }
        pump(client, server)
        #expect(client.closed[ids[2]] == NGHTTP2_REFUSED_STREAM.rawValue)
        #expect(client.closed[ids[0]] == nil && client.closed[ids[1]] == nil)
    }

    @Test("§6.5.2: a header list over the limit is marked for a 431 without keeping its fields")
    func headerListLimit() {
        var limits = HTTP2ServerSession.Limits()
        limits.maxHeaderListBytes = 1024
        let server = HTTP2ServerSession(limits: limits)
        let client = Client()
        pump(client, server)
        let id = client.get("/big", [("x-filler", String(repeating: "a", count: 2000))])
        var seen: [HTTP2ServerSession.Request] = []
        let bodies = Bodies()
        pump(client, server, bodies) { request in
            seen.append(request)
            bodies.respond(server, request.streamID, status: 431, body: nil)
        }
        #expect(seen.first?.headerListTooLarge == true)
        #expect(seen.first?.fields.isEmpty == true)
        #expect(client.statuses[id] == 431)
    }

    @Test("rapid reset (CVE-2023-44487): streams opened and cancelled beyond the bucket end the connection with GOAWAY ENHANCE_YOUR_CALM")
    func rapidReset() {
        var limits = HTTP2ServerSession.Limits()
        limits.resetBurst = 20
        limits.resetsPerSecond = 1
        let server = HTTP2ServerSession(limits: limits)
        let client = Client()
        pump(client, server)
        for _ in 0..<50 { openAndCancel(client, server, now: 1) }
        #expect(server.failure == .rapidReset)
        #expect(client.goAwayCode == NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
    }

    @Test("a client under the reset rate (one cancel now and then) is never cut off")
    func occasionalResets() {
        var limits = HTTP2ServerSession.Limits()
        limits.resetBurst = 5
        limits.resetsPerSecond = 10
        let server = HTTP2ServerSession(limits: limits)
        let client = Client()
        pump(client, server)
        for second in 0..<30 { openAndCancel(client, server, now: Int64(second) * 1000) }
        #expect(server.failure == nil)
        #expect(client.goAwayCode == nil)
    }

    @Test("§3.4: bytes that are not the client preface end the session with a GOAWAY")
    func badPreface() {
        let server = HTTP2ServerSession()
        let ok = Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8).withUnsafeBytes { server.receive($0, now: 0) }
        #expect(!ok)
        #expect(server.failure != nil)
    }

    @Test("§6.8: GOAWAY on shutdown lets the stream in flight finish")
    func gracefulGoAway() {
        let server = HTTP2ServerSession()
        let client = Client()
        pump(client, server)
        let id = client.get("/slow")
        var pending: [Int32] = []
        let bodies = Bodies()
        pump(client, server, bodies) { pending.append($0.streamID) }
        server.goAway()
        pump(client, server, bodies)
        #expect(client.goAwayCode == NGHTTP2_NO_ERROR.rawValue)
        #expect(!server.isFinished)
        bodies.respond(server, pending[0], status: 200, body: Self.text("done"))
        pump(client, server, bodies)
        #expect(server.isFinished)
        #expect(client.statuses[id] == 200)
        #expect(client.bodies[id] == Self.text("done"))
    }
}
