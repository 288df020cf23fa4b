import Synchronization

/// The protocol layer the engine drives. The engine moves bytes; the handler decides what they mean.
///
/// One handler instance per event loop (so it can own reusable scratch state without locks). The engine is generic
/// over it but compiled unspecialised in its own module, so each call goes through the protocol's witness table:
/// one indirect call, no existential box and no metadata lookup.
public protocol ConnectionHandler: AnyObject, SendableMetatype {
    /// Per-connection protocol state (for HTTP: a request body still being discarded, say). Stored in an fd-indexed
    /// table beside the loop's connection table (zero pages until touched), so it must be plain data.
    associatedtype ConnectionState: BitwiseCopyable

    /// The state of a newly accepted connection.
    func makeConnectionState() -> ConnectionState

    /// Consumes buffered input from the start of `input` and writes responses into `output`.
    /// Called after every read that delivered bytes, and again after output drained if it returned `.outputFull`.
    func process(
        _ input: UnsafeRawBufferPointer,
        state: inout ConnectionState,
        output: inout OutputWriter,
        context: ProcessContext
    ) -> ProcessOutcome

    /// The connection is gone (closed by either side, timed out, or shut down). Release anything kept for it
    /// outside `state`. Called exactly once per accepted connection.
    func connectionClosed(id: Int32, state: inout ConnectionState)

    /// The loop's periodic tick (`EventLoop.tickMS`, a few times a second), for housekeeping such as closing cached
    /// files nobody asked for lately. `now`: monotonic milliseconds. Return true to keep being ticked while the loop
    /// has no connection (it sleeps without a timeout otherwise).
    func tick(now: Int64) -> Bool

    /// A mark queued with `OutputWriter.appendMark` was passed: every byte queued before it was written to the socket
    /// (`unsentBytes` 0), or the connection closed with `unsentBytes` of them never sent. Called once per mark, in
    /// order, and for a closing connection before `connectionClosed`. Must not queue output.
    func outputMarkReached(_ mark: UInt32, unsentBytes: Int, id: Int32, state: inout ConnectionState)
}

extension ConnectionHandler {
    /// A handler that never sets marks needs no report of them.
    public func outputMarkReached(_ mark: UInt32, unsentBytes: Int, id: Int32, state: inout ConnectionState) {}
}

/// Facts about the loop that a handler may use to shape its responses.
public struct ProcessContext: Sendable {
    /// The server is shutting down: finish what was asked, and tell the client the connection will close.
    public var draining: Bool
    /// Seconds since the epoch, updated once per loop wake-up (for Date headers): `CLOCK_REALTIME_COARSE`, the
    /// clock the kernel stamps files with.
    public var wallClockSeconds: Int
    /// The nanoseconds of the same reading.
    public var wallClockNanoseconds: Int32
    /// Monotonic milliseconds, read at the same wake-up (for intervals: cache ages, re-checks).
    public var monotonicMilliseconds: Int64
    /// Counts this loop's passes over input that arrived: each return from `epoll_wait`, and each connection accepted
    /// with its first bytes in and served at once, before it is registered (`EventLoop.acceptConnections`). A
    /// request is read in a pass that began after its bytes arrived (or, pipelined behind another, that began while
    /// they were already waiting), so a handler can make a check once per pass instead of once per request.
    public var pass: UInt64
    /// Wakes this connection after the handler returned `.suspend`; callable from any thread.
    public var resumer: ConnectionResumer
    /// Identifies the connection within its loop while it is open (its fd); handlers key side tables by it.
    public var connectionID: Int32
    /// The request at the head of the input has waited `EngineConfiguration.suspendTimeout` for work off the loop:
    /// answer it now without suspending again (suspending again closes the connection).
    public var waitExpired: Bool
    /// The client's address and port.
    public var peer: PeerAddress
    /// The keep-alive timeout ran out with nothing in flight: this run is the connection's last, and the engine
    /// closes it afterwards whatever the outcome. A protocol with a goodbye says it now (HTTP/2's GOAWAY, RFC 9113
    /// §9.1: "the terminating endpoint SHOULD first send a GOAWAY frame").
    public var idleExpired = false
}

/// A handle that puts a suspended connection back into its loop's run queue. Safe from any thread; resuming a
/// connection that has since closed (or whose fd now belongs to a newer connection) does nothing, thanks to the
/// generation number in the token.
public struct ConnectionResumer: Sendable {
    let mailbox: LoopMailbox
    let token: SelectorToken
    /// Raised by `resume`, for a handler that waits on several things at once for one connection.
    var flag: ResumeFlag?

    init(mailbox: LoopMailbox, token: SelectorToken) {
        self.mailbox = mailbox
        self.token = token
    }

    public func resume() {
        flag?.raise()
        mailbox.post(token)
    }

    /// The same resumer, raising `flag` as well: an HTTP/2 stream waits with one of its own, so that of all the
    /// connection's streams waiting for work off the loop only those whose work finished are asked again.
    public func raising(_ flag: ResumeFlag) -> ConnectionResumer {
        var copy = self
        copy.raiseAlso(flag)
        return copy
    }

    /// The same in place: this resumer raises `flag` from now on (in place of the flag it raised before).
    public mutating func raiseAlso(_ flag: ResumeFlag) {
        self.flag = flag
    }

    /// This resumer raises no flag any more (and holds none).
    public mutating func raiseNone() {
        flag = nil
    }
}

/// Says whether a resumer made with `ConnectionResumer.raising` was called. Raised before the loop is woken, so a
/// handler that runs because of that resume sees it.
public final class ResumeFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    public init() {}

    /// Whether a resume came since the last call; lowers the flag.
    public func take() -> Bool { raised.exchange(false, ordering: .acquiringAndReleasing) }

    func raise() { raised.store(true, ordering: .releasing) }
}

/// What the engine does after `process` returns. `consumed` is how many input bytes the handler is done with; the
/// rest stay buffered for the next call.
public enum ProcessOutcome: Equatable, Sendable {
    /// Needs more bytes. `midMessage`: a request has begun but is not complete (its header or body is still
    /// arriving), so the header timeout runs instead of the idle keep-alive timeout.
    case needInput(consumed: Int, midMessage: Bool)
    /// Output is too full to answer the next request: flush, then call again with the remaining input.
    case outputFull(consumed: Int)
    /// Send what is queued, then close. `lingering`: the client may still be sending (an error answered before
    /// its request was read whole), so half-close and discard its input for a while, letting it read the
    /// response instead of receiving a reset (RFC 9112 §9.6).
    case close(consumed: Int, lingering: Bool)
    /// The next response needs work done off the loop (compressing a file, say). The connection stops reading
    /// and processing until `context.resumer.resume()` is called; then `process` is called again with the
    /// remaining input (which still starts with the request that suspended), and output keeps flowing meanwhile.
    /// One deadline (`EngineConfiguration.suspendTimeout`) covers a request's suspends: it starts at a suspend that
    /// follows progress (input consumed, or an outcome other than a suspend) and is not extended by a suspend that
    /// follows a resume without progress.
    case suspend(consumed: Int)
}
