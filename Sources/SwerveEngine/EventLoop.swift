import CSwerveSys
import Glibc
import Synchronization
import SwerveTLS

/// Where a connection is in its life.
enum ConnectionPhase: UInt8 {
    case free = 0
    /// Reading requests and writing responses.
    case open
    /// Write side shut down after an error response; input is read and discarded until EOF or the linger timeout.
    case lingering
}

/// Which deadline a connection's `deadline` field currently means.
enum TimerKind: UInt8 {
    /// `work`: suspended with nothing to send; only the work deadline (`ConnectionSlot.workDeadline`) runs.
    /// `handshake`: a TLS connection whose handshake is not complete (`EngineConfiguration.handshakeTimeout`).
    case idle = 0, header, send, linger, work, handshake
}

/// One row of the fd-indexed connection table. Plain data, so a zero-filled page is a table of free rows.
///
/// Not generic on purpose: the handler's per-connection state lives in a table of its own (`EventLoop.state(_:)`).
/// `EventLoop` is compiled once, unspecialised, in this module, so a slot generic over the handler's state type had
/// its metadata looked up at run time (`swift_getGenericMetadata`, a locked hash-table probe) at every access site,
/// twice per event: about a tenth of the user-space time of a cached gzip hit (perf, `docs/PERFORMANCE.md`).
struct ConnectionSlot {
    var generation: UInt32
    var phase: ConnectionPhase
    var timer: TimerKind
    /// Stop reading: output is backed up and the client is not draining it.
    var readPaused: Bool
    /// Close (or linger) once the output queue drains.
    var closeAfterFlush: Bool
    var lingerAfterFlush: Bool
    /// The peer sent EOF.
    var peerClosed: Bool
    /// EPOLLOUT is in the registration (added the first time a write came up short).
    var watchingWritable: Bool
    /// The fd is in the epoll set. Not yet while a connection accepted with its first bytes in is served inline
    /// (`acceptConnections`); one that is done by then (`Connection: close`) is closed without ever being added.
    var registered = false
    /// The connection used its turn (`EventLoop.fileBytesPerTurn`) with the socket still writable and is in the
    /// loop's `yielded` list, to go on after the other ready connections had theirs.
    var yielded: Bool
    /// The handler said a request is partially received.
    var midMessage: Bool
    /// The handler suspended the connection until a worker resumes it.
    var suspended: Bool
    /// The suspend deadline has passed once for the request at the head of the input; the handler was told
    /// (`ProcessContext.waitExpired`) and a further suspend closes the connection.
    var workExpired: Bool
    var inputLength: Int32
    /// Input buffer from the loop's pool; nil while nothing is buffered.
    var input: UnsafeMutableRawPointer?
    /// Output queue from the loop's pool; nil while nothing is queued.
    var output: UnsafeMutablePointer<OutputBuffer>?
    /// Monotonic milliseconds at which `timer` fires.
    var deadline: Int64
    /// Monotonic milliseconds by which the suspended request must be resumed (see `ProcessOutcome.suspend`), or 0
    /// when no request is waiting for work off the loop.
    var workDeadline: Int64
    /// Bytes discarded while lingering.
    var lingered: Int32
    /// Who is on the other end, from `accept4`.
    var peer: PeerAddress
    /// The connection's TLS state on a TLS listener (freed by `close`); nil for plain TCP. See EventLoop+TLS.swift.
    var tls: TLSConnection? = nil
    /// A TLS read stopped because OpenSSL must write first (`wantWrite`): the next writable event reads again.
    var tlsReadWantsWrite = false
    /// A TLS write stopped because OpenSSL must read first (`wantRead`): the next readable event flushes again.
    var tlsWriteWantsRead = false
    /// OpenSSL reported a fatal error: no close_notify is sent (OpenSSL forbids `SSL_shutdown` after one).
    var tlsFailed = false
    /// The kernel encrypts this connection's output (kTLS): file bodies go out with `SSL_sendfile`.
    var kernelTLS = false

    /// The TLS handshake is still running (its deadline is the one that runs): events go to `continueHandshake`, not
    /// to the handler.
    var tlsHandshaking: Bool { timer == .handshake }
}

/// Connections to resume, posted from other threads (workers that finished off-loop work), drained by the loop
/// after an eventfd wake-up. One lock and one eventfd write per resume.
public final class LoopMailbox: Sendable {
    private let tokens = Mutex<[SelectorToken]>([])
    let wakeFD: Int32

    init(wakeFD: Int32) { self.wakeFD = wakeFD }

    func post(_ token: SelectorToken) {
        tokens.withLock { $0.append(token) }
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    /// Swaps the pending list out (the caller keeps `spare` allocated across calls to avoid churn).
    func take(into spare: inout [SelectorToken]) {
        spare.removeAll(keepingCapacity: true)
        tokens.withLock { swap(&$0, &spare) }
    }
}

/// Open connections across all loops. One relaxed atomic add per accept and close; loops never wait on it.
final class ConnectionCounter: Sendable {
    let value = Atomic<Int>(0)
}

/// One loop's counters for metrics. Written only by the loop's thread, as a relaxed load and store (no
/// read-modify-write, so no locked instruction); read by anyone with a relaxed load.
final class LoopCounters: Sendable {
    let accepted = Atomic<Int>(0)
    /// TLS handshakes completed, of which the kernel took over the send side (kTLS), and handshakes that failed.
    let handshakes = Atomic<Int>(0)
    let kernelTLSHandshakes = Atomic<Int>(0)
    let handshakeFailures = Atomic<Int>(0)

    @inline(__always) func countAccepted() { Self.bump(accepted) }

    func countHandshake(kernelTLS: Bool) {
        Self.bump(handshakes)
        if kernelTLS { Self.bump(kernelTLSHandshakes) }
    }

