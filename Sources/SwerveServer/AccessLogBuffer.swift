import Glibc
import SwerveHTTP
import Synchronization

/// One event loop's access-log lines on their way to the sink: lines are rendered straight into a batch buffer,
/// and a batch goes to the writer thread when it is nearly full or has waited `flushIntervalMilliseconds`.
///
/// Never blocks: the loop owns `buffersPerLoop` batch buffers. When every one of them is queued at the writer (the
/// sink is slower than the traffic), lines are dropped and counted, the count is reported with the next batch and
/// exported as `swerve_access_log_dropped_total`.
///
/// Thread-safety: used by its loop's thread, except `recycle` (the writer thread hands a written buffer back) and
/// `dropped`, which anyone may read.
final class AccessLogBuffer: @unchecked Sendable {
    // @unchecked: `current`, `used`, `batchStarted` and `unreportedDrops` belong to the loop's thread; the free list
    // is behind its Mutex; `dropped` is atomic.
    /// A batch: large writes for the sink (a few hundred lines), small enough that a loop's spares cost little.
    static let batchBytes = 64 * 1024
    /// Batches one loop may have at once (one filling, the rest queued or being written): 512 KiB, about 60 ms of
    /// lines at 30,000 requests/s, which rides out the writer thread's stalls seen in the benchmark (a CPU-capped
    /// server dropped 315 of 500,000 lines with 4). Buffers are reused most recently freed first, so a writer that
    /// keeps up touches one or two of them and the rest cost no resident memory.
    static let buffersPerLoop = 8

    let sink: AccessLogSink
    /// Longest a line waits in a batch before the batch is written. The loop checks on its tick (a quarter second),
    /// so a line is out within about `flushIntervalMilliseconds` + 250 ms.
    let flushIntervalMilliseconds: Int64
    private var current: UnsafeMutableRawPointer?
    private var used = 0
    /// Monotonic milliseconds when the batch got its first line.
    private var batchStarted: Int64 = 0
    private var unreportedDrops = 0
    private let free = Mutex<[UInt]>([])
    /// Lines dropped by this loop since start (written by its thread only: a relaxed load and store).
    let dropped = Atomic<Int>(0)

    init(sink: AccessLogSink, flushIntervalMilliseconds: Int64) {
        self.sink = sink
        self.flushIntervalMilliseconds = flushIntervalMilliseconds
        var buffers: [UInt] = []
        for _ in 0..<Self.buffersPerLoop {
            buffers.append(UInt(bitPattern: UnsafeMutableRawPointer.allocate(byteCount: Self.batchBytes, alignment: 16)))
        }
        free.withLock { $0 = buffers }
    }

    deinit {
        // By now the writer has finished (Server.stop): every buffer is back on the free list or is `current`.
        current?.deallocate()
        free.withLock { list in
            for address in list { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
        }
    }

    /// Whether lines are waiting in the current batch (the loop keeps ticking until they are written).
    var hasLines: Bool { used > 0 }

    /// Renders one line into the batch, or counts it as dropped when no buffer is free.
    func append(_ line: AccessLogLine, now: Int64) {
        if current != nil && Self.batchBytes - used < AccessLogLine.maximumLength { submit() }
        if current == nil {
            current = free.withLock { $0.popLast() }.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
            used = 0
        }
        guard let current else {
            dropped.store(dropped.load(ordering: .relaxed) + 1, ordering: .relaxed)
            unreportedDrops += 1
            return
        }
        if used == 0 { batchStarted = now }
        var w = ByteWriter(UnsafeMutableRawBufferPointer(start: current + used, count: Self.batchBytes - used))
        line.render(sink.format, into: &w)
        used += w.count
    }

    /// The loop's tick: writes a batch that has waited long enough.
    func flushIfDue(now: Int64) {
        if used > 0 && now - batchStarted >= flushIntervalMilliseconds { submit() }
    }

    /// Hands the current batch to the writer (at shutdown, and when it is full or due).
    func submit() {
        guard let batch = current, used > 0 else { return }
        current = nil
        sink.write(batch, count: used, owner: self, droppedBefore: unreportedDrops)
        unreportedDrops = 0
        used = 0
    }

    /// The writer thread is done with `batch`.
    func recycle(_ batch: UnsafeMutableRawPointer) {
        free.withLock { $0.append(UInt(bitPattern: batch)) }
    }
}
