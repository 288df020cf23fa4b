import CSwerveSys
import Glibc
import Synchronization

/// The connection engine: `workers` event loops, one thread each, each accepting on its own SO_REUSEPORT listener.
///
/// Creating the engine binds the listeners (so "port in use" is reported before anything starts); `start()` spawns
/// the loop threads; `stop()` drains them (see `EngineConfiguration.shutdownGrace`) and joins them.
public final class Engine<Handler: ConnectionHandler>: @unchecked Sendable {
    // @unchecked: `loops` and `threads` are written only by `init`, `start` and `stop`, which callers must not race
    // (the CLI and the tests call them from one thread). The loops themselves are touched cross-thread only via
    // their atomic stop flag and eventfd.
    private let loops: [EventLoop<Handler>]
    private var threads: [pthread_t] = []
    private let stopped = Mutex<Bool>(false)
    /// The bound port (the kernel's choice when the configuration asked for port 0).
    public let port: UInt16
    public let configuration: EngineConfiguration
    private let connectionCount: ConnectionCounter

    public init(configuration: EngineConfiguration, makeHandler: (Int) -> Handler) throws(SystemError) {
        self.configuration = configuration
        let workers = max(1, configuration.workers)
        var fds: [Int32] = []
        var port = configuration.port
        if workers > 1 && port != 0 {
            // SO_REUSEPORT lets any process of the same user join a port that is already serving, silently
            // splitting its traffic. Probe with a plain bind first, so "port in use" is reported instead.
            let probe = try Listener.open(address: configuration.host, port: port, reusePort: false, listen: false)
            Glibc.close(probe)
        }
        do throws(SystemError) {
            for _ in 0..<workers {
                let fd = try Listener.open(
                    address: configuration.host, port: port, reusePort: workers > 1,
                    unsentLowWatermark: configuration.unsentLowWatermark,
                    deferAcceptSeconds: configuration.deferAcceptSeconds)
                fds.append(fd)
                // Port 0: the first bind picks a port; the other loops must join that same port.
                if port == 0 { port = Listener.boundPort(fd) }
            }
        } catch {
            for fd in fds { Glibc.close(fd) }
            throw error
        }
        self.port = port
        let counter = ConnectionCounter()
        connectionCount = counter
        var loops: [EventLoop<Handler>] = []
        for (index, fd) in fds.enumerated() {
            do {
                loops.append(try EventLoop(configuration: configuration, listenFD: fd, connectionCount: counter, handler: makeHandler(index)))
            } catch {
                // Loops created so far own their listeners; the rest are closed here.
                for rest in fds[index...] { Glibc.close(rest) }
                throw error
            }
        }
        self.loops = loops
    }

    /// Spawns the loop threads and returns.
    public func start() throws(SystemError) {
        for loop in loops {
            let box = Unmanaged.passRetained(ThreadBody { loop.run() })
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, engineThreadEntry, box.toOpaque())
            guard rc == 0 else {
                box.release()
                throw SystemError("pthread_create", errno: rc)
            }
            threads.append(thread)
        }
    }

    /// Stops accepting, lets in-flight responses finish within the grace period, and waits for every loop thread
    /// to exit. Idempotent.
    public func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        for loop in loops { loop.requestStop() }
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Connections accepted since start, summed over the loops (each counts its own without a locked instruction).
    public var connectionsAccepted: Int {
        total { $0.accepted.load(ordering: .relaxed) }
    }

    /// TLS handshakes completed since start, summed over the loops.
    public var tlsHandshakes: Int { total { $0.handshakes.load(ordering: .relaxed) } }

    /// Of `tlsHandshakes`, the connections whose output the kernel encrypts (kTLS: file bodies with `SSL_sendfile`);
    /// the others encrypt in user space (`pread` + `SSL_write`).
    public var kernelTLSHandshakes: Int { total { $0.kernelTLSHandshakes.load(ordering: .relaxed) } }

    /// TLS handshakes that failed (plain HTTP sent to a TLS port, a refused certificate, no shared protocol).
    public var tlsHandshakeFailures: Int { total { $0.handshakeFailures.load(ordering: .relaxed) } }

    /// One of each loop's counters, summed.
    private func total(_ counter: (LoopCounters) -> Int) -> Int {
        loops.reduce(0) { $0 + counter($1.counters) }
    }

    /// Client connections open now, across the loops.
    public var connectionsOpen: Int { connectionCount.value.load(ordering: .relaxed) }

    /// Blocks until the loops exit (after someone calls `stop()`).
    public func wait() {
        for thread in threads { pthread_join(thread, nil) }
    }
}

/// A thread's work, boxed so it can cross `pthread_create`'s `void *`.
private final class ThreadBody: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// A named global function, not a closure literal: a closure written in top-level code and handed to
/// `pthread_create` crashes the new thread under Swift 6 (main-actor isolation checks).
private func engineThreadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let box = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
    box.body()
    return nil
}
