import CNghttp2
import Glibc
import SwerveTestSupport

/// An HTTP/2 client for wire tests: nghttp2's client session (framing, HPACK, flow control) over a `RawClient`
/// socket, in the clear (prior knowledge) or over TLS (ALPN h2). Collects each stream's status, fields and body as
/// they arrive; `run(until:)` moves bytes both ways until a condition holds or the server goes quiet.
final class HTTP2Client {
    /// A class, so a body grows in place as DATA arrives (a struct in the dictionary was copied per chunk).
    final class Stream {
        var status: Int?
        /// Regular fields in order, as received (lowercase names).
        var fields: [(name: String, value: String)] = []
        var body: [UInt8] = []
        /// RST_STREAM or the stream's close: its error code (0 when it ended normally).
        var closedWith: UInt32?

        func header(_ name: String) -> String? { fields.first { $0.name == name }?.value }
    }

    let raw: RawClient
    private var session: OpaquePointer?
    private(set) var streams: [Int32: Stream] = [:]
    /// The error code of the GOAWAY received, if one was, and the last stream it names.
    private(set) var goAway: (code: UInt32, lastStream: Int32)?
    /// The server closed the connection.
    private(set) var closed = false
    /// Bytes of nghttp2's client preface still to leave out of the output (the test sent it itself).
    private var prefaceToDrop: Int

    /// `settings`: the client's SETTINGS (an initial window of 0 stalls every stream's DATA, say).
    /// `sendsPreface` false: the test wrote the 24-byte client preface itself (RFC 9113 §3.4).
    init(_ raw: RawClient, settings: [(Int32, UInt32)] = [], autoWindowUpdate: Bool = true, sendsPreface: Bool = true) {
        self.raw = raw
        prefaceToDrop = sendsPreface ? 0 : 24
        // As browsers and curl do: a WINDOW_UPDATE must not wait for Nagle behind the server's delayed ACK.
        var on: Int32 = 1
        setsockopt(raw.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            let me = HTTP2Client.from(user)
            let id = frame!.pointee.hd.stream_id
            let n = String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self)
            let v = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
            if n == ":status" { me.stream(id).status = Int(v) } else { me.stream(id).fields.append((n, v)) }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, user in
            HTTP2Client.from(user).stream(id).body.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, user in
            HTTP2Client.from(user).stream(id).closedWith = code
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            if frame!.pointee.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
                HTTP2Client.from(user).goAway = (frame!.pointee.goaway.error_code, frame!.pointee.goaway.last_stream_id)
            }
            return 0
        }
        var options: OpaquePointer?
        nghttp2_option_new(&options)
        if !autoWindowUpdate { nghttp2_option_set_no_auto_window_update(options, 1) }
        nghttp2_session_client_new2(&session, callbacks, Unmanaged.passUnretained(self).toOpaque(), options)
        nghttp2_option_del(options)
        nghttp2_session_callbacks_del(callbacks)
        var entries = settings.map { nghttp2_settings_entry(settings_id: $0.0, value: $0.1) }
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
    }

    deinit { nghttp2_session_del(session) }

    private func stream(_ id: Int32) -> Stream {
        if let known = streams[id] { return known }
        let new = Stream()
        streams[id] = new
        return new
    }

    private static func from(_ user: UnsafeMutableRawPointer?) -> HTTP2Client {
        Unmanaged<HTTP2Client>.fromOpaque(user!).takeUnretainedValue()
    }

    /// Submits a request (`fields`: regular fields, lowercase) and returns its stream id.
    @discardableResult
    func request(_ path: String, method: String = "GET", _ fields: [(String, String)] = [], authority: String = "h") -> Int32 {
        let all = [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)] + fields
        return withNghttpHeaderList(all) { list in nghttp2_submit_request(session, nil, list.baseAddress, list.count, nil, nil) }
    }

    /// Cancels a stream (RST_STREAM CANCEL).
    func cancel(_ id: Int32) {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
    }

    /// Opens every stream's window (and the connection's) by `bytes`.
    func openWindow(_ id: Int32, by bytes: Int32) {
        nghttp2_submit_window_update(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, bytes)
    }

    /// Writes what the session has to send.
    func flush() throws {
        var out: [UInt8] = []
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n <= 0 { break }
            out.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
        let dropped = min(prefaceToDrop, out.count)
        prefaceToDrop -= dropped
        out.removeFirst(dropped)
        if !out.isEmpty { try raw.send(out) }
    }

    /// Sends and receives until `done` holds (true), or the connection ends or a read times out (false).
    @discardableResult
    func run(until done: () -> Bool) throws -> Bool {
        while true {
            try flush()
            if done() { return true }
            guard !closed else { return false }
            guard raw.fill() else {
                closed = raw.eof
                let rest = raw.takeBuffered()
                if !rest.isEmpty { receive(rest) }
                if done() { return true }
                return false
            }
            receive(raw.takeBuffered())
        }
    }

    /// Takes in what has already arrived, without waiting (cleartext only: TLS may hold decrypted bytes poll cannot see).
    func receiveArrived() {
        var descriptor = pollfd(fd: raw.fd, events: Int16(POLLIN), revents: 0)
        while !closed && poll(&descriptor, 1, 0) == 1 {
            guard raw.fill() else {
                closed = raw.eof
                break
            }
            receive(raw.takeBuffered())
        }
        let rest = raw.takeBuffered()
        if !rest.isEmpty { receive(rest) }
    }

    /// Runs until stream `id` has closed.
    func response(_ id: Int32) throws -> Stream {
        try run { streams[id]?.closedWith != nil }
        guard let stream = streams[id], stream.closedWith != nil else {
            throw TestFailure("stream \(id) never closed (\(closed ? "connection closed" : "read timed out"))")
        }
        return stream
    }

    private func receive(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
    }
}