    func countHandshakeFailure() { Self.bump(handshakeFailures) }

    @inline(__always) private static func bump(_ counter: borrowing Atomic<Int>) {
        counter.store(counter.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }
}

/// Milliseconds on the coarse monotonic clock (a vDSO read, no syscall; ~4 ms resolution is plenty for timeouts).
@inline(__always) func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// One event loop: one thread, one epoll instance, one listener, and the connections it accepted.
///
/// Edge-triggered connections: each connection is registered for `in | rdhup`, edge-triggered; EPOLLOUT is added
/// once, the first time a write comes up short, and then stays – so a keep-alive request costs no `epoll_ctl`
/// (level-triggered would need EPOLLOUT toggled on every partial write), and connections whose responses always
/// fit the send buffer never get writable wake-ups at all. The price of edge triggering is that every edge must be consumed: the loop reads until a
/// read returns fewer bytes than asked (for a stream socket that means the receive queue was empty at that moment,
/// so the next arrival raises a new edge) and writes until a write is short. The listener is level-triggered:
/// `accept4` runs in bounded batches and whatever is left simply reports again.
///
/// Thread-safety: everything but `requestStop()`/`wakeUp()` runs on the loop's own thread.
final class EventLoop<Handler: ConnectionHandler>: @unchecked Sendable {
    typealias Slot = ConnectionSlot

    let configuration: EngineConfiguration
    let handler: Handler
    let selector: EpollSelector
    private let listenFD: Int32
    private let wakeFD: Int32
    let mailbox: LoopMailbox
    private var resumeList: [SelectorToken] = []
    /// Connections that stopped sending a file at the end of their turn, socket still writable (`Slot.yielded`):
    /// run again after this wake-up's events, before the loop waits (with a zero timeout while any are left).
    var yielded: [SelectorToken] = []
    private var yieldedSpare: [SelectorToken] = []
    private let stopRequested = Atomic<Bool>(false)
    /// Open connections across all loops, for the `maxConnections` cap.
    private let connectionCount: ConnectionCounter
    let counters = LoopCounters()
    let slots: UnsafeMutablePointer<Slot>
    private let slotsBytes: Int
    /// The handler's state per fd, beside `slots` (see `ConnectionSlot`): raw memory addressed with a stride taken
    /// once, so reaching a connection's state needs no type metadata on the hot path.
    private let states: UnsafeMutableRawPointer
    private let statesBytes: Int
    private let stateStride: Int
    private let tableCapacity: Int32
    var inputPool: FreeList<UnsafeMutableRawPointer>
    private var outputPool: FreeList<UnsafeMutablePointer<OutputBuffer>>
    let scratch: UnsafeMutableRawPointer
    /// Plaintext staged for TLS (`tlsChunk` bytes), allocated only for a TLS listener.
    let tlsScratch: UnsafeMutableRawPointer
    /// TLS records are collected per connection and written once per flush (`TLSConnection(bufferedSends:)`), unless
    /// the kernel has kTLS, which needs OpenSSL's own socket BIO (`KernelTLS.availability`, probed once per process).
    let bufferedTLSSends: Bool
    static var scratchSize: Int { 16 * 1024 }

    var now: Int64 = monotonicMilliseconds()
    var wallClock: Int = 0
    private var wallClockNanoseconds: Int32 = 0
    /// Passes over arrived input so far (`ProcessContext.pass`): returns from `epoll_wait`, and connections served on
    /// accept.
    private var passes: UInt64 = 0
    private var liveConnections = 0
    private var highestFD: Int32 = 0
    private var acceptPaused = false
    private var listenerOpen = true
    private var draining = false
    private var drainDeadline: Int64 = 0
    private var nextTick: Int64 = 0
    /// The handler asked to be ticked even with no connection open (see `ConnectionHandler.tick`); set again by
    /// every accept and every close, so state a connection left behind is ticked at least once.
    private var handlerWantsTicks = false

    let headerTimeoutMS: Int64
    private let keepAliveTimeoutMS: Int64
    private let sendTimeoutMS: Int64
    private let suspendTimeoutMS: Int64
    private let lingerTimeoutMS: Int64
    let handshakeTimeoutMS: Int64
    /// File bytes one connection sends per turn: then the other ready connections get theirs. Without a bound one
    /// `sendfile` took what the socket would take, several megabytes on a fast path (2.2 ms per call for a 10 MB
    /// file on loopback, strace), while every other connection of the loop waited: p99 0.4–1.0 s with 8 clients.
    /// 1 MiB is about 0.4 ms of `sendfile` here (nginx's `sendfile_max_chunk` defaults to 2 MiB); against 256 KiB it
    /// cut the server's CPU per 10 MiB response by ~10% (724–773 against 805–856 µs, no `TCP_NOTSENT_LOWAT`) with
    /// the same p99 for 8 clients (docs/PERFORMANCE.md).
    static var fileBytesPerTurn: Int { 1024 * 1024 }
    /// How often deadlines are scanned. Scanning is a pass over this loop's rows up to its highest fd: ~20k rows is
    /// tens of microseconds, four times a second.
    private static var tickMS: Int64 { 250 }
    /// Connections accepted per listener wake-up before other events get a turn.
    private static var acceptBatch: Int { 128 }
    /// Bytes a lingering close discards before giving up on a client that keeps sending.
    private static var lingerLimit: Int32 { 1 << 20 }

    static var listenerToken: SelectorToken { SelectorToken(fd: -1, generation: 0) }
    static var wakeToken: SelectorToken { SelectorToken(fd: -2, generation: 0) }

