import CNghttp2
import Glibc

/// HTTP/2 (RFC 9113) for one server connection, on libnghttp2: framing, HPACK, flow control and the protocol's
/// own errors are nghttp2's; the requests it assembles, the limits a public server needs, and the responses are
/// Swerve's. Pure: bytes go in (`receive`), requests come out (`takeRequests`), responses go in (`respond`), bytes
/// come out (`send`). No socket, no clock (the caller passes the time), so tests drive it with nghttp2's own client
/// in memory.
///
/// Bodies never pass through nghttp2's buffers: a response names its body's length, and each DATA frame is handed
/// to the caller as its 9-byte header plus a count of body bytes (NGHTTP2_DATA_FLAG_NO_COPY), which the caller
/// queues from wherever the body lives (a cached compressed body, a file range for `sendfile`).
///
/// Not thread-safe: one per connection, used by its event loop.
public final class HTTP2ServerSession {
    /// The limits of one connection, each against a known abuse.
    public struct Limits: Sendable {
        /// SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2): streams a client may have open at once. 100, as h2o
        /// (nginx: 128); RFC 9113 §6.5.2 advises "no smaller than 100".
        public var maxConcurrentStreams: UInt32 = 100
        /// Bytes of one request's header list, counted as RFC 9113 §6.5.2 counts SETTINGS_MAX_HEADER_LIST_SIZE (name
        /// + value + 32 per field): HTTP/1.1's limits, an 8 KiB target and 16 KiB of fields. Beyond it the request
        /// is answered 431 (RFC 6585 §5) and its fields dropped as they arrive, so memory stays bounded.
        public var maxHeaderListBytes: Int = 24 * 1024
        /// SETTINGS_HEADER_TABLE_SIZE for the client's HPACK encoder (RFC 7541 §4.2): the 4,096-byte default.
        public var headerTableSize: UInt32 = 4096
        /// Entries one SETTINGS frame may carry (a SETTINGS flood): 32, nghttp2's default.
        public var maxSettingsEntries: Int = 32
        /// SETTINGS and PING acknowledgements queued unsent before the connection is dropped (a client that floods
        /// PINGs or SETTINGS without reading its ACKs): 1,000, nghttp2's default.
        public var maxQueuedAcks: Int = 1000
        /// CONTINUATION frames one header block may span (the 2024 CONTINUATION flood): 8. A browser's request
        /// fits one HEADERS frame.
        public var maxContinuations: Int = 8
        /// Rapid reset (CVE-2023-44487): streams a client opens and cancels itself, as a token bucket: a burst of
        /// 1,000, then 33 a second (nghttp2 1.57's defaults). Beyond it: GOAWAY with ENHANCE_YOUR_CALM.
        public var resetBurst: Int = 1000
        public var resetsPerSecond: Int = 33
        /// Request body bytes read and dropped per stream (a static server reads no body): 1 MiB, HTTP/1.1's
        /// `discardBodyLimit` (form posts and probes finish normally). Past it, once the response is out, the stream
        /// is reset with NO_ERROR, so a client cannot keep the server reading an upload for nothing.
        public var maxDiscardedBodyBytes: Int = 1 << 20

        public init() {}
    }

    let limits: Limits
    /// Spare storage for the blocks of the requests this session begins.
    let blocks: RequestBlocks
    private var session: OpaquePointer?
    /// The request whose header block is being read (`onBeginHeaders` to its HEADERS frame's end). One at most: a
    /// header block arrives whole before any other frame (RFC 9113 §4.3: "Each field block is processed as a
    /// discrete unit. Field blocks MUST be transmitted as a contiguous sequence of frames, with no interleaved frames
    /// of any other type or from any other stream"), so neither a table by stream nor a box per request is needed,
    /// and each field is added in place. Its stream id is 0 when no header block is being read (stream 0 is never a
    /// request's, RFC 9113 §5.1.1): an integer compare per field, where an optional request was a check of its tag.
    private var receiving = Request(streamID: 0)
    /// Requests answered before their body ended, by stream: what was dropped, and whether the response is out.
    private var uploads = StreamTable<Upload>()

    private struct Upload {
        var discarded = 0
        var responseSent = false
    }
    private var complete: [Request] = []
    /// Body bytes of each answered stream not yet handed out in DATA frames.
    private var bodies = StreamTable<Body>()

