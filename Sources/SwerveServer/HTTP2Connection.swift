import SwerveEngine
import SwerveHTTP2

/// One HTTP/2 connection's state beside the engine's slot (the slot's `HTTPConnectionState` is plain data): its
/// nghttp2 session and the streams being answered. Owned by its loop's `HTTPHandler`, touched by that loop only.
final class HTTP2Connection {
    let session: HTTP2ServerSession
    /// Requests not answered yet, in arrival order: the pipeline suspended them for work off the loop (a
    /// compression, a listing), and each is asked again when its own work resumes it (`HTTP2Stream.resumed`) or its
    /// wait runs out.
    var waiting: [HTTP2Stream] = []
    /// Answered streams whose body is still (partly) to be sent, by stream id.
    var bodies = StreamTable<StagedOutput>()
    /// Streams whose body is a compressed stream (`CompressionStream`, by the stream's key in the handler's `streams`), its pieces
    /// added to its body in `bodies` as they are compressed; by stream id.
    var streamed = StreamTable<HTTP2Stream>()
    /// Serialized frames the connection's output had no room for, sent before anything else.
    var heldFrames: [UInt8] = []
    /// Access-log marks of answered streams without a body, queued after their HEADERS frame.
    var marksAfterFrames: [UInt32] = []
    /// GOAWAY has been submitted (the server is draining).
    var goingAway = false

    init(limits: HTTP2ServerSession.Limits, blocks: RequestBlocks) {
        session = HTTP2ServerSession(limits: limits, blocks: blocks)
    }

    /// Streams the connection still owes something: a response, or body bytes.
    var hasStreamsInFlight: Bool { !waiting.isEmpty || !bodies.isEmpty || !streamed.isEmpty }
}

/// A request of an HTTP/2 connection on its way through the HTTP/1.1 pipeline. Answered, it goes back to its loop's
/// spares (`HTTPHandler.spareStreams`) unless something still holds it, and `reuse` makes it the next request's.
final class HTTP2Stream {
    private(set) var request: HTTP2ServerSession.Request
    /// The per-request facts the pipeline keeps between suspends (compression attempts, a miss waited for).
    var state = HTTPConnectionState()
    /// The key of this stream's side-table entries (a listing job, a compressed stream), in place of a connection id: negative, so it
    /// never meets an HTTP/1.1 connection's fd.
    private(set) var key: Int32
    /// Monotonic milliseconds of the first suspend, 0 before: after `waitLimitMilliseconds` the stream is answered
    /// without waiting (as `ProcessContext.waitExpired` tells an HTTP/1.1 request).
    var waitingSince: Int64 = 0
    /// Raised when the work this stream waits for is done (its resumer is the connection's, raising this too).
    /// A spare stream keeps its own (`HTTPHandler.recycle`).
    var resumed: ResumeFlag

    /// How long a stream waits for work off the loop before it is answered without it: the engine's default
    /// `suspendTimeout` (5 s), which HTTP/1.1 requests get.
    static let waitLimitMilliseconds: Int64 = 5000

    /// A stream for `request`, moved in (the caller is left an empty request).
    init(taking request: inout HTTP2ServerSession.Request, key: Int32, resumed: ResumeFlag) {
        self.request = HTTP2ServerSession.Request(streamID: request.streamID)
        swap(&self.request, &request)
        self.key = key
        self.resumed = resumed
    }

    /// This spare stream as a new one, for `request`, moved in (the caller gets the spare's empty request back):
    /// everything as `init` sets it, its own resume flag kept (lowered, and held by nothing else, when it was made a
    /// spare).
    func reuse(taking request: inout HTTP2ServerSession.Request, key: Int32) {
        swap(&self.request, &request)
        self.key = key
        state = HTTPConnectionState()
        waitingSince = 0
    }

    /// Runs `body` with the stream's request moved out of the stream and back after, so it is lent without a copy
    /// (a copy of a request is a retain of its block and a release). Meanwhile the stream holds an empty request of
    /// the same stream id.
    func withRequest<Result>(_ body: (borrowing HTTP2ServerSession.Request) -> Result) -> Result {
        var lent = HTTP2ServerSession.Request(streamID: request.streamID)
        swap(&lent, &request)
        defer { swap(&lent, &request) }
        return body(lent)
    }

    /// The answered request's block storage, back to the loop's spares; the stream keeps an empty request.
    func recycleRequest(into blocks: RequestBlocks) {
        blocks.recycle(&request)
    }
}