    init(configuration: EngineConfiguration, listenFD: Int32, connectionCount: ConnectionCounter, handler: Handler) throws(SystemError) {
        self.configuration = configuration
        self.handler = handler
        self.listenFD = listenFD
        self.connectionCount = connectionCount
        selector = try EpollSelector()
        let efd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard efd >= 0 else { throw SystemError("eventfd") }
        wakeFD = efd
        mailbox = LoopMailbox(wakeFD: efd)

        // The table is indexed by fd, so it needs a row for every fd the process may hold. mmap gives zero pages
        // that cost no memory until touched: a loop that serves 100 connections touches a few pages, not 20k rows.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let capacity = Int32(clamping: min(UInt64(limit.rlim_cur), 1 << 20))
        tableCapacity = max(capacity, 1024)
        slotsBytes = Int(tableCapacity) * MemoryLayout<Slot>.stride
        let memory = try Self.zeroPages(slotsBytes)
        slots = memory.bindMemory(to: Slot.self, capacity: Int(tableCapacity))
        stateStride = max(1, MemoryLayout<Handler.ConnectionState>.stride)
        statesBytes = Int(tableCapacity) * stateStride
        do {
            states = try Self.zeroPages(statesBytes)
        } catch {
            munmap(memory, slotsBytes)
            throw error
        }

        inputPool = FreeList(retain: 64)
        outputPool = FreeList(retain: 64)
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 16)
        tlsScratch = .allocate(byteCount: configuration.tls == nil ? 1 : Self.tlsChunk, alignment: 16)
        bufferedTLSSends = configuration.tls != nil && KernelTLS.availability != .available
        headerTimeoutMS = Int64(configuration.headerTimeout * 1000)
        keepAliveTimeoutMS = Int64(configuration.keepAliveTimeout * 1000)
        sendTimeoutMS = Int64(configuration.sendTimeout * 1000)
        suspendTimeoutMS = Int64(configuration.suspendTimeout * 1000)
        lingerTimeoutMS = Int64(configuration.lingerTimeout * 1000)
        handshakeTimeoutMS = Int64(configuration.handshakeTimeout * 1000)

        try selector.register(fd: listenFD, events: .readable, token: Self.listenerToken)
        try selector.register(fd: wakeFD, events: .readable, token: Self.wakeToken)
    }

    deinit {
        inputPool.drain { $0.deallocate() }
        inputPool.deallocate()
        outputPool.drain { $0.pointee.free(); $0.deallocate() }
        outputPool.deallocate()
        scratch.deallocate()
        tlsScratch.deallocate()
        munmap(slots, slotsBytes)
        munmap(states, statesBytes)
        Glibc.close(wakeFD)
        if listenerOpen { Glibc.close(listenFD) }
    }

    // MARK: Cross-thread

    /// Asks the loop to stop: it closes its listener, lets in-flight responses finish within the grace period, and
    /// returns from `run()`. Safe from any thread.
    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wakeUp()
    }

    func wakeUp() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    // MARK: The loop

    func run() {
        while true {
            let timeout: Int32
            if !yielded.isEmpty {
                // Connections are in the middle of their files: look at new events, but do not sleep.
                timeout = 0
            } else if liveConnections > 0 || acceptPaused || draining || handlerWantsTicks {
                timeout = Int32(clamping: max(0, nextTick - now))
            } else {
                timeout = -1
            }
            do {
                // The clock is read on waking, before any event is handled: after an idle wait (forever, when no
                // connection is open) the previous reading can be minutes old, and a connection accepted against it
                // would start with its header deadline already past and be closed by the next tick before its
                // request is read.
                _ = try selector.whenReady(timeoutMilliseconds: timeout, woke: { self.readClock() }) { token, events in
                    self.dispatch(token: token, events: events)
                }
            } catch {
                // epoll_wait only fails on programming errors (EBADF, EINVAL); nothing to serve any more.
                break
            }
            if !yielded.isEmpty { continueYielded() }
            if now >= nextTick {
                nextTick = now + Self.tickMS
                expireDeadlines()
            }
            if draining && (liveConnections == 0 || now >= drainDeadline) {
                closeAll()
                return
            }
        }
        closeAll()
    }

    /// `bytes` of private anonymous memory: zero pages that cost nothing until touched (the fd-indexed tables).
    private static func zeroPages(_ bytes: Int) throws(SystemError) -> UnsafeMutableRawPointer {
        let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else { throw SystemError("mmap") }
        return memory
    }

    /// The handler's state of the connection on `fd` (valid while its slot is not `.free`).
    @inline(__always)
    private func state(_ fd: Int32) -> UnsafeMutablePointer<Handler.ConnectionState> {
        (states + Int(fd) &* stateStride).assumingMemoryBound(to: Handler.ConnectionState.self)
    }

    /// Cost: two vDSO reads, no syscall. The coarse real-time clock is the one `time()` reads (the Date header stays
    /// exact to the second) and the one the kernel stamps files with (`ProcessContext.wallClockNanoseconds`).
    @inline(__always)
    private func readClock() {
        now = monotonicMilliseconds()
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        wallClock = ts.tv_sec
        wallClockNanoseconds = Int32(truncatingIfNeeded: ts.tv_nsec)
        passes &+= 1
    }

    @inline(__always)
    private func dispatch(token: SelectorToken, events: SelectorEvents) {
        switch token.fd {
        case Self.listenerToken.fd:
            acceptConnections()
        case Self.wakeToken.fd:
            var value: UInt64 = 0
            _ = Glibc.read(wakeFD, &value, 8)
            resumeConnections()
            if stopRequested.load(ordering: .acquiring) { beginDraining() }
        default:
            let fd = token.fd
            guard fd >= 0, fd < tableCapacity else { return }
            let slot = slots + Int(fd)
            // A stale event for an fd number that was closed and reused by a newer connection.
            guard slot.pointee.generation == token.generation, slot.pointee.phase != .free else { return }
            if events.contains(.error) {
                close(fd)
                return
            }
            if slot.pointee.tlsHandshaking {
                continueHandshake(fd, slot)
                return
            }
            if events.contains(.writable) || events.contains(.hangup) {
                onWritable(fd, slot)
                guard slot.pointee.phase != .free, slot.pointee.generation == token.generation else { return }
            }
            if events.contains(.readable) || events.contains(.readHangup) || events.contains(.hangup) {
                onReadable(fd, slot, hangup: events.contains(.readHangup) || events.contains(.hangup))
            }
        }
    }

