import CSwerveSys
import Glibc
import SwerveFiles
import Synchronization

/// The one thread that writes Swerve's logs, so no event loop ever waits on a log sink: a slow disk, a full pipe, a
/// terminal scrolled back. Loops hand it whole batches of access-log lines (`AccessLogBuffer`); the server's own
/// messages (`ServerLogHandler`) come one line at a time. Jobs run in order, one at a time, so a reopen (SIGUSR1)
/// falls between two batches.
///
/// Bounded: access-log batches by the buffers each loop owns (a loop whose buffers are all queued here drops lines
/// and counts them); event lines by `maximumQueuedEvents`.
public final class LogWriter: Sendable {
    private let thread = WorkerPool(threads: 1)
    private let queuedEvents = Atomic<Int>(0)
    /// The server's own messages are a few per minute; a burst past this many waiting lines means the sink is stuck,
    /// and the newest lines are dropped (counted in `droppedEvents`).
    static let maximumQueuedEvents = 1024
    let droppedEvents = Atomic<Int>(0)
    /// The event log's descriptor (standard error).
    let eventFD: Int32

    public init(eventFD: Int32 = 2) {
        self.eventFD = eventFD
    }

    /// Runs `job` on the writer thread after everything submitted before it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        thread.submit(job)
    }

    /// Writes one line of the server's own log, after the batches already queued.
    func event(_ line: [UInt8]) {
        guard queuedEvents.add(1, ordering: .relaxed).newValue <= Self.maximumQueuedEvents else {
            queuedEvents.subtract(1, ordering: .relaxed)
            droppedEvents.add(1, ordering: .relaxed)
            return
        }
        let fd = eventFD
        thread.submit { [self] in
            line.withUnsafeBytes { _ = writeFully(fd, $0) }
            queuedEvents.subtract(1, ordering: .relaxed)
        }
    }

    /// Writes everything queued, then stops the thread. Call once, after the loops stopped.
    public func finish() {
        thread.shutdown()
    }
}