    /// What is known of a stream's body: the bytes the caller has that are not in a DATA frame yet, and whether
    /// that is all of it (a streamed body grows with `extendBody`).
    private struct Body {
        var available: Int
        var complete: Bool
        /// nghttp2 was told to wait (NGHTTP2_ERR_DEFERRED) and must be resumed when bytes come.
        var deferred = false
    }
    /// Streams closed since the last `takeClosedStreams` (answered, or reset by either side).
    private var closed: [Int32] = []
    /// The caller's DATA sink, set for the duration of `send`.
    private var dataSink: ((UnsafeRawBufferPointer, Int32, Int) -> Bool)?
    /// The DATA sink declined a frame during this `send` (no room): nghttp2 offers it again at the next one.
    private var dataBlocked = false
    /// The last response head translated for nghttp2 (`ResponseFields`): a response whose head is byte for byte the
    /// same goes out with the same fields, without being parsed and lowercased again, for a memcmp (the translation
    /// was 4.7% of a 1 KiB request's samples).
    private var fields = ResponseFields()
    /// Earlier fields that HEADERS frames still owe (`unsent` > 0), until nghttp2 reports those sent or not sent: it
    /// reads them when it packs the frames (`ResponseFields`' invariant). Usually none, or one.
    private var owedFields: [ResponseFields] = []
    /// HEADERS frames whose fields nghttp2 has not yet reported sent or not sent (for tests).
    var headersOwed: Int { fields.unsent + owedFields.reduce(0) { $0 + $1.unsent } }
    /// nghttp2 still holds a stream object for this id, open or closed (for tests).
    func holdsStream(_ id: Int32) -> Bool { nghttp2_session_find_stream(session, id) != nil }
    /// Fields no frame owes any more, for the next head that differs from the last while the last is still owed.
    private(set) var spareFields: [ResponseFields] = []
    /// Spare fields kept: a burst of different heads (a page's assets of several types) before the frames went out.
    static let spareFieldsKept = 8
    /// The GOAWAY for a fatal error, written by hand (nghttp2 can send nothing after one), until `send` hands it out.
    private var finalGoAway: [UInt8]?
    /// Rapid-reset tokens and when they were last refilled (milliseconds of the caller's clock).
    private var resetTokens: Int
    private var resetRefilled: Int64 = 0
    private var now: Int64 = 0
    /// Why the session ended, once it did.
    public private(set) var failure: Failure?

    public enum Failure: Equatable, Sendable {
        /// The peer broke the protocol (nghttp2's error code); a GOAWAY says so if it can still be sent.
        case protocolError(Int32)
        /// Too many streams reset by the client (rapid reset): GOAWAY ENHANCE_YOUR_CALM.
        case rapidReset
    }