    // MARK: Accepting

    private func acceptConnections() {
        // With TCP_DEFER_ACCEPT every connection comes with its first bytes (a request, a ClientHello): each is served
        // as soon as it is accepted, as its first readable event would be, and put in the epoll set only if it stays
        // open (a write that comes up short registers it itself, `watchWritable`). A `Connection: close` request then
        // costs no epoll_ctl, nor an epoll item made and freed in the kernel, and the next connection reuses the fd,
        // slot and socket memory just freed: ×1.13 req/s at 35% of a core (docs/PERFORMANCE.md; accepting a whole
        // batch first, then serving it, bought ×1.08). Registering edge-triggered afterwards loses nothing: epoll_ctl
        // reports readiness that is already there.
        let serveOnAccept = configuration.deferAcceptSeconds > 0
        for _ in 0..<Self.acceptBatch {
            if connectionCount.value.load(ordering: .relaxed) >= configuration.maxConnections || draining {
                pauseAccepting()
                return
            }
            var address = sockaddr_storage()
            var addressLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) { storage in
                storage.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(listenFD, $0, &addressLength, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                switch errno {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: the pending connection stays in the backlog. Stop listening
                    // (a level-triggered listener would otherwise spin) and retry on the next tick or close.
                    pauseAccepting()
                    return
                default:
                    return
                }
            }
            guard fd < tableCapacity else {
                Glibc.close(fd)
                continue
            }
            // TCP_NODELAY and TCP_NOTSENT_LOWAT come from the listener (see Listener.open): no setsockopt here.
            let slot = slots + Int(fd)
            let generation = slot.pointee.generation &+ 1 == 0 ? 1 : slot.pointee.generation &+ 1
            slot.initialize(to: Slot(
                generation: generation, phase: .open, timer: .header, readPaused: false, closeAfterFlush: false,
                lingerAfterFlush: false, peerClosed: false, watchingWritable: false, yielded: false,
                midMessage: false,
                suspended: false, workExpired: false, inputLength: 0, input: nil, output: nil,
                deadline: now + headerTimeoutMS, workDeadline: 0, lingered: 0, peer: PeerAddress(address)))
            state(fd).initialize(to: handler.makeConnectionState())
            if let store = configuration.tls {
                // The handshake runs on the connection's first events (the ClientHello is usually in already:
                // registering reports it at once); until it completes, only its own deadline runs.
                guard let tls = TLSConnection(context: store.current, fd: fd, bufferedSends: bufferedTLSSends) else {
                    slot.pointee.phase = .free
                    Glibc.close(fd)
                    continue
                }
                slot.pointee.tls = tls
                slot.pointee.timer = .handshake
                slot.pointee.deadline = now + handshakeTimeoutMS
            }
            liveConnections += 1
            counters.countAccepted()
            handlerWantsTicks = true
            connectionCount.value.add(1, ordering: .relaxed)
            if fd > highestFD { highestFD = fd }
            if serveOnAccept {
                // A pass of its own (`ProcessContext.pass`): the bytes arrived before accept4 returned, so a file check
                // made while serving them postdates the request. (Under the wake-up's pass, a connection accepted
                // later in the same loop could carry a request sent after a deploy and meet a check made before it:
                // DeployTests.renameOver caught that under load.)
                passes &+= 1
                if slot.pointee.tlsHandshaking { continueHandshake(fd, slot) } else { onReadable(fd, slot) }
                if slot.pointee.phase != .free && !slot.pointee.registered { register(fd, slot) }
            } else {
                register(fd, slot)
            }
        }
    }

    /// Puts an open connection in the epoll set, for its reads (its writes are added when one comes up short); closes
    /// it if that fails.
    private func register(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        do {
            try selector.register(
                fd: fd, events: [.readable, .readHangup, .edgeTriggered],
                token: SelectorToken(fd: fd, generation: slot.pointee.generation))
            slot.pointee.registered = true
        } catch {
            close(fd)
        }
    }

    private func pauseAccepting() {
        guard !acceptPaused, listenerOpen else { return }
        acceptPaused = true
        selector.deregister(fd: listenFD)
    }

    private func resumeAcceptingIfPossible() {
        guard acceptPaused, listenerOpen, !draining,
              connectionCount.value.load(ordering: .relaxed) < configuration.maxConnections else { return }
        do {
            try selector.register(fd: listenFD, events: .readable, token: Self.listenerToken)
            acceptPaused = false
        } catch {
            // Try again next tick.
        }
    }

    // MARK: Reading

