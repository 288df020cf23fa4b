import CSwerveSys
import Glibc

/// Readiness events, as a typed mask instead of epoll's raw `UInt32`.
public struct SelectorEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    @inline(__always) public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = SelectorEvents(rawValue: EPOLLIN.rawValue)
    public static let writable = SelectorEvents(rawValue: EPOLLOUT.rawValue)
    /// The peer shut down its write side (EPOLLRDHUP).
    public static let readHangup = SelectorEvents(rawValue: EPOLLRDHUP.rawValue)
    public static let error = SelectorEvents(rawValue: EPOLLERR.rawValue)
    public static let hangup = SelectorEvents(rawValue: EPOLLHUP.rawValue)
    /// Edge-triggered: report a transition once, not a level on every wait.
    public static let edgeTriggered = SelectorEvents(rawValue: EPOLLET.rawValue)
}

/// What a registration carries back with each event: the fd and a generation number packed into epoll's 64-bit
/// user data. A connection's fd number is reused by the kernel as soon as it is closed; an event that was already
/// queued for the old connection still carries the old generation, and the loop drops it instead of handing it to
/// the new connection that owns the number now.
public struct SelectorToken: Equatable, Sendable {
    public var fd: Int32
    public var generation: UInt32

    @inline(__always) public init(fd: Int32, generation: UInt32) {
        self.fd = fd
        self.generation = generation
    }

    @inline(__always) init(packed: UInt64) {
        fd = Int32(truncatingIfNeeded: packed & 0xFFFF_FFFF)
        generation = UInt32(truncatingIfNeeded: packed >> 32)
    }

    @inline(__always) var packed: UInt64 { UInt64(UInt32(bitPattern: fd)) | (UInt64(generation) << 32) }
}

/// The small interface the event loop needs from a readiness selector. epoll is the only backend; the protocol
/// documents the contract and keeps the loop from reaching into epoll details.
public protocol Selector: ~Copyable {
    /// Starts watching `fd`. Cost: one `epoll_ctl` syscall; the loop registers each connection once, for its
    /// whole life (edge-triggered in + out), so steady-state requests pay no registration syscalls.
    func register(fd: Int32, events: SelectorEvents, token: SelectorToken) throws(SystemError)
    func reregister(fd: Int32, events: SelectorEvents, token: SelectorToken) throws(SystemError)
    /// Stops watching. Closing the fd also removes it, so connections skip this call.
    func deregister(fd: Int32)
    /// Waits up to `timeoutMilliseconds` (-1: forever), calls `woke` once when the wait returns, then `body` for each
    /// ready registration. Returns the number of events.
    ///
    /// `woke` runs before any `body` call so a caller can read its clock there: a wait can last arbitrarily long
    /// (forever, with nothing to watch), and anything `body` timestamps must count from the wake-up, not from before
    /// the wait.
    func whenReady(
        timeoutMilliseconds: Int32, woke: () -> Void, _ body: (SelectorToken, SelectorEvents) -> Void
    ) throws(SystemError) -> Int
}

/// An errno with the call that produced it.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        let message = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return "\(call): \(message)"
    }
}

/// The epoll backend. Owns the epoll fd and a fixed event array reused by every wait (no allocation per wait).
public struct EpollSelector: Selector, ~Copyable {
    private let epfd: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private let capacity: Int32

    /// `capacity`: events returned per `epoll_wait`. More are delivered on the next wait; 256 keeps one wait's
    /// work short enough that timers and the wake-up fd are not starved under load.
    public init(capacity: Int32 = 256) throws(SystemError) {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw SystemError("epoll_create1") }
        epfd = fd
        self.capacity = capacity
        events = .allocate(capacity: Int(capacity))
    }

    deinit {
        events.deallocate()
        Glibc.close(epfd)
    }

    public func register(fd: Int32, events mask: SelectorEvents, token: SelectorToken) throws(SystemError) {
        try control(EPOLL_CTL_ADD, fd: fd, events: mask, token: token)
    }

    public func reregister(fd: Int32, events mask: SelectorEvents, token: SelectorToken) throws(SystemError) {
        try control(EPOLL_CTL_MOD, fd: fd, events: mask, token: token)
    }

    public func deregister(fd: Int32) {
        var unused = epoll_event()
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &unused)
    }

    private func control(_ op: Int32, fd: Int32, events mask: SelectorEvents, token: SelectorToken) throws(SystemError) {
        var event = epoll_event()
        event.events = mask.rawValue
        event.data.u64 = token.packed
        guard epoll_ctl(epfd, op, fd, &event) == 0 else { throw SystemError("epoll_ctl") }
    }

    @inline(__always)
    public func whenReady(
        timeoutMilliseconds: Int32, woke: () -> Void, _ body: (SelectorToken, SelectorEvents) -> Void
    ) throws(SystemError) -> Int {
        let n = swerve_epoll_wait(epfd, events, capacity, timeoutMilliseconds)
        woke()
        if n < 0 {
            if errno == EINTR { return 0 }
            throw SystemError("epoll_wait")
        }
        for i in 0..<Int(n) {
            let event = events[i]
            body(SelectorToken(packed: event.data.u64), SelectorEvents(rawValue: event.events))
        }
        return Int(n)
    }
}
