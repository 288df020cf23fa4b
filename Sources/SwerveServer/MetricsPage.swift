import Glibc
import SwerveCompression

/// The Prometheus text exposition format (version 0.0.4) of everything Swerve counts, rendered per scrape from the
/// loops' counters (summed here), the body cache's statistics and the process's own numbers.
struct MetricsPage {
    static let contentType: StaticString = "text/plain; version=0.0.4; charset=utf-8"

    /// What one scrape reads.
    struct Snapshot {
        var loops: [LoopMetrics]
        var connectionsOpen: Int
        var connectionsAccepted: Int
        var cache: BodyCacheStatistics
        var compressions: Int
        var accessLogDropped: Int
        /// With `--tls-cert`: handshakes completed, of which with kernel TLS, and failed; nil without TLS.
        var tlsHandshakes: (completed: Int, kernelTLS: Int, failed: Int)? = nil
    }

    static func render(_ snapshot: Snapshot) -> [UInt8] {
        var text = ""
        text.reserveCapacity(8192)
        func family(_ name: String, _ type: String, _ help: String) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sum(_ index: Int) -> UInt64 { snapshot.loops.reduce(0) { $0 &+ $1.read(index) } }

        family("swerve_http_requests_total", "counter", "Responses completed, by request method and status code.")
        var anyRequest = false
        for method in LoopMetrics.Method.allCases {
            for code in LoopMetrics.codes {
                let count = snapshot.loops.reduce(0) { $0 &+ $1.requests(method, code: code) }
                guard count > 0 else { continue }
                anyRequest = true
                text += "swerve_http_requests_total{method=\"\(method.label)\",code=\"\(code)\"} \(count)\n"
            }
        }
        if !anyRequest { text += "swerve_http_requests_total{method=\"GET\",code=\"200\"} 0\n" }

        family("swerve_http_response_bytes_total", "counter", "Response body bytes written to clients.")
        text += "swerve_http_response_bytes_total \(sum(LoopMetrics.responseBytesIndex))\n"

        family("swerve_http_request_duration_seconds", "histogram",
               "From the first byte of a request read to the last byte of its response written.")
        var cumulative: UInt64 = 0
        for (k, bound) in LoopMetrics.bucketBounds.enumerated() {
            cumulative &+= sum(LoopMetrics.bucketsIndex + k)
            text += "swerve_http_request_duration_seconds_bucket{le=\"\(seconds(bound))\"} \(cumulative)\n"
        }
        let count = sum(LoopMetrics.durationCountIndex)
        text += "swerve_http_request_duration_seconds_bucket{le=\"+Inf\"} \(count)\n"
        text += "swerve_http_request_duration_seconds_sum \(seconds(Int(sum(LoopMetrics.durationSumIndex))))\n"
        text += "swerve_http_request_duration_seconds_count \(count)\n"

        family("swerve_connections_active", "gauge", "Client connections open now.")
        text += "swerve_connections_active \(snapshot.connectionsOpen)\n"
        family("swerve_connections_accepted_total", "counter", "Client connections accepted.")
        text += "swerve_connections_accepted_total \(snapshot.connectionsAccepted)\n"
        if let tls = snapshot.tlsHandshakes {
            family("swerve_tls_handshakes_total", "counter", "TLS handshakes, by result.")
            text += "swerve_tls_handshakes_total{result=\"completed\"} \(tls.completed)\n"
            text += "swerve_tls_handshakes_total{result=\"failed\"} \(tls.failed)\n"
            family("swerve_tls_kernel_connections_total", "counter",
                   "TLS connections whose output the kernel encrypts (kTLS: file bodies with SSL_sendfile); the others encrypt in user space.")
            text += "swerve_tls_kernel_connections_total \(tls.kernelTLS)\n"
        }

        let cache = snapshot.cache
        family("swerve_cache_hits_total", "counter", "Compressed bodies served from the in-memory cache.")
        text += "swerve_cache_hits_total \(cache.hits)\n"
        family("swerve_cache_misses_total", "counter", "Lookups in the compressed-body cache that found nothing.")
        text += "swerve_cache_misses_total \(cache.misses)\n"
        family("swerve_cache_evictions_total", "counter", "Compressed bodies evicted to stay within --cache-size.")
        text += "swerve_cache_evictions_total \(cache.evictions)\n"
        family("swerve_cache_bytes", "gauge", "Bytes of compressed bodies held in the cache.")
        text += "swerve_cache_bytes \(cache.bytesHeld)\n"
        family("swerve_cache_entries", "gauge", "Compressed bodies held in the cache.")
        text += "swerve_cache_entries \(cache.entries)\n"
        family("swerve_cache_bytes_saved_total", "counter",
               "Bytes not sent thanks to compression: identity size minus body size, per compressed body sent whole.")
        text += "swerve_cache_bytes_saved_total \(sum(LoopMetrics.savedBytesIndex))\n"
        family("swerve_compressions_total", "counter", "Whole-file compressions run (concurrent first requests share one).")
        text += "swerve_compressions_total \(snapshot.compressions)\n"
        family("swerve_access_log_dropped_total", "counter",
               "Access-log lines dropped because the log sink was slower than the traffic.")
        text += "swerve_access_log_dropped_total \(snapshot.accessLogDropped)\n"

        family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        text += "process_resident_memory_bytes \(residentBytes())\n"
        family("process_open_fds", "gauge", "Open file descriptors.")
        text += "process_open_fds \(openDescriptors())\n"
        return Array(text.utf8)
    }

    /// Nanoseconds as seconds in decimal, exactly (`0.00005`, `2.5`, `10`).
    static func seconds(_ nanoseconds: Int) -> String {
        let whole = nanoseconds / 1_000_000_000
        var fraction = nanoseconds % 1_000_000_000
        guard fraction > 0 else { return "\(whole)" }
        var digits = 9
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        let text = String(fraction)
        return "\(whole)." + String(repeating: "0", count: digits - text.count) + text
    }

    /// VmRSS: the second field of /proc/self/statm, in pages.
    static func residentBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return 0 }
        let fields = buffer[0..<n].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Entries of /proc/self/fd, less the one the count itself holds open.
    static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let name = entry.pointee.d_name.0
            if name != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)
    }
}
