import CSwerveSys
import Glibc
import SwerveEngine
import SwerveHTTP

/// Per-connection HTTP state, stored inline in the engine's connection table.
public struct HTTPConnectionState: BitwiseCopyable {
    /// Content-Length body bytes still to read and discard before the next request starts.
    var bodyRemaining: Int = 0
    /// A chunked request body is being discarded.
    var chunked = false
    var decoder = ChunkedBodyDecoder()
}

/// What every handler shares: the resolver, the MIME table and the settings. Immutable.
final class Site: Sendable {
    let resolver: PathResolver
    let mime: MIMETable

    init(resolver: PathResolver, mime: MIMETable) {
        self.resolver = resolver
        self.mime = mime
    }
}

/// The HTTP/1.1 pipeline on top of the engine: parse → resolve → plan → render. One per event loop; its scratch
/// buffers are reused by every request on that loop.
final class HTTPHandler: ConnectionHandler {
    typealias ConnectionState = HTTPConnectionState

    /// A response head needs at most this much room, plus its Content-Type and Location (ResponseHead.sizeBound);
    /// below this much free output the handler asks the engine to flush first.
    static let outputReserve = 4096
    /// Files up to this size are read into the output buffer and leave with their header in one `writev`;
    /// larger ones are queued for `sendfile`. 16 KiB: one pread is cheaper than a sendfile plus a second packet
    /// for small files, while a large copy would cost more than sendfile's zero-copy path.
    static let inlineBodyLimit = 16 * 1024
    /// A request body (which a static server ignores) up to this size is read and discarded to keep the connection;
    /// a larger one closes the connection after the response instead of reading megabytes for nothing.
    static let discardBodyLimit = 64 * 1024
    /// Decoded path bytes for the resolver (its own bound plus the index.html it may append).
    static let pathScratchSize = PathResolver.scratchCapacity

    let site: Site
    private var parser = RequestParser()
    private var date = DateCache()
    private let pathScratch: UnsafeMutableRawBufferPointer
    private let bodyScratch: UnsafeMutableRawPointer

    init(site: Site) {
        self.site = site
        pathScratch = .allocate(byteCount: Self.pathScratchSize, alignment: 16)
        bodyScratch = .allocate(byteCount: Self.inlineBodyLimit, alignment: 16)
    }

    deinit {
        pathScratch.deallocate()
        bodyScratch.deallocate()
    }

    func makeConnectionState() -> HTTPConnectionState { HTTPConnectionState() }

    func process(
        _ input: UnsafeRawBufferPointer,
        state: inout HTTPConnectionState,
        output: inout OutputWriter,
        context: ProcessContext
    ) -> ProcessOutcome {
        var consumed = 0
        while true {
            // A request body the previous request announced: read and discard it, so the next pipelined request
            // starts at the right byte (RFC 9112 §6.3).
            if state.bodyRemaining > 0 {
                let take = min(state.bodyRemaining, input.count - consumed)
                consumed += take
                state.bodyRemaining -= take
                if state.bodyRemaining > 0 { return .needInput(consumed: consumed, midMessage: true) }
            }
            if state.chunked {
                switch state.decoder.consume(UnsafeRawBufferPointer(rebasing: input[consumed...])) {
                case .needMore(let used):
                    return .needInput(consumed: consumed + used, midMessage: true)
                case .done(let used):
                    consumed += used
                    state.chunked = false
                case .error(let error):
                    writeError(error.status, isHead: false, connection: .close, output: &output, now: context.wallClockSeconds)
                    return .close(consumed: input.count, lingering: true)
                }
            }
            if consumed == input.count { return .needInput(consumed: consumed, midMessage: false) }
            if output.freeBytes < Self.outputReserve + Self.inlineBodyLimit || output.freeSegments < 3 {
                return .outputFull(consumed: consumed)
            }
            let request = UnsafeRawBufferPointer(rebasing: input[consumed...])
            switch parser.parse(request) {
            case .incomplete:
                return .needInput(consumed: consumed, midMessage: true)
            case .error(let error):
                // The rest of the input cannot be framed any more: answer and close, lingering so the client
                // reads the answer rather than a reset (RFC 9112 §9.6).
                writeError(error.status, isHead: false, connection: .close, output: &output, now: context.wallClockSeconds)
                return .close(consumed: input.count, lingering: true)
            case .head(let head):
                consumed += head.headerLength
                var keepAlive = head.keepAlive && !context.draining
                if head.chunked {
                    state.chunked = true
                    state.decoder = ChunkedBodyDecoder()
                } else if head.contentLength > Self.discardBodyLimit {
                    keepAlive = false
                } else {
                    state.bodyRemaining = head.contentLength
                }
                let connection: ResponseHead.ConnectionField =
                    !keepAlive ? .close : (head.versionMinor == 0 ? .keepAlive : .none)
                respond(to: head, in: request, connection: connection, output: &output, now: context.wallClockSeconds)
                if !keepAlive {
                    let unread = consumed < input.count || head.chunked || head.contentLength > 0
                    return .close(consumed: input.count, lingering: unread)
                }
            }
        }
    }