    /// Reads until the socket is drained. A read shorter than the space offered means the receive queue was empty
    /// at that moment, so the next arrival raises a new edge – unless the peer has closed (`hangup`: EPOLLRDHUP came
    /// with the data): then no further edge will come, and the loop reads on to the EOF, so a client that sent its
    /// request and FIN in one packet is closed after its response instead of at the keep-alive timeout.
    func onReadable(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>, hangup: Bool = false) {
        if slot.pointee.phase == .lingering {
            drainLingering(fd, slot)
            return
        }
        if slot.pointee.tlsWriteWantsRead {
            // A TLS write was waiting for this readable event (whether or not reading is paused).
            slot.pointee.tlsWriteWantsRead = false
            if flush(fd, slot) == .closed { return }
        }
        guard !slot.pointee.readPaused, !slot.pointee.suspended, !slot.pointee.peerClosed, !slot.pointee.closeAfterFlush else { return }
        if let tls = slot.pointee.tls {
            readTLS(fd, slot, tls, hangup: hangup)
            return
        }
        while true {
            guard let (free, space) = inputSpace(fd, slot) else { return }
            let have = Int(slot.pointee.inputLength)
            let n = swerve_read(fd, free, space)
            if n > 0 {
                slot.pointee.inputLength = Int32(have + n)
                guard runHandler(fd, slot) else { return }
                if n < space && !hangup { break }
                continue
            }
            if n == 0 {
                peerFinished(fd, slot)
                return
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK: break
            case EINTR: continue
            default:
                close(fd)
                return
            }
            break
        }
        releaseInputIfEmpty(slot)
    }

    /// EOF: the client sent everything it will send. Finish queued output, then close.
    func peerFinished(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        slot.pointee.peerClosed = true
        if slot.pointee.output == nil {
            close(fd)
        } else {
            slot.pointee.closeAfterFlush = true
        }
    }

    /// Where the next read goes: the free end of the connection's input buffer (taken from the pool when it has
    /// none) and its size. nil, with the connection closed, when the buffer is full: the handler let its input fill
    /// it without answering (a handler bug or a limit set above the buffer size), and nothing sensible remains.
    @inline(__always)
    func inputSpace(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) -> (UnsafeMutableRawPointer, Int)? {
        let bufferSize = configuration.inputBufferSize
        if slot.pointee.input == nil {
            slot.pointee.input = inputPool.pop() ?? .allocate(byteCount: bufferSize, alignment: 16)
        }
        let have = Int(slot.pointee.inputLength)
        guard have < bufferSize else {
            close(fd)
            return nil
        }
        return (slot.pointee.input! + have, bufferSize - have)
    }

    /// Lets the handler consume buffered input and flushes what it wrote. Returns false when the connection was
    /// closed or must not be read further for now.
    func runHandler(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>, idleExpired: Bool = false) -> Bool {
        while true {
            if slot.pointee.output == nil {
                slot.pointee.output = outputPool.pop() ?? makeOutputBuffer()
            }
            let length = Int(slot.pointee.inputLength)
            var writer = OutputWriter(slot.pointee.output!)
            let outcome = handler.process(
                UnsafeRawBufferPointer(start: slot.pointee.input, count: length),
                state: &state(fd).pointee, output: &writer,
                context: ProcessContext(
                    draining: draining, wallClockSeconds: wallClock, wallClockNanoseconds: wallClockNanoseconds,
                    monotonicMilliseconds: now, pass: passes,
                    resumer: ConnectionResumer(mailbox: mailbox, token: SelectorToken(fd: fd, generation: slot.pointee.generation)),
                    connectionID: fd, waitExpired: slot.pointee.workExpired, peer: slot.pointee.peer, idleExpired: idleExpired))
            if case .suspend = outcome {} else {
                // The request that waited (if any) was answered: the next suspend starts a deadline of its own.
                slot.pointee.workDeadline = 0
                slot.pointee.workExpired = false
            }
            switch outcome {
            case .needInput(let consumed, let midMessage):
                consumeInput(slot, consumed)
                let wasMid = slot.pointee.midMessage
                slot.pointee.midMessage = midMessage || slot.pointee.inputLength > 0
                if slot.pointee.midMessage && !wasMid {
                    // A new request started: its header (and body) must arrive within the header timeout,
                    // counted from now and not extended by each trickled byte.
                    slot.pointee.timer = .header
                    slot.pointee.deadline = now + headerTimeoutMS
                }
                switch flush(fd, slot) {
                case .closed: return false
                case .drained, .pending: return true
                }
            case .outputFull(let consumed):
                consumeInput(slot, consumed)
                switch flush(fd, slot) {
                case .closed: return false
                case .drained: continue
                case .pending:
                    // Back-pressure: the client is not reading its responses. Stop reading its requests until
                    // EPOLLOUT reports the queue drained.
                    slot.pointee.readPaused = true
                    return false
                }
            case .suspend(let consumed):
                if slot.pointee.workExpired {
                    // Told to answer without waiting, it waited again: nothing will answer this request.
                    close(fd)
                    return false
                }
                consumeInput(slot, consumed)
                slot.pointee.suspended = true
                slot.pointee.midMessage = true
                // One deadline per request that waits: started by the first suspend (or one after progress), kept
                // through resumes that suspend again without progress (a file that keeps changing while it is
                // compressed), so no retry loop can hold a connection forever.
                if slot.pointee.workDeadline == 0 || consumed > 0 {
                    slot.pointee.workDeadline = now + suspendTimeoutMS
                }
                // The client is not the one keeping this request: no header or idle deadline runs while it waits
                // (finishDrained), only the work deadline and, while output is queued, the send timeout.
                switch flush(fd, slot) {
                case .closed: return false
                case .drained, .pending: return false
                }
            case .close(let consumed, let lingering):
                consumeInput(slot, consumed)
                slot.pointee.closeAfterFlush = true
                slot.pointee.lingerAfterFlush = lingering
                _ = flush(fd, slot)
                return false
            }
        }
    }

    @inline(__always)
    private func consumeInput(_ slot: UnsafeMutablePointer<Slot>, _ consumed: Int) {
        let length = Int(slot.pointee.inputLength)
        guard consumed > 0 else { return }
        precondition(consumed <= length, "handler consumed more input than it was given")
        let rest = length - consumed
        if rest > 0, let input = slot.pointee.input {
            // Only a partial (pipelined or trickled) request is left; it is short compared with what was consumed.
            input.copyMemory(from: input + consumed, byteCount: rest)
        }
        slot.pointee.inputLength = Int32(rest)
    }

