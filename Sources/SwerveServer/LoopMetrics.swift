import CSwerveSys
import Glibc
import SwerveHTTP

/// One event loop's request counters for `/metrics`. Only that loop's thread writes them, each as a relaxed load and
/// a relaxed store (`swerve_counter_add`: no lock, no locked read-modify-write on the request path); a scrape reads
/// every loop's with relaxed loads and sums them. A scrape may see a request counted in one counter and not yet in
/// another: Prometheus counters are sampled, not transactional.
final class LoopMetrics: @unchecked Sendable {
    // @unchecked: the counters are raw memory accessed only through the relaxed C helpers above.

    /// Methods with their own label value; everything else is `other` (a label per method token a client makes
    /// up would let clients create series without bound).
    enum Method: Int, CaseIterable {
        case get, head, options, other

        init(_ method: HTTPMethod) {
            switch method {
            case .get: self = .get
            case .head: self = .head
            case .options: self = .options
            case .other: self = .other
            }
        }

        var label: String {
            switch self {
            case .get: "GET"
            case .head: "HEAD"
            case .options: "OPTIONS"
            case .other: "other"
            }
        }
    }

    /// Upper bounds of the request-duration histogram, in nanoseconds: 50 µs to 10 s, as the issue and the usual
    /// Prometheus buckets for a fast server (a cache hit on loopback is tens of microseconds).
    static let bucketBounds: [Int] = [
        50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
    ]

    /// Status codes 100…599 each have a counter per method.
    static let codes = 100..<600
    static let requestCounters = Method.allCases.count * codes.count
    static let responseBytesIndex = requestCounters
    static let savedBytesIndex = responseBytesIndex + 1
    /// `bucketBounds.count` finite buckets, then +Inf (= the count), then the sum in nanoseconds.
    static let bucketsIndex = savedBytesIndex + 1
    static let durationCountIndex = bucketsIndex + bucketBounds.count
    static let durationSumIndex = durationCountIndex + 1
    static let counterCount = durationSumIndex + 1

    private let counters: UnsafeMutablePointer<UInt64>

    init() {
        counters = .allocate(capacity: Self.counterCount)
        counters.initialize(repeating: 0, count: Self.counterCount)
    }

    deinit { counters.deallocate() }

    /// One finished exchange. Cost: four plain adds and a short bucket scan.
    @inline(__always)
    func record(method: Method, status: Int, bodyBytes: Int, savedBytes: Int, durationNanoseconds: Int) {
        let code = Self.codes.contains(status) ? status : 599
        swerve_counter_add(counters + method.rawValue * Self.codes.count + (code - Self.codes.lowerBound), 1)
        swerve_counter_add(counters + Self.responseBytesIndex, UInt64(max(0, bodyBytes)))
        if savedBytes > 0 { swerve_counter_add(counters + Self.savedBytesIndex, UInt64(savedBytes)) }
        var bucket = 0
        while bucket < Self.bucketBounds.count && durationNanoseconds > Self.bucketBounds[bucket] { bucket += 1 }
        // Non-cumulative per bucket here; the scrape accumulates (Prometheus buckets are cumulative).
        if bucket < Self.bucketBounds.count { swerve_counter_add(counters + Self.bucketsIndex + bucket, 1) }
        swerve_counter_add(counters + Self.durationCountIndex, 1)
        swerve_counter_add(counters + Self.durationSumIndex, UInt64(max(0, durationNanoseconds)))
    }

    /// A relaxed read of counter `index` (any thread).
    func read(_ index: Int) -> UInt64 { swerve_counter_read(counters + index) }

    func requests(_ method: Method, code: Int) -> UInt64 {
        read(method.rawValue * Self.codes.count + (code - Self.codes.lowerBound))
    }
}
