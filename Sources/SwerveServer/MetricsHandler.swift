import SwerveEngine
import SwerveHTTP

/// A rendered scrape, kept alive by the output segment that sends it.
final class MetricsBody {
    let bytes: UnsafeMutableRawBufferPointer
    init(_ text: [UInt8]) {
        bytes = .allocate(byteCount: max(1, text.count), alignment: 1)
        text.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }
    deinit { bytes.deallocate() }
    var count: Int { bytes.count }
}

/// The `--metrics` listener's HTTP: `GET /metrics` (and HEAD) answered with the Prometheus page, 404 for any other
/// path, 405 for other methods. It runs on an engine of its own (one loop), so a scrape never touches the site's
/// loops, and the site's namespace has no `/metrics`.
final class MetricsHandler: ConnectionHandler {
    struct ConnectionState: BitwiseCopyable {}

    private var parser = RequestParser()
    private var date = DateCache()
    private let render: @Sendable () -> [UInt8]
    static let path: StaticString = "/metrics"

    init(render: @escaping @Sendable () -> [UInt8]) {
        self.render = render
    }

    func makeConnectionState() -> ConnectionState { ConnectionState() }
    func connectionClosed(id: Int32, state: inout ConnectionState) {}
    func tick(now: Int64) -> Bool { false }

    func process(
        _ input: UnsafeRawBufferPointer, state: inout ConnectionState, output: inout OutputWriter, context: ProcessContext
    ) -> ProcessOutcome {
        var consumed = 0
        while consumed < input.count {
            if output.freeBytes < 4096 || output.freeSegments < 4 { return .outputFull(consumed: consumed) }
            let request = UnsafeRawBufferPointer(rebasing: input[consumed...])
            switch parser.parse(request) {
            case .incomplete:
                return .needInput(consumed: consumed, midMessage: true)
            case .error(let error):
                writeHead(ResponseHead(status: error.status, contentLength: 0), connection: .close, output: &output, context: context)
                return .close(consumed: input.count, lingering: true)
            case .head(let head):
                consumed += head.headerLength
                // A scraper sends no body; one that does is answered and closed rather than its body parsed.
                let keepAlive = head.keepAlive && !context.draining && head.contentLength == 0 && !head.chunked
                let connection: ResponseHead.ConnectionField = !keepAlive ? .close : (head.versionMinor == 0 ? .keepAlive : .none)
                let path = head.pathWithoutQuery(in: request)
                let isMetrics = Self.path.withUTF8Buffer { path.elementsEqual($0) }
                if head.method != .get && head.method != .head {
                    var response = ResponseHead(status: .methodNotAllowed, contentLength: 0)
                    response.allow = true
                    writeHead(response, connection: connection, output: &output, context: context)
                } else if !isMetrics {
                    writeHead(ResponseHead(status: .notFound, contentLength: 0), connection: connection, output: &output, context: context)
                } else {
                    let body = MetricsBody(render())
                    var response = ResponseHead(status: .ok, contentLength: body.count)
                    response.contentType = UnsafeRawBufferPointer(start: MetricsPage.contentType.utf8Start, count: MetricsPage.contentType.utf8CodeUnitCount)
                    response.cacheControl = HTTPHandler.noStore
                    writeHead(response, connection: connection, output: &output, context: context)
                    if head.method == .get {
                        output.appendExternal(UnsafeRawBufferPointer(body.bytes), owner: body)
                    }
                }
                if !keepAlive { return .close(consumed: input.count, lingering: head.contentLength > 0 || head.chunked) }
            }
        }
        return .needInput(consumed: consumed, midMessage: false)
    }

    private func writeHead(
        _ response: consuming ResponseHead, connection: ResponseHead.ConnectionField, output: inout OutputWriter,
        context: ProcessContext
    ) {
        var response = response
        response.connection = connection
        output.appendHead(response, date: date.bytes(at: context.wallClockSeconds))
    }
}