    /// - Parameter blocks: where new requests take their block's storage from (the loop's, shared by its sessions).
    public init(limits: Limits = Limits(), blocks: RequestBlocks = RequestBlocks()) {
        self.limits = limits
        self.blocks = blocks
        resetTokens = limits.resetBurst
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, Self.onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, Self.onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, Self.onFrameReceived)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, Self.onStreamClose)
        nghttp2_session_callbacks_set_send_data_callback(callbacks, Self.sendData)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, Self.onFrameSent)
        nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, Self.onFrameNotSent)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, Self.onDataChunk)
        var options: OpaquePointer?
        nghttp2_option_new(&options)
        nghttp2_option_set_max_settings(options, limits.maxSettingsEntries)
        nghttp2_option_set_max_outbound_ack(options, limits.maxQueuedAcks)
        nghttp2_option_set_max_continuations(options, limits.maxContinuations)
        // nghttp2 has a reset bucket of its own (1.57, backported to Debian's 1.52): same defaults, but on its own
        // clock and ending the connection with INTERNAL_ERROR. Ours replaces it, so it is off (a burst no client
        // reaches, and no refill, so its arithmetic cannot wrap). Ours runs on the caller's clock, so tests drive it,
        // and answers ENHANCE_YOUR_CALM, the code RFC 9113 §7 gives for "excessive load". (With both on, the two
        // raced for the same RST_STREAM.)
        nghttp2_option_set_stream_reset_rate_limit(options, UInt64.max, 0)
        // Closed streams are forgotten at once. nghttp2 otherwise keeps up to SETTINGS_MAX_CONCURRENT_STREAMS (100)
        // of them per connection, only so that a later stream may name one as its parent in RFC 7540's priority
        // tree: a scheme RFC 9113 §5.3.1 deprecates ("the prioritization signaling in RFC 7540 was not successful"),
        // whose streams naming a forgotten parent get the default priority instead (§5.3.2 of RFC 7540 allowed it:
        // "an endpoint SHOULD retain stream prioritization state for a period after streams become closed"). Kept,
        // 64 connections held 6,400 dead streams in nghttp2's stream map and tree, walked on every new stream.
        nghttp2_option_set_no_closed_streams(options, 1)
        var created: OpaquePointer?
        let rc = nghttp2_session_server_new2(&created, callbacks, Unmanaged.passUnretained(self).toOpaque(), options)
        nghttp2_option_del(options)
        nghttp2_session_callbacks_del(callbacks)
        // Allocation is the only way this fails: nothing sensible remains.
        precondition(rc == 0, "nghttp2_session_server_new2: \(rc)")
        session = created
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: limits.maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(limits.maxHeaderListBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_HEADER_TABLE_SIZE.rawValue), value: limits.headerTableSize),
        ]
        // RFC 9113 §3.4: the server's preface is a SETTINGS frame, sent first.
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
    }

    deinit {
        // First: nghttp2's frames may point into the fields, which are released after this body.
        nghttp2_session_del(session)
    }

    /// How a connection's first bytes compare with the HTTP/2 client preface (RFC 9113 §3.4: "the string
    /// PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), which opens every HTTP/2 connection: after ALPN `h2`, and in the clear
    /// with prior knowledge (§3.3).
    public enum PrefaceMatch: Equatable, Sendable {
        /// Not the preface: another protocol (HTTP/1.1).
        case different
        /// The preface so far; more bytes decide.
        case partial
        /// The whole preface (the session reads it itself).
        case complete
    }

    public static func matchPreface(_ bytes: UnsafeRawBufferPointer) -> PrefaceMatch {
        let preface: StaticString = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        let n = min(bytes.count, preface.utf8CodeUnitCount)
        for i in 0..<n where bytes[i] != preface.utf8Start[i] { return .different }
        return n == preface.utf8CodeUnitCount ? .complete : .partial
    }

    /// Feeds the client's bytes (the connection preface first). `now`: the caller's monotonic milliseconds, for the
    /// rapid-reset bucket. False when the session failed (`failure`): send what `send` still hands out (a GOAWAY),
    /// then close.
    @discardableResult
    public func receive(_ bytes: UnsafeRawBufferPointer, now: Int64) -> Bool {
        guard failure == nil, let base = bytes.baseAddress else { return failure == nil }
        self.now = now
        let rc = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if rc < 0 && failure == nil {
            failure = .protocolError(Int32(rc))
            // nghttp2's errors from receiving are fatal (a flood, CONTINUATION frames past the limit, a bad preface):
            // the session can send nothing more, so the GOAWAY that RFC 9113 §5.4.1 asks for ("An endpoint that
            // encounters a connection error SHOULD first send a GOAWAY frame") is written here.
            let code: nghttp2_error_code
            switch Int32(rc) {
            case NGHTTP2_ERR_FLOODED.rawValue, NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue: code = NGHTTP2_ENHANCE_YOUR_CALM
            case NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue: code = NGHTTP2_PROTOCOL_ERROR
            default: code = NGHTTP2_INTERNAL_ERROR
            }
            finalGoAway = Self.goAwayFrame(lastStreamID: nghttp2_session_get_last_proc_stream_id(session), code: code.rawValue)
        }
        return failure == nil
    }

    /// A GOAWAY frame (RFC 9113 §6.8: a 9-byte frame header, type 0x07 on stream 0, then the last stream id and the
    /// error code, 32 bits each, big-endian).
    static func goAwayFrame(lastStreamID: Int32, code: UInt32) -> [UInt8] {
        let last = UInt32(bitPattern: lastStreamID) & 0x7FFF_FFFF
        return [0, 0, 8, 0x07, 0, 0, 0, 0, 0,
                UInt8(last >> 24), UInt8((last >> 16) & 0xFF), UInt8((last >> 8) & 0xFF), UInt8(last & 0xFF),
                UInt8(code >> 24), UInt8((code >> 16) & 0xFF), UInt8((code >> 8) & 0xFF), UInt8(code & 0xFF)]
    }

    /// The requests completed since the last call, in the order their END_STREAM (or, for one with a body, the end
    /// of their header block) arrived.
    public func takeRequests() -> [Request] {
        var requests: [Request] = []
        takeRequests { requests.append($0) }
        return requests
    }

    /// The same, one by one, keeping the session's own list for reuse (handing the list out would make emptying it a
    /// new allocation each time). Each request is lent in place: `each` may move it out (`swap` with an empty one),
    /// which hands it over without a copy (a copy is a retain of its block, and a release when the list empties).
    public func takeRequests(_ each: (inout Request) -> Void) {
        for i in complete.indices { each(&complete[i]) }
        complete.removeAll(keepingCapacity: true)
    }

    /// Streams closed since the last call: answered in full, or reset (their bodies will not be asked for).
    public func takeClosedStreams() -> [Int32] {
        var ids: [Int32] = []
        takeClosedStreams { ids.append($0) }
        return ids
    }

    /// The same, one by one, keeping the list for reuse.
    public func takeClosedStreams(_ each: (Int32) -> Void) {
        guard !closed.isEmpty else { return }
        for id in closed { each(id) }
        closed.removeAll(keepingCapacity: true)
    }

    /// Answers a stream with a response head in HTTP/1.1's form (status line, fields, blank line), sent as HTTP/2
    /// fields (`HTTP1Translation.responseFields`), then `bodyLength` bytes in DATA frames as flow control allows (0:
    /// END_STREAM on the HEADERS frame; nil: a body of unknown length, which grows with `extendBody`). The body's
    /// bytes come from the caller as `send` asks for them. False when `head` is not such a head (nothing is sent).
    @discardableResult
    public func respond(streamID: Int32, http1Head head: UnsafeRawBufferPointer, bodyLength: Int?) -> Bool {
        if !fields.matches(head) {
            // The last head's bytes stay until the frames that owe them are out.
            if fields.unsent > 0 {
                owedFields.append(fields)
                fields = spareFields.popLast() ?? ResponseFields()
            }
            guard fields.fill(head) else { return false }
        }
        let rc: Int32
        if bodyLength != 0 {
            bodies[streamID] = Body(available: bodyLength ?? 0, complete: bodyLength != nil)
            var provider = nghttp2_data_provider(source: nghttp2_data_source(fd: 0), read_callback: Self.readBody)
            rc = fields.withList { nghttp2_submit_response(session, streamID, $0, $1, &provider) }
        } else {
            rc = fields.withList { nghttp2_submit_response(session, streamID, $0, $1, nil) }
        }
        // Refused (the stream is gone): no frame will read the fields.
        if rc == 0 { fields.unsent += 1 }
        return true
    }

    /// A HEADERS frame is sent, or will not be: the fields it was made from are owed one frame less, and free for reuse
    /// once none. Which fields they were, nghttp2's copy of the list says: its values point into their bytes (NO_COPY).
    private func headersDone(_ frame: UnsafePointer<nghttp2_frame>) {
        guard frame.pointee.headers.nvlen > 0, let status = frame.pointee.headers.nva?.pointee.value else { return }
        if fields.holds(status) {
            fields.unsent -= 1
            return
        }
        guard let k = owedFields.firstIndex(where: { $0.holds(status) }) else { return }
        owedFields[k].unsent -= 1
        if owedFields[k].unsent == 0 {
            let done = owedFields.remove(at: k)
            if spareFields.count < Self.spareFieldsKept { spareFields.append(done) }
        }
    }

    /// A streamed body (`respond` with `bodyLength` nil) has `count` more bytes; `complete`: they are its last. The
    /// stream's DATA frames go on at the next `send`.
    public func extendBody(streamID: Int32, by count: Int, complete: Bool) {
        guard var body = bodies[streamID] else { return }
        body.available += count
        body.complete = complete
        if body.deferred && (body.available > 0 || complete) {
            body.deferred = false
            nghttp2_session_resume_data(session, streamID)
        }
        bodies[streamID] = body
    }

    /// Ends a stream the server cannot finish (a streamed body whose source failed): RST_STREAM INTERNAL_ERROR, so
    /// the client knows the body is cut short (RFC 9113 §8.1: the body's end is END_STREAM, which never comes).
    public func reset(streamID: Int32) {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_INTERNAL_ERROR.rawValue)
    }

    /// What `send` stopped at.
    public enum SendOutcome: Equatable, Sendable {
        /// Everything nghttp2 may send now was handed out (more may follow input: a WINDOW_UPDATE, a request).
        case idle
        /// A sink had no room: call again once there is.
        case blocked
        /// The session failed (`failure`): close once what was handed out is written.
        case failed
    }

    /// Hands out what is ready to go, in wire order: serialized frames to `frames` (bytes valid during the call
    /// only: it must take them all; returning false stops after them), and each DATA frame to `data` as its 9-byte
    /// header, its stream and how many of that stream's body bytes follow the header (next in the body's order). `data`
    /// returns false when it has no room for them; that frame is offered again at the next call.
    public func send(
        frames: (UnsafeRawBufferPointer) -> Bool,
        data: (_ header: UnsafeRawBufferPointer, _ streamID: Int32, _ length: Int) -> Bool
    ) -> SendOutcome {
        if failure != nil, let goAway = finalGoAway {
            finalGoAway = nil
            goAway.withUnsafeBytes { _ = frames($0) }
            return .failed
        }
        return withoutActuallyEscaping(data) { data in
            dataSink = data
            dataBlocked = false
            defer { dataSink = nil }
            while true {
                var bytes: UnsafePointer<UInt8>?
                let n = nghttp2_session_mem_send(session, &bytes)
                if n < 0 {
                    if failure == nil { failure = .protocolError(Int32(n)) }
                    return .failed
                }
                if n == 0 || bytes == nil { return dataBlocked ? .blocked : .idle }
                if !frames(UnsafeRawBufferPointer(start: bytes, count: n)) { return .blocked }
            }
        }
    }

    /// Neither side has anything more to say: the connection can close (after a GOAWAY, or a failure, once the
    /// output is written).
    public var isFinished: Bool { nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 }

    /// Graceful shutdown (RFC 9113 §6.8): GOAWAY naming the last stream this server will process, so streams in
    /// flight complete and the client retries later ones on a new connection.
    public func goAway() {
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                              NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    // MARK: Callbacks (nghttp2 calls them from inside receive and send, on this thread)

    /// Runs `body` with the session a callback is for, borrowed: nghttp2 calls back only from inside the session's own
    /// methods (`receive`, `send`), which hold it alive for the whole call, so no retain is taken. (A retain and a
    /// release per callback, seven callbacks a request, were 2.5% of an HTTP/2 1 KiB request's samples.)
    @inline(__always)
    private static func withSession<Result>(_ userData: UnsafeMutableRawPointer?, _ body: (HTTP2ServerSession) -> Result) -> Result {
        Unmanaged<HTTP2ServerSession>.fromOpaque(userData!)._withUnsafeGuaranteedRef(body)
    }

    private static let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
        guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
              frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
        withSession(userData) { owner in
            owner.receiving = Request(streamID: frame.pointee.hd.stream_id, storage: owner.blocks.take())
        }
        return 0
    }

    private static let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
        guard let frame, let name, let value else { return 0 }
        withSession(userData) { owner in
            // The block being read is the request's (a trailer block has no request: its fields are not kept). In
            // place: no copy of the request per field.
            guard owner.receiving.streamID == frame.pointee.hd.stream_id, owner.receiving.streamID != 0 else { return }
            owner.receiving.add(
                name: UnsafeBufferPointer(start: name, count: nameLength), value: UnsafeBufferPointer(start: value, count: valueLength),
                limit: owner.limits.maxHeaderListBytes)
        }
        return 0
    }

    private static let onFrameReceived: nghttp2_on_frame_recv_callback = { _, frame, userData in
        guard let frame else { return 0 }
        withSession(userData) { $0.frameReceived(frame.pointee.hd) }
        return 0
    }

    /// A frame read whole: a RST_STREAM counts against the rapid-reset bucket; the end of a request's header block
    /// completes the request.
    private func frameReceived(_ header: nghttp2_frame_hd) {
        let id = header.stream_id
        let type = header.type
        let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        if type == UInt8(NGHTTP2_RST_STREAM.rawValue) {
            countReset()
            return
        }
        // DATA (a body, which a static server does not read: nghttp2 consumes it) and other frames: nothing to hand over.
        guard type == UInt8(NGHTTP2_HEADERS.rawValue), receiving.streamID == id, id != 0 else { return }
        // The header block is complete: the next one may be another stream's.
        receiving.finish()
        var request = Request(streamID: 0)
        swap(&request, &receiving)
        if !endStream {
            // A request with a body is answered at once, without reading the body: nothing Swerve serves depends on
            // it. The body is read and dropped as it comes (so a client finishes its upload normally), up to
            // `Limits.maxDiscardedBodyBytes`; past that, once the response is out, RST_STREAM NO_ERROR stops the
            // upload (RFC 9113 §8.1: "a server MAY request that the client abort transmission of a request without
            // error by sending a RST_STREAM with an error code of NO_ERROR after sending a complete response").
            request.hadBody = true
            uploads[id] = Upload()
        }
        complete.append(consume request)
    }

    private static let onFrameSent: nghttp2_on_frame_send_callback = { _, frame, userData in
        guard let frame else { return 0 }
        let header = frame.pointee.hd
        withSession(userData) { owner in
            if header.type == UInt8(NGHTTP2_HEADERS.rawValue) { owner.headersDone(frame) }
            if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
                owner.updateUpload(header.stream_id) { $0.responseSent = true }
            }
        }
        return 0
    }

    /// A frame nghttp2 dropped unsent (its stream closed first, say): a HEADERS frame's fields are owed no more.
    private static let onFrameNotSent: nghttp2_on_frame_not_send_callback = { _, frame, _, userData in
        guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
        withSession(userData) { $0.headersDone(frame) }
        return 0
    }

    private static let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, id, _, length, userData in
        withSession(userData) { $0.updateUpload(id) { $0.discarded += length } }
        return 0
    }

    /// Applies `change` to stream `id`'s upload, if it has one (its response sent, body bytes dropped). A request body
    /// being dropped past `maxDiscardedBodyBytes`, its response out, is then stopped: RST_STREAM NO_ERROR.
    private func updateUpload(_ id: Int32, _ change: (inout Upload) -> Void) {
        guard var upload = uploads[id] else { return }
        change(&upload)
        guard upload.responseSent, upload.discarded > limits.maxDiscardedBodyBytes else {
            uploads[id] = upload
            return
        }
        uploads[id] = nil
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_NO_ERROR.rawValue)
    }

    private static let onStreamClose: nghttp2_on_stream_close_callback = { _, id, _, userData in
        withSession(userData) { owner in
            if owner.receiving.streamID == id && id != 0 {
                owner.blocks.recycle(&owner.receiving)
                owner.receiving.streamID = 0
            }
            owner.uploads[id] = nil
            owner.bodies[id] = nil
            owner.closed.append(id)
        }
        return 0
    }

    /// How much of a stream's body the next DATA frame carries (at most `length`: flow control and the frame size).
    /// NO_COPY: the bytes themselves are the caller's, queued in `sendData`. A streamed body with nothing at hand yet
    /// defers (`extendBody` resumes it).
    private static let readBody: nghttp2_data_source_read_callback = { _, id, _, length, flags, _, userData in
        guard let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        return withSession(userData) { $0.nextDataLength(streamID: id, atMost: length, flags: flags) }
    }

    /// `readBody` for the stream `id`: the length of its next DATA frame, or NGHTTP2_ERR_DEFERRED.
    private func nextDataLength(streamID id: Int32, atMost length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard var body = bodies[id] else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let n = min(length, body.available)
        if n == 0 && !body.complete {
            body.deferred = true
            bodies[id] = body
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
        body.available -= n
        if body.available == 0 && body.complete {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            bodies[id] = nil
        } else {
            bodies[id] = body
        }
        return n
    }

    /// A DATA frame to write: its header and `length` body bytes, through the caller's sink. No padding is ever
    /// asked for (no select_padding callback), so the frame is exactly that.
    private static let sendData: nghttp2_send_data_callback = { _, frame, header, length, _, userData in
        guard let frame, let header else { return Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        return withSession(userData) { owner in
            guard let sink = owner.dataSink,
                  sink(UnsafeRawBufferPointer(start: header, count: 9), frame.pointee.hd.stream_id, length) else {
                owner.dataBlocked = true
                return Int32(NGHTTP2_ERR_WOULDBLOCK.rawValue)
            }
            return 0
        }
    }

    /// A RST_STREAM from the client: one token of the rapid-reset bucket. Empty: the connection ends with
    /// ENHANCE_YOUR_CALM (RFC 9113 §7) before the next frame is read.
    private func countReset() {
        let refill = (now - resetRefilled) * Int64(limits.resetsPerSecond) / 1000
        if refill > 0 {
            resetTokens = min(limits.resetBurst, resetTokens + Int(refill))
            resetRefilled = now
        }
        resetTokens -= 1
        if resetTokens < 0 && failure == nil {
            failure = .rapidReset
            nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        }
    }
}
