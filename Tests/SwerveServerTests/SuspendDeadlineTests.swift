import Glibc
import SwerveEngine
import Synchronization
import Testing

/// A line-based handler for engine tests: each request is one line ending in LF, answered with one line. What it
/// does with a request is the line's first word:
/// - `now`: answers `ok` at once;
/// - `wait`: suspends and is never resumed by anyone (work that never finishes); answers `expired` once told the
///   wait expired;
/// - `spin`: suspends and resumes itself at once, so it is run again and suspends again without progress (a file
///   that keeps changing while it is compressed); answers `expired` once told;
/// - `stubborn`: suspends, and suspends again even when told the wait expired.
final class ScriptedHandler: ConnectionHandler {
    typealias ConnectionState = UInt8

    /// How often `process` ran for a `spin` request, across all connections.
    let spins = Atomic<Int>(0)

    func makeConnectionState() -> UInt8 { 0 }
    func connectionClosed(id: Int32, state: inout UInt8) {}
    func tick(now: Int64) -> Bool { false }

    func process(
        _ input: UnsafeRawBufferPointer, state: inout UInt8, output: inout OutputWriter, context: ProcessContext
    ) -> ProcessOutcome {
        var consumed = 0
        while let newline = input[consumed...].firstIndex(of: 0x0A) {
            let line = String(decoding: input[consumed..<newline], as: UTF8.self)
            let word = line.split(separator: " ").first.map(String.init) ?? ""
            switch word {
            case "now":
                Self.write("ok\n", to: &output)
            case "wait", "spin", "stubborn":
                if context.waitExpired && word != "stubborn" {
                    Self.write("expired\n", to: &output)
                } else {
                    if word == "spin" {
                        spins.add(1, ordering: .relaxed)
                        context.resumer.resume()
                    }
                    return .suspend(consumed: consumed)
                }
            default:
                Self.write("?\n", to: &output)
            }
            consumed = newline + 1
        }
        return .needInput(consumed: consumed, midMessage: consumed < input.count)
    }

    static func write(_ text: String, to output: inout OutputWriter) {
        let bytes = Array(text.utf8)
        output.appendBytes(count: bytes.count) { area in
            area.copyBytes(from: bytes)
            return bytes.count
        }
    }
}

/// The engine's deadline for requests waiting on work off the loop (`EngineConfiguration.suspendTimeout`), and
/// EOF handling, with a scripted handler so that "work that never finishes" is exact rather than slow.
@Suite("Engine: suspended requests and peer EOF", .serialized)
struct SuspendDeadlineTests {
    final class Running {
        let handler = ScriptedHandler()
        let engine: Engine<ScriptedHandler>
        var port: UInt16 { engine.port }

        init(suspendTimeout: Double = 0.3, keepAliveTimeout: Double = 30) throws {
            let handler = self.handler
            engine = try Engine(configuration: EngineConfiguration(
                host: ListenAddress("127.0.0.1")!, port: 0, workers: 1, keepAliveTimeout: keepAliveTimeout,
                suspendTimeout: suspendTimeout, shutdownGrace: 1)) { _ in handler }
            try engine.start()
        }

        func stop() { engine.stop() }
    }

    /// Reads one LF-terminated line from a RawClient's socket.
    static func readLine(_ client: RawClient) throws -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = recv(client.fd, &byte, 1, 0)
            guard n == 1 else { throw TestFailure("connection ended after \(line.count) bytes of a line") }
            if byte == 0x0A { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
    }

    @Test("a request waiting for work that never finishes is answered without it after suspendTimeout, and the connection goes on")
    func waitExpires() throws {
        let running = try Running()
        defer { running.stop() }
        let client = try RawClient(port: running.port, timeoutSeconds: 5)
        let start = monotonicSeconds()
        try client.send("wait\nnow\n")
        #expect(try Self.readLine(client) == "expired")
        let elapsed = monotonicSeconds() - start
        #expect(elapsed >= 0.25 && elapsed < 2, "answered after \(elapsed) s")
        #expect(try Self.readLine(client) == "ok")
        // The next waiting request gets a deadline of its own.
        try client.send("wait\n")
        #expect(try Self.readLine(client) == "expired")
    }

    @Test("resumes without progress do not extend the deadline: a request that keeps being retried is still answered after suspendTimeout")
    func retriesDoNotExtendTheDeadline() throws {
        let running = try Running()
        defer { running.stop() }
        let client = try RawClient(port: running.port, timeoutSeconds: 5)
        let start = monotonicSeconds()
        try client.send("spin\n")
        #expect(try Self.readLine(client) == "expired")
        let elapsed = monotonicSeconds() - start
        #expect(elapsed < 2, "answered after \(elapsed) s")
        // It really was resumed and suspended over and over meanwhile.
        #expect(running.handler.spins.load(ordering: .relaxed) > 10)
    }

    @Test("a handler that suspends again after its wait expired is closed, not kept")
    func suspendAfterExpiryCloses() throws {
        let running = try Running()
        defer { running.stop() }
        let client = try RawClient(port: running.port, timeoutSeconds: 5)
        let start = monotonicSeconds()
        try client.send("stubborn\n")
        #expect(client.readsEOF())
        #expect(monotonicSeconds() - start < 2)
    }

    @Test("a request and its FIN in one segment: answered, then closed at once (not at the keep-alive timeout)")
    func requestWithFIN() throws {
        let running = try Running(keepAliveTimeout: 30)
        defer { running.stop() }
        for script in ["now\n", "now\nnow\n", "wait\n"] {
            let client = try RawClient(port: running.port, timeoutSeconds: 5)
            // Cork the client so the request and the FIN leave as one segment: the server's epoll reports data and
            // EPOLLRDHUP in one event, and no later edge comes.
            var on: Int32 = 1
            setsockopt(client.fd, Int32(IPPROTO_TCP), TCP_CORK, &on, socklen_t(MemoryLayout<Int32>.size))
            try client.send(script)
            shutdown(client.fd, Int32(SHUT_WR))
            let start = monotonicSeconds()
            for expected in script.split(separator: "\n").map({ $0 == "wait" ? "expired" : "ok" }) {
                #expect(try Self.readLine(client) == expected, "\(script.debugDescription)")
            }
            #expect(client.readsEOF(), "\(script.debugDescription)")
            #expect(monotonicSeconds() - start < 2, "\(script.debugDescription)")
        }
    }
}