    @inline(__always)
    func releaseInputIfEmpty(_ slot: UnsafeMutablePointer<Slot>) {
        guard slot.pointee.inputLength == 0, let input = slot.pointee.input else { return }
        slot.pointee.input = nil
        if !inputPool.push(input) { input.deallocate() }
    }

    /// Drops whatever output is still queued (closing owned fds, releasing retained owners) and returns the buffer
    /// to the pool, or to malloc when the pool already keeps its maximum.
    @inline(__always)
    private func releaseOutput(_ slot: UnsafeMutablePointer<Slot>) {
        guard let out = slot.pointee.output else { return }
        out.pointee.reset()
        slot.pointee.output = nil
        if !outputPool.push(out) {
            out.pointee.free()
            out.deallocate()
        }
    }

    private func makeOutputBuffer() -> UnsafeMutablePointer<OutputBuffer> {
        let buffer = UnsafeMutablePointer<OutputBuffer>.allocate(capacity: 1)
        buffer.initialize(to: OutputBuffer(capacity: configuration.outputBufferSize, segmentCapacity: configuration.outputSegments))
        return buffer
    }

    // MARK: Resuming

    /// Runs connections whose off-loop work finished: they process their buffered input again (the request that
    /// suspended is still at its start), then read whatever arrived meanwhile – its edge may have come and gone.
    private func resumeConnections() {
        mailbox.take(into: &resumeList)
        for token in resumeList {
            let fd = token.fd
            guard fd >= 0, fd < tableCapacity else { continue }
            let slot = slots + Int(fd)
            guard slot.pointee.generation == token.generation, slot.pointee.phase == .open, !slot.pointee.tlsHandshaking else { continue }
            if slot.pointee.suspended {
                resume(fd, slot)
            } else {
                wake(fd, slot)
            }
        }
    }

    /// A connection that did not suspend asked to be run again (an HTTP/2 connection keeps reading while some of
    /// its streams wait for work off the loop): its handler runs now, or once its queued output drains.
    private func wake(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        if slot.pointee.closeAfterFlush { return }
        if slot.pointee.output != nil && !slot.pointee.output!.pointee.isEmpty {
            // EPOLLOUT is watched while output is pending; its drain runs the handler (onWritable, via readPaused).
            slot.pointee.readPaused = true
            return
        }
        guard runHandler(fd, slot) else { return }
        onReadable(fd, slot)
    }

    /// Runs a suspended connection again: its work finished, or its work deadline passed (`workExpired`).
    private func resume(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        slot.pointee.suspended = false
        if slot.pointee.output != nil && !slot.pointee.output!.pointee.isEmpty {
            // Earlier responses are still queued: let them drain first (EPOLLOUT resumes via readPaused).
            slot.pointee.readPaused = true
            return
        }
        slot.pointee.readPaused = false
        guard runHandler(fd, slot) else { return }
        onReadable(fd, slot)
    }

    // MARK: Writing

    enum FlushResult { case drained, pending, closed }

    /// Gives each connection that yielded its next turn, in the order they yielded (round robin with the others,
    /// which had theirs in this wake-up's events). One that yields again goes to the back of the next round.
    private func continueYielded() {
        swap(&yielded, &yieldedSpare)
        yielded.removeAll(keepingCapacity: true)
        for token in yieldedSpare {
            let fd = token.fd
            let slot = slots + Int(fd)
            guard slot.pointee.generation == token.generation, slot.pointee.phase == .open, slot.pointee.yielded else { continue }
            slot.pointee.yielded = false
            onWritable(fd, slot)
        }
        yieldedSpare.removeAll(keepingCapacity: true)
    }

    private func onWritable(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        if slot.pointee.tlsReadWantsWrite {
            // OpenSSL needed to write before it could read on: it can now.
            slot.pointee.tlsReadWantsWrite = false
            let generation = slot.pointee.generation
            onReadable(fd, slot)
            guard slot.pointee.phase != .free, slot.pointee.generation == generation else { return }
        }
        guard slot.pointee.phase == .open, slot.pointee.output != nil else { return }
        let wasPaused = slot.pointee.readPaused
        guard flush(fd, slot) == .drained else { return }
        if wasPaused && !slot.pointee.suspended {
            slot.pointee.readPaused = false
            // Run the handler even with no input buffered: a worker may have resumed this connection while its output
            // was still queued (resumeConnections then waits for this drain), and the response it resumed — the next
            // piece of a streamed body — is only produced by running the handler. Then answer what was buffered while
            // paused, and read again: the edge that announced new input may have come and gone while reading was paused.
            guard runHandler(fd, slot) else { return }
            onReadable(fd, slot)
        }
    }

    /// Writes queued output until it is all sent or the socket is full (`writePlain`, or `writeTLS` on a TLS
    /// connection). On drain it returns the buffer to the pool and performs a pending close.
    func flush(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) -> FlushResult {
        guard let out = slot.pointee.output else { return finishDrained(fd, slot) }
        var progressed = false
        let result: FlushResult
        if let tls = slot.pointee.tls {
            result = writeTLS(fd, slot, out, tls, progressed: &progressed)
        } else {
            result = writePlain(fd, slot, out, progressed: &progressed)
        }
        if result == .closed { return .closed }
        if out.pointee.hasReachedMark { reportMarks(fd, out, closing: false) }
        if result == .pending {
            guard watchWritable(fd, slot) else { return .closed }
            if progressed || slot.pointee.timer != .send {
                slot.pointee.timer = .send
                slot.pointee.deadline = now + sendTimeoutMS
            }
            return .pending
        }
        return finishDrained(fd, slot)
    }

