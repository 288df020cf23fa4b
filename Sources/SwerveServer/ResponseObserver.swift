import SwerveEngine
import SwerveHTTP

/// One loop's access log and request metrics: a record per response from the moment it is queued to the moment its
/// last byte is written, then a log line and the counters. Exists only when `--access-log` or `--metrics` is on.
///
/// Cost per response (measured in docs/PERFORMANCE.md): three clock reads (start, end, wall time), a copy of the
/// logged request fields (~100 bytes), and the line rendered into the loop's batch.
final class ResponseObserver {
    var records = ResponseRecords()
    let metrics = LoopMetrics()
    /// nil: `--access-log off` (metrics only).
    let log: AccessLogBuffer?
    private var zoneSecond = Int.min
    private var zoneOffset = 0
    private var timeText = AccessLogTimeText()

    /// A stream's intermediate marks carry this bit (see `HTTPHandler.continueStream`).
    static let progressBit: UInt32 = 1 << 31

    init(log: AccessLogBuffer?) {
        self.log = log
    }

    /// Monotonic nanoseconds for request durations (CLOCK_MONOTONIC, a vDSO read: ~20 ns here). The loop's own
    /// clock is coarse (4 ms), too coarse for durations of tens of microseconds.
    @inline(__always) static func now() -> Int64 { Int64(monotonicNanoseconds()) }

    /// The response's last byte left (or the connection closed): log it and count it.
    func finish(_ index: UInt32, bodyBytes: Int) {
        let record = records[index]
        let end = Self.now()
        let duration = Int(max(0, end - record.started))
        // Saved only when the whole compressed body left.
        let saved = bodyBytes == record.queuedBytes - record.headBytes ? record.savedBytes : 0
        metrics.record(
            method: record.metricsMethod, status: record.status, bodyBytes: bodyBytes, savedBytes: saved,
            durationNanoseconds: duration)
        if let log {
            let time = wallTime()
            let text = timeText.text(time, json: log.sink.format == .json)
            record.withLine(bodyBytes: bodyBytes, durationNanoseconds: duration, time: time, timeText: text) { line in
                log.append(line, now: end / 1_000_000)
            }
        }
        records.release(index)
    }

    /// Body bytes of a response that has `unsentBytes` of its queued bytes still unsent.
    static func bodyBytes(_ record: ResponseRecord, unsentBytes: Int) -> Int {
        max(0, record.queuedBytes - unsentBytes - record.headBytes)
    }

    /// Now, with the local time zone's offset read once per second (it can change with a daylight-saving transition).
    private func wallTime() -> AccessLogTime {
        AccessLogTime.now { seconds in
            if seconds != zoneSecond {
                zoneOffset = AccessLogTime.localOffset(at: seconds)
                zoneSecond = seconds
            }
            return zoneOffset
        }
    }
}
