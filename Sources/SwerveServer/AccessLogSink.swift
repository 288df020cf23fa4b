import Glibc
import Logging
import SwerveHTTP
import SwerveFiles
import Synchronization

/// Where the access log goes (`--access-log PATH|-`): a file opened for appending, or standard output. Its
/// descriptor is used only on the `LogWriter` thread, so a reopen never races a write.
public final class AccessLogSink: @unchecked Sendable {
    // @unchecked: `fd` and `failing` are read and replaced only on the writer thread (every use is a job on it),
    // after `init`.
    private var fd: Int32
    /// The last write failed: further failures are not reported again until a write succeeds (a closed pipe would
    /// otherwise log a line per batch).
    private var failing = false
    /// nil: standard output (never reopened).
    let path: String?
    let format: AccessLogFormat
    let writer: LogWriter
    let logger: Logger
    /// Lines the loops dropped because every buffer they own was waiting for the writer.
    let dropped = Atomic<Int>(0)

    /// Opens `path` (nil: standard output) for appending, creating it with mode 0644.
    init(path: String?, format: AccessLogFormat, writer: LogWriter, logger: Logger) throws(ServerError) {
        self.path = path
        self.format = format
        self.writer = writer
        self.logger = logger
        if let path {
            let opened = Self.open(path)
            guard opened >= 0 else {
                throw ServerError("cannot open the access log '\(path)': \(String(cString: strerror(errno)))")
            }
            fd = opened
        } else {
            fd = 1
        }
    }

    deinit {
        if path != nil { Glibc.close(fd) }
    }

    /// How the startup line names it.
    var description: String { "\(path ?? "stdout") (\(format.rawValue))" }

    private static func open(_ path: String) -> Int32 {
        Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    }

    /// Writes a batch of whole lines on the writer thread, then hands the buffer back to `owner`. `droppedBefore`:
    /// lines that loop dropped since its previous batch, reported in the event log.
    func write(_ batch: UnsafeMutableRawPointer, count: Int, owner: AccessLogBuffer, droppedBefore: Int) {
        let batchAddress = UInt(bitPattern: batch)
        writer.submit { [self] in
            let batch = UnsafeMutableRawPointer(bitPattern: batchAddress)!
            if droppedBefore > 0 {
                logger.warning("access log: lines dropped, the log sink was slower than the traffic", metadata: ["dropped": "\(droppedBefore)"])
            }
            let error = writeFully(fd, UnsafeRawBufferPointer(start: batch, count: count))
            if error != 0 && !failing {
                logger.error("access log: cannot write, lines are lost until it works again", metadata: [
                    "sink": "\(path ?? "stdout")", "error": "\(String(cString: strerror(error)))",
                ])
            } else if error == 0 && failing {
                logger.notice("access log: writing again", metadata: ["sink": "\(path ?? "stdout")"])
            }
            failing = error != 0
            owner.recycle(batch)
        }
    }

    /// logrotate's `postrotate` (SIGUSR1): lines written from now on go to a file opened afresh at `path`. Batches
    /// queued before the call still go to the old file. A failure keeps the old file and is reported.
    func reopen(done: (@Sendable () -> Void)? = nil) {
        guard let path else {
            done?()
            return
        }
        writer.submit { [self] in
            let opened = Self.open(path)
            if opened < 0 {
                logger.error("access log: cannot reopen, still writing to the old file", metadata: [
                    "path": "\(path)", "error": "\(String(cString: strerror(errno)))",
                ])
            } else {
                Glibc.close(fd)
                fd = opened
                logger.notice("access log reopened", metadata: ["path": "\(path)"])
            }
            done?()
        }
    }
}