    /// Writes queued output to a plain TCP socket until it is all sent (`.drained`), the socket is full or the turn
    /// is used (`.pending`), or the connection failed and was closed (`.closed`). Cost per call in the common case:
    /// one `writev`, or a `sendmsg` and a `sendfile` for a file body.
    ///
    /// No TCP_CORK: `sendfile` hands a file to TCP in pieces of at most 64 KiB (a pipe of 16 pages) and an ACK
    /// processed between two pieces can push out a partial segment, so on loopback a 100 KB body sometimes left
    /// as three packets instead of two (65,483 + 351 + 36,864 bytes, tcpdump). Corking around large files (nginx's
    /// `tcp_nopush`) prevented that for two `setsockopt` per response, saving the client a packet with the
    /// server's CPU; without it 100 KB identity responses at 35% of a core were ×1.02–1.11 faster
    /// (docs/PERFORMANCE.md). Over a real network a body is cut into ~1.4 KB segments anyway: one partial one
    /// more in about seventy.
    private func writePlain(
        _ fd: Int32, _ slot: UnsafeMutablePointer<Slot>, _ out: UnsafeMutablePointer<OutputBuffer>, progressed: inout Bool
    ) -> FlushResult {
        var turnLeft = Self.fileBytesPerTurn
        while out.pointee.head < out.pointee.tail {
            let first = out.pointee.segments[out.pointee.head]
            if first.isFile {
                if turnLeft == 0 { return yieldTurn(fd, slot) }
                var offset = off_t(first.offset)
                let n = sendfile(fd, first.fd, &offset, min(first.length, turnLeft))
                if n > 0 {
                    progressed = true
                    turnLeft -= n
                    out.pointee.written(n)
                    if n == first.length { continue }
                    // All that was asked went out: the socket may take more (the turn decides, above). Less than
                    // asked: it is full, and EPOLLOUT says when it drains.
                    if turnLeft == 0 { continue }
                    return .pending
                }
                if n == 0 {
                    // The file shrank under us: the promised Content-Length cannot be delivered. Closing is the
                    // only honest signal left to the client.
                    close(fd)
                    return .closed
                }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .pending }
                if errno == EINTR { continue }
                close(fd)
                return .closed
            }
            // Gather consecutive memory segments into one writev (a file segment ends the run).
            let iovecs = scratch.bindMemory(to: iovec.self, capacity: 64)
            var count = 0
            var total = 0
            var index = out.pointee.head
            while index < out.pointee.tail && count < 64 {
                let segment = out.pointee.segments[index]
                if segment.isFile { break }
                iovecs[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: out.pointee.memory(of: segment)), iov_len: segment.length)
                total += segment.length
                count += 1
                index += 1
            }
            // A header followed by a sendfile body: MSG_MORE asks TCP to hold the header back until the body
            // joins it, so both share packets instead of a small header segment going out alone.
            // The last bytes before a close: MSG_MORE holds them for the FIN, which `close`/`shutdown` then tacks
            // onto the same segment (tcp_send_fin) — one packet for the client to receive and ACK instead of two.
            // The close follows in finishDrained as soon as this write completes.
            let moreFollows = index < out.pointee.tail || slot.pointee.closeAfterFlush
            let n: Int
            if moreFollows {
                var message = msghdr()
                message.msg_iov = iovecs
                message.msg_iovlen = count
                n = swerve_sendmsg(fd, &message, Int32(MSG_NOSIGNAL) | Int32(MSG_MORE))
            } else {
                n = swerve_writev(fd, iovecs, Int32(count))
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { return .pending }
                if errno == EINTR { continue }
                close(fd)
                return .closed
            }
            progressed = true
            out.pointee.written(n)
            if n < total { return .pending }
        }
        return .drained
    }

    /// The connection used its file turn with the socket still taking more, and others are waiting: it goes on
    /// after them (`continueYielded`). Returns `.pending`.
    func yieldTurn(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) -> FlushResult {
        if !slot.pointee.yielded {
            slot.pointee.yielded = true
            yielded.append(SelectorToken(fd: fd, generation: slot.pointee.generation))
        }
        return .pending
    }

    /// Adds EPOLLOUT to the registration, the first time a write on this connection came up short: from then on
    /// its edges matter. Registering it only then spares every small response a writable wake-up (each ACK that
    /// frees send-buffer space would otherwise queue an event). The kernel re-checks readiness on MOD, so an edge
    /// is never lost. False if the connection had to be closed.
    func watchWritable(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) -> Bool {
        guard !slot.pointee.watchingWritable else { return true }
        slot.pointee.watchingWritable = true
        do {
            let events: SelectorEvents = [.readable, .writable, .readHangup, .edgeTriggered]
            let token = SelectorToken(fd: fd, generation: slot.pointee.generation)
            if slot.pointee.registered {
                try selector.reregister(fd: fd, events: events, token: token)
            } else {
                // Still being served inline after its accept (`acceptConnections`).
                try selector.register(fd: fd, events: events, token: token)
                slot.pointee.registered = true
            }
            return true
        } catch {
            close(fd)
            return false
        }
    }

    /// Reports marks to the handler (`ConnectionHandler.outputMarkReached`): those whose bytes have all been written,
    /// or, for a connection `closing`, every one left, each with how much of what came before it never left.
    private func reportMarks(_ fd: Int32, _ out: UnsafeMutablePointer<OutputBuffer>, closing: Bool) {
        while out.pointee.markHead < out.pointee.markTail && (closing || out.pointee.hasReachedMark) {
            let mark = out.pointee.marks[out.pointee.markHead]
            out.pointee.markHead += 1
            handler.outputMarkReached(
                mark.value, unsentBytes: max(0, mark.position - out.pointee.sentBytes), id: fd, state: &state(fd).pointee)
        }
    }

    func finishDrained(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) -> FlushResult {
        releaseOutput(slot)
        if slot.pointee.closeAfterFlush || (draining && !slot.pointee.midMessage) {
            if slot.pointee.lingerAfterFlush && !slot.pointee.peerClosed {
                startLingering(fd, slot)
                return .closed
            }
            close(fd)
            return .closed
        }
        if slot.pointee.suspended {
            // Waiting for work off the loop with nothing to send: only the work deadline applies.
            slot.pointee.timer = .work
            slot.pointee.deadline = .max
            return .drained
        }
        if slot.pointee.midMessage {
            if slot.pointee.timer != .header {
                slot.pointee.timer = .header
                slot.pointee.deadline = now + headerTimeoutMS
            }
        } else {
            slot.pointee.timer = .idle
            slot.pointee.deadline = now + keepAliveTimeoutMS
        }
        return .drained
    }

    // MARK: Closing

    /// Half-closes so the client sees the response and an orderly EOF, then discards its input until it closes
    /// too or the linger timeout passes. Closing with unread input would make the kernel send a reset, which can
    /// destroy the response before the client reads it.
    func startLingering(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        // Under TLS the close_notify goes first, then the FIN; what the client still sends is discarded unread,
        // undecrypted, so the TLS state is no longer needed.
        releaseTLS(slot)
        shutdown(fd, Int32(SHUT_WR))
        slot.pointee.phase = .lingering
        slot.pointee.timer = .linger
        slot.pointee.deadline = now + lingerTimeoutMS
        slot.pointee.inputLength = 0
        releaseInputIfEmpty(slot)
        drainLingering(fd, slot)
    }

    private func drainLingering(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        while true {
            let n = Glibc.read(fd, scratch, Self.scratchSize)
            if n > 0 {
                slot.pointee.lingered &+= Int32(n)
                if slot.pointee.lingered > Self.lingerLimit {
                    close(fd)
                    return
                }
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if n < 0 && errno == EINTR { continue }
            close(fd)
            return
        }
    }

    /// Closes a connection and returns its buffers. Closing the fd also removes it from epoll.
    func close(_ fd: Int32) {
        let slot = slots + Int(fd)
        guard slot.pointee.phase != .free else { return }
        // Responses still queued: the handler learns how much of each never left.
        if let out = slot.pointee.output { reportMarks(fd, out, closing: true) }
        releaseOutput(slot)
        slot.pointee.inputLength = 0
        releaseInputIfEmpty(slot)
        slot.pointee.phase = .free
        handler.connectionClosed(id: fd, state: &state(fd).pointee)
        releaseTLS(slot)
        Glibc.close(fd)
        liveConnections -= 1
        // What the connection left behind (files it opened, log lines of its responses) is ticked at least once more,
        // even when this was the loop's last connection.
        handlerWantsTicks = true
        connectionCount.value.subtract(1, ordering: .relaxed)
        if acceptPaused { resumeAcceptingIfPossible() }
    }

    private func closeAll() {
        var fd: Int32 = 0
        while fd <= highestFD {
            if slots[Int(fd)].phase != .free { close(fd) }
            fd += 1
        }
        if listenerOpen {
            selector.deregister(fd: listenFD)
            Glibc.close(listenFD)
            listenerOpen = false
        }
    }

    // MARK: Timers and shutdown

    private func expireDeadlines() {
        if acceptPaused { resumeAcceptingIfPossible() }
        handlerWantsTicks = handler.tick(now: now)
        var fd: Int32 = 0
        while fd <= highestFD {
            let slot = slots + Int(fd)
            if slot.pointee.phase == .open && slot.pointee.suspended && slot.pointee.workDeadline != 0
                && slot.pointee.workDeadline <= now {
                // The work it waits for is late: the handler answers without it (`ProcessContext.waitExpired`).
                slot.pointee.workExpired = true
                resume(fd, slot)
            } else if slot.pointee.phase != .free && slot.pointee.deadline <= now {
                if slot.pointee.phase == .open && slot.pointee.timer == .idle && slot.pointee.output == nil
                    && !slot.pointee.suspended && !slot.pointee.midMessage && !slot.pointee.tlsHandshaking {
                    closeIdle(fd, slot)
                } else {
                    close(fd)
                }
            }
            fd += 1
        }
        // Shrink the scan range past closed connections at the top.
        while highestFD > 0 && slots[Int(highestFD)].phase == .free { highestFD -= 1 }
    }

    /// An idle keep-alive connection whose timeout ran out: its handler runs once more with `idleExpired` (an
    /// HTTP/2 connection queues a GOAWAY), then it closes once that output is written, lingering if the handler
    /// asked to; with nothing written it closes at once.
    private func closeIdle(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        slot.pointee.closeAfterFlush = true
        _ = runHandler(fd, slot, idleExpired: true)
    }

    private func beginDraining() {
        guard !draining else { return }
        draining = true
        drainDeadline = now + Int64(configuration.shutdownGrace * 1000)
        if listenerOpen {
            selector.deregister(fd: listenFD)
            Glibc.close(listenFD)
            listenerOpen = false
        }
        // Idle keep-alive connections have nothing in flight: they close now, after their handler had its say with
        // `draining` set (an HTTP/2 connection sends GOAWAY first, RFC 9113 §6.8); a handshake still running just
        // closes. Busy ones close after their current response (see finishDrained).
        var fd: Int32 = 0
        while fd <= highestFD {
            let slot = slots + Int(fd)
            if slot.pointee.phase == .open && slot.pointee.output == nil && !slot.pointee.midMessage && !slot.pointee.suspended {
                if slot.pointee.tlsHandshaking || slot.pointee.closeAfterFlush {
                    close(fd)
                } else {
                    _ = runHandler(fd, slot)
                }
            }
            fd += 1
        }
    }
}
