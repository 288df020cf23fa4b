import Glibc
import SwerveEngine
import SwerveHTTP

/// What the access log and the metrics need of one response, kept from the moment it is queued until its last byte
/// is written (`ConnectionHandler.outputMarkReached`): the request's own bytes are gone by then, so the fields the
/// log shows are copied here, cut to `AccessLogLine`'s limits. Pooled per loop (`ResponseRecords`), so a record
/// costs no allocation once the pool has warmed up.
final class ResponseRecord {
    /// Room for every copied field at its limit.
    static let capacity = AccessLogLine.maximumMethodBytes + AccessLogLine.maximumTargetBytes
        + AccessLogLine.maximumVersionBytes + 3 * AccessLogLine.maximumFieldBytes
    /// The copied client bytes: method, target, version, then Host, User-Agent, Referer; `count` of them in use.
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: ResponseRecord.capacity, alignment: 8)
    var count = 0
    var method = 0..<0
    var target = 0..<0
    var version = 0..<0
    var targetCut = false
    var host: Range<Int>?
    var userAgent: Range<Int>?
    var referer: Range<Int>?
    var peer = PeerAddress(family: 0, port: 0, bytes: (0, 0))
    var metricsMethod = LoopMetrics.Method.other
    var status = 0
    /// Bytes of the response head (not body).
    var headBytes = 0
    /// Bytes queued for the response so far (head and body, chunk framing included).
    var queuedBytes = 0
    /// For a stream: body bytes known to be written (up to the last piece that was reported sent).
    var sentBytes = 0
    /// `queuedBytes` when the last stream piece was queued: what `sentBytes` becomes when its mark is reached.
    var queuedAtPiece = 0
    /// Monotonic nanoseconds when the request's first byte was seen.
    var started: Int64 = 0
    var encoding = ContentCoding.identity
    var cache = AccessLogCache.none
    /// Identity size minus the compressed body's, for a whole compressed body (`swerve_cache_bytes_saved_total`).
    var savedBytes = 0

    init() {}

    deinit { bytes.deallocate() }

    /// Copies the parts of the request line and the logged fields from the request's bytes.
    func capture(request: UnsafeRawBufferPointer, line: RequestLine, host: UnsafeRawBufferPointer?,
                 userAgent: UnsafeRawBufferPointer?, referer: UnsafeRawBufferPointer?) {
        count = 0
        method = copy(request, line.method, limit: AccessLogLine.maximumMethodBytes)
        target = copy(request, line.target, limit: AccessLogLine.maximumTargetBytes)
        targetCut = line.target.count > AccessLogLine.maximumTargetBytes
        version = copy(request, line.version, limit: AccessLogLine.maximumVersionBytes)
        self.host = host.map { copy($0, 0..<$0.count, limit: AccessLogLine.maximumFieldBytes) }
        self.userAgent = userAgent.map { copy($0, 0..<$0.count, limit: AccessLogLine.maximumFieldBytes) }
        self.referer = referer.map { copy($0, 0..<$0.count, limit: AccessLogLine.maximumFieldBytes) }
    }

    /// Copies at most `limit` bytes of `source[range]` after what is there (the limits add up to `capacity`).
    private func copy(_ source: UnsafeRawBufferPointer, _ range: Range<Int>, limit: Int) -> Range<Int> {
        let start = count
        let length = min(range.count, limit)
        if length > 0 { (bytes.baseAddress! + start).copyMemory(from: source.baseAddress! + range.lowerBound, byteCount: length) }
        count += length
        return start..<count
    }

    /// The log line for this record, its client bytes viewed in `bytes` (valid inside `body` only). `timeText`: the
    /// time as `AccessLogTimeText` renders it for the line's format.
    func withLine<R>(
        bodyBytes: Int, durationNanoseconds: Int, time: AccessLogTime, timeText: UnsafeRawBufferPointer?,
        _ body: (AccessLogLine) -> R
    ) -> R {
        var address: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &address) { addressArea in
            let addressLength = peer.write(into: addressArea)
            let raw = UnsafeRawBufferPointer(bytes)
            func view(_ range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: raw[range]) }
            var line = AccessLogLine(
                remoteAddress: UnsafeRawBufferPointer(rebasing: addressArea[0..<addressLength]),
                remotePort: Int(peer.port), method: view(method), target: view(target), version: view(version),
                targetCut: targetCut, host: host.map(view), userAgent: userAgent.map(view), referer: referer.map(view),
                status: status, bodyBytes: bodyBytes, durationNanoseconds: durationNanoseconds,
                encoding: encoding, cache: cache, time: time)
            line.timeText = timeText
            return body(line)
        }
    }
}

/// A loop's records in flight, addressed by the index an output mark carries.
struct ResponseRecords {
    private var records: [ResponseRecord] = []
    private var free: [UInt32] = []

    /// A record to fill; its index goes into the output mark.
    mutating func take() -> (UInt32, ResponseRecord) {
        if let index = free.popLast() { return (index, records[Int(index)]) }
        records.append(ResponseRecord())
        return (UInt32(records.count - 1), records[records.count - 1])
    }

    subscript(index: UInt32) -> ResponseRecord { records[Int(index)] }

    mutating func release(_ index: UInt32) { free.append(index) }
}