    // MARK: Responding

    private func respond(
        to head: RequestHead, in request: UnsafeRawBufferPointer,
        connection: ResponseHead.ConnectionField, output: inout OutputWriter, now: Int
    ) {
        let isHead = head.method == .head
        switch head.method {
        case .get, .head:
            break
        case .options:
            // RFC 9110 §9.3.7: a server generating a successful response to OPTIONS SHOULD send any header that
            // might indicate optional features, such as Allow.
            var response = ResponseHead(status: .noContent, contentLength: 0)
            response.allow = true
            response.connection = connection
            writeHead(response, output: &output, now: now)
            return
        case .other:
            // RFC 9110 §15.5.6: the origin server MUST generate an Allow header field in a 405 response.
            writeError(.methodNotAllowed, isHead: false, connection: connection, allow: true, output: &output, now: now)
            return
        }
        let path = UnsafeRawBufferPointer(rebasing: request[Int(head.path.start)..<Int(head.path.end)])
        switch site.resolver.resolve(path, scratch: pathScratch) {
        case .failure(let status):
            writeError(status, isHead: isHead, connection: connection, output: &output, now: now)
        case .redirect(let location):
            location.withUnsafeBytes { location in
                writeError(.movedPermanently, isHead: isHead, connection: connection, location: location, output: &output, now: now)
            }
        case .file(let fd, let facts, let name):
            sendFile(fd: fd, facts: facts, name: name, isHead: isHead, connection: connection, output: &output, now: now)
        }
    }

    private func sendFile(
        fd: Int32, facts: FileFacts, name: UnsafeRawBufferPointer, isHead: Bool,
        connection: ResponseHead.ConnectionField, output: inout OutputWriter, now: Int
    ) {
        var length = facts.size
        var inline = false
        if !isHead && length <= Self.inlineBodyLimit {
            // Small file: read it now and send it with its header in one writev. A short read means the file
            // shrank since fstat; the bytes we have are what we frame and send.
            let n = pread(fd, bodyScratch, length, 0)
            length = max(0, n)
            inline = true
        }
        var response = ResponseHead(status: .ok, contentLength: length)
        response.contentType = site.mime.contentType(forPath: name)
        // RFC 9110 §8.8.2.1: an origin server MUST NOT send a Last-Modified date that is later than the
        // server's time of message origination (Date).
        response.lastModified = min(Int(facts.mtimeSeconds), now)
        response.etag = ETag(facts)
        response.connection = connection
        writeHead(response, output: &output, now: now)
        if isHead {
            Glibc.close(fd)
        } else if inline {
            output.append(UnsafeRawBufferPointer(start: bodyScratch, count: length))
            Glibc.close(fd)
        } else {
            output.appendFile(fd: fd, offset: 0, length: length, ownsFD: true)
        }
    }

    private func writeError(
        _ status: HTTPStatus, isHead: Bool, connection: ResponseHead.ConnectionField, allow: Bool = false,
        location: UnsafeRawBufferPointer? = nil, output: inout OutputWriter, now: Int
    ) {
        var response = ResponseHead(status: status, contentLength: ErrorPage.length(status))
        response.contentType = UnsafeRawBufferPointer(start: ErrorPage.contentType.utf8Start, count: ErrorPage.contentType.utf8CodeUnitCount)
        response.allow = allow
        response.location = location
        response.connection = connection
        writeHead(response, output: &output, now: now)
        if !isHead {
            output.appendBytes(count: ErrorPage.length(status)) { area in
                var w = ByteWriter(area)
                ErrorPage.render(status, into: &w)
                return w.count
            }
        }
    }

    private func writeHead(_ response: borrowing ResponseHead, output: inout OutputWriter, now: Int) {
        let dateBytes = date.bytes(at: now)
        output.appendBytes(count: min(response.sizeBound, output.freeBytes)) { area in
            var w = ByteWriter(area)
            response.render(into: &w, date: dateBytes)
            return w.count
        }
    }
}
