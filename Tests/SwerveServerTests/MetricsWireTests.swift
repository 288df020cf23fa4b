import Foundation
import Glibc
import SwerveCompression
import SwerveServer
import Testing

/// `--metrics`: the Prometheus page on its own listener, after known traffic.
@Suite("Metrics over the wire", .serialized)
struct MetricsWireTests {
    static let small = Array(String(repeating: "a", count: 1024).utf8)
    static let script = textLike(6_000)

    /// `name{labels} value` lines of a scrape, by series.
    static func series(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            result[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        return result
    }

    /// Scrapes until `ready` holds for the page (a response is counted once its last byte is written, which can be
    /// a moment after the client read it), failing after 5 s.
    static func scrape(_ port: UInt16, until ready: ([String: String]) -> Bool) throws -> (WireResponse, [String: String]) {
        var last: (WireResponse, [String: String])?
        for _ in 0..<500 {
            let response = try fetch(port, "GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
            let parsed = series(response.bodyText)
            last = (response, parsed)
            if ready(parsed) { return (response, parsed) }
            usleep(10_000)
        }
        throw TestFailure("metrics never reached the expected values: \(last?.0.bodyText ?? "")")
    }

    @Test("after known traffic the counters, the byte total, the histogram and the cache figures are exact")
    func countersAfterKnownTraffic() throws {
        let server = try TestServer(files: ["a.txt": Self.small, "app.js": Self.script]) { configuration in
            configuration.metrics = "127.0.0.1:0"
        }
        defer { server.shutdown() }
        let port = server.port
        let metricsPort = try #require(server.server.metricsPort)
        #expect(metricsPort != port)
        for _ in 0..<3 { #expect(try fetch(port, "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n").status == 200) }
        _ = try fetch(port, "HEAD /a.txt HTTP/1.1\r\nHost: h\r\n\r\n", headRequest: true)
        let missing = try fetch(port, "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(missing.status == 404)
        #expect(try fetch(port, "POST /a.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").status == 405)
        let miss = try fetch(port, "GET /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n")
        let hit = try fetch(port, "GET /app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n")
        #expect(hit.header("Content-Encoding") == "gzip")
        // Every client has closed; the server sees each FIN a moment later, so wait for that too.
        let (response, page) = try Self.scrape(metricsPort) {
            $0["swerve_http_request_duration_seconds_count"] == "8" && $0["swerve_connections_active"] == "0"
        }
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.header("Cache-Control") == "no-store")
        #expect(page[#"swerve_http_requests_total{method="GET",code="200"}"#] == "5")
        #expect(page[#"swerve_http_requests_total{method="HEAD",code="200"}"#] == "1")
        #expect(page[#"swerve_http_requests_total{method="GET",code="404"}"#] == "1")
        #expect(page[#"swerve_http_requests_total{method="other",code="405"}"#] == "1")
        let bodies = 3 * 1024 + missing.body.count + miss.body.count + hit.body.count
        let error405 = try #require(Int(page["swerve_http_response_bytes_total"] ?? "")) - bodies
        #expect(error405 > 0 && error405 < 1024)
        #expect(page[#"swerve_http_request_duration_seconds_bucket{le="+Inf"}"#] == "8")
        #expect(page[#"swerve_http_request_duration_seconds_bucket{le="10"}"#] == "8")
        #expect((Double(page["swerve_http_request_duration_seconds_sum"] ?? "") ?? 0) > 0)
        #expect(page["swerve_connections_accepted_total"] == "8")
        #expect(page["swerve_compressions_total"] == "1")
        #expect(page["swerve_cache_entries"] == "1")
        #expect(page["swerve_cache_bytes"] == "\(miss.body.count + BodyCache.entryOverheadBytes)")
        // The first request missed, waited for the compression, then was answered from the cache like the second.
        #expect(page["swerve_cache_misses_total"] == "1")
        #expect(page["swerve_cache_hits_total"] == "2")
        #expect(page["swerve_cache_bytes_saved_total"] == "\(2 * (Self.script.count - hit.body.count))")
        #expect(page["swerve_access_log_dropped_total"] == "0")
        #expect(page["swerve_cache_evictions_total"] == "0")
        #expect((Int(page["process_resident_memory_bytes"] ?? "") ?? 0) > 1 << 20)
        #expect((Int(page["process_open_fds"] ?? "") ?? 0) > 3)
        // The scrape's own connection is the metrics listener's, not counted with the site's.
        #expect(page["swerve_connections_active"] == "0")
        // Buckets are cumulative and never decrease.
        let buckets = page.filter { $0.key.hasPrefix("swerve_http_request_duration_seconds_bucket") }.count
        #expect(buckets == 18)
    }

    @Test("the metrics listener serves only /metrics: other paths 404, other methods 405; the site has no /metrics")
    func metricsNamespace() throws {
        let server = try TestServer(files: ["a.txt": Self.small]) { $0.metrics = "127.0.0.1:0" }
        defer { server.shutdown() }
        let metricsPort = try #require(server.server.metricsPort)
        #expect(try fetch(metricsPort, "GET /a.txt HTTP/1.1\r\nHost: m\r\n\r\n").status == 404)
        #expect(try fetch(metricsPort, "POST /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 0\r\n\r\n").status == 405)
        let head = try fetch(metricsPort, "HEAD /metrics HTTP/1.1\r\nHost: m\r\n\r\n", headRequest: true)
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(try fetch(server.port, "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n").status == 404)
        // Keep-alive: two scrapes on one connection.
        let client = try RawClient(port: metricsPort)
        try client.send("GET /metrics HTTP/1.1\r\nHost: m\r\n\r\nGET /metrics?x HTTP/1.1\r\nHost: m\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        #expect(try client.readResponse().bodyText.contains("swerve_connections_active"))
    }

    @Test("--metrics with a bad address is a usage error")
    func badMetricsAddress() {
        for text in ["9100", "example.test:9100", "127.0.0.1:", "127.0.0.1:70000", "[::1]"] {
            expectUsageError(naming: "--metrics") { $0.metrics = text }
        }
    }
}

/// `--health`: 200 while serving, 503 once shutdown begins.
@Suite("Health check over the wire", .serialized)
struct HealthWireTests {
    @Test("200 ok with no-store, before any file lookup (a file of that name is not served); 503 once draining")
    func healthAndDrain() throws {
        let server = try TestServer(files: ["healthz": Array("a file".utf8), "a.txt": Array("x".utf8)]) { $0.health = "/healthz" }
        defer { server.shutdown() }
        let ok = try fetch(server.port, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(ok.status == 200)
        #expect(ok.bodyText == "ok\n")
        #expect(ok.header("Cache-Control") == "no-store")
        #expect(ok.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(try fetch(server.port, "GET /healthz?probe=1 HTTP/1.1\r\nHost: h\r\n\r\n").status == 200)
        let head = try fetch(server.port, "HEAD /healthz HTTP/1.1\r\nHost: h\r\n\r\n", headRequest: true)
        #expect(head.status == 200 && head.body.isEmpty && head.header("Content-Length") == "3")
        // A client already connected before shutdown begins.
        let kept = try RawClient(port: server.port)
        try kept.send("GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try kept.readResponse().status == 200)
        server.server.beginDraining()
        let failing = try fetch(server.port, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(failing.status == 503)
        #expect(failing.bodyText == "draining\n")
        #expect(failing.header("Cache-Control") == "no-store")
        try kept.send("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try kept.readResponse().status == 503)
        // Everything else is still served during the drain delay: only the health check fails.
        #expect(try fetch(server.port, "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n").status == 200)
        // Then the listener closes.
        server.server.stop()
        #expect(throws: (any Error).self) { try RawClient(port: server.port) }
    }

    @Test("without --health the path is an ordinary file; a bad --health is a usage error")
    func healthOff() throws {
        let server = try TestServer(files: ["healthz": Array("a file".utf8)])
        defer { server.shutdown() }
        #expect(try fetch(server.port, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n").bodyText == "a file")
        for text in ["healthz", "/a b", "/h?x", ""] {
            expectUsageError(naming: "--health") { $0.health = text }
        }
    }
}

/// A server configured by `configure` refuses to start with a usage error (exit 64) that names `option`.
func expectUsageError(naming option: String, sourceLocation: SourceLocation = #_sourceLocation, _ configure: (inout ServerConfiguration) -> Void) {
    var configuration = ServerConfiguration()
    configuration.root = "/tmp"
    configuration.port = 0
    configuration.accessLog = .off
    configure(&configuration)
    do {
        _ = try Server(configuration: configuration)
        Issue.record("accepted a bad \(option)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.isUsage, sourceLocation: sourceLocation)
        #expect(error.description.contains(option), "\(error)", sourceLocation: sourceLocation)
    }
}
