import Dispatch
import Glibc
import Synchronization
import SwerveEngine
import Testing

/// The engine serves a new connection at its accept (`EventLoop.acceptConnections`). Each such connection is a pass
/// of its own (`ProcessContext.wakeup`), so a check a handler made for an earlier connection of the same wake-up
/// (the open-file cache's revalidation) never answers for a request that may have been sent after it.
@Suite("Engine: connections served at accept", .serialized)
struct AcceptPassTests {
    /// Records `context.wakeup` per request; holds the loop inside the first request until released.
    final class PassRecorder: ConnectionHandler, @unchecked Sendable {
        struct ConnectionState: BitwiseCopyable {}
        let passes = Mutex<[UInt64]>([])
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        private var first = true

        func makeConnectionState() -> ConnectionState { ConnectionState() }
        func connectionClosed(id: Int32, state: inout ConnectionState) {}
        func tick(now: Int64) -> Bool { false }

        func process(
            _ input: UnsafeRawBufferPointer, state: inout ConnectionState, output: inout OutputWriter, context: ProcessContext
        ) -> ProcessOutcome {
            guard !input.isEmpty else { return .needInput(consumed: 0, midMessage: false) }
            passes.withLock { $0.append(context.wakeup) }
            if first {
                first = false
                entered.signal()
                release.wait()
            }
            Array("ok\n".utf8).withUnsafeBytes { output.append($0) }
            return .close(consumed: input.count, lingering: false)
        }
    }

    @Test("two connections accepted in one batch are two passes")
    func separatePasses() throws {
        let recorder = PassRecorder()
        let engine = try Engine(configuration: EngineConfiguration(host: ListenAddress("127.0.0.1")!, port: 0, workers: 1)) { _ in recorder }
        try engine.start()
        defer { engine.stop() }
        let first = try RawClient(port: engine.port)
        try first.send("a")
        recorder.entered.wait()
        // The loop is held inside the first request: both of these are complete connections with their bytes in
        // before it can accept either, so one accept batch takes both.
        let second = try RawClient(port: engine.port)
        try second.send("b")
        let third = try RawClient(port: engine.port)
        try third.send("c")
        recorder.release.signal()
        for client in [first, second, third] {
            while client.fill() {}
            #expect(client.eof)
        }
        let passes = recorder.passes.withLock { $0 }
        #expect(passes.count == 3)
        #expect(passes[1] != passes[2])
        #expect(passes[0] != passes[1])
    }
}
