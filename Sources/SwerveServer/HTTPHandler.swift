import CSwerveSys
import Glibc
import SwerveCompression
import SwerveEngine
import SwerveFiles
import SwerveHTTP
import SwerveHTTP2

/// Per-connection HTTP state, stored inline in the engine's connection table.
public struct HTTPConnectionState: BitwiseCopyable {
    /// Content-Length body bytes still to read and discard before the next request starts.
    var bodyRemaining: Int = 0
    /// A chunked request body is being discarded.
    var chunked = false
    /// Bytes of the chunked body discarded so far (framing included), against `HTTPHandler.discardBodyLimit`.
    var chunkedDiscarded = 0
    var decoder = ChunkedBodyDecoder()
    /// A gzip stream (see `CompressionStream`) is being sent; its object lives in the handler's `streams` table.
    var streaming = false
    /// Close the connection once the stream ends (the request asked to close).
    var closeAfterStream = false
    /// The request at the head of the input was suspended for a compression: when it is answered from the cache
    /// afterwards, Server-Timing reports the miss it waited for, not a hit.
    var waitedForCompression = false
    /// Compressions started for the request at the head of the input: a file that keeps changing while it is
    /// compressed is retried at most `HTTPHandler.maximumCompressionAttempts` times, then sent as it is.
    var compressionAttempts: UInt8 = 0
    /// Bytes of the incomplete request at the head of the input that the parser has already seen. A head can
    /// only complete with a new LF, so bytes trickled without one are not re-parsed (see `process`).
    var partialSeen: Int32 = 0
    /// Monotonic nanoseconds when the request at the head of the input was first seen (0: none yet), for its
    /// logged duration. Kept only while responses are observed (`HTTPHandler.observer`).
    var requestStarted: Int64 = 0
    /// The streaming response's record (`ResponseObserver`), valid while `hasStreamRecord`.
    var streamRecord: UInt32 = 0
    var hasStreamRecord = false
    /// A request was read as HTTP/1.1: the connection can no longer turn out to be HTTP/2.
    var spokeHTTP1 = false
    /// The connection speaks HTTP/2; its session lives in the handler's `http2Connections`.
    var http2 = false
}

/// What the handler shares with every other loop's handler: immutable after start.
final class Site: Sendable {
    /// The configured root, re-resolved while serving (a release symlink swapped by a deploy).
    let documentRoot: DocumentRoot
    let showHidden: Bool
    let followSymlinks: Bool
    let mime: MIMETable
    /// nil: compression disabled.
    let compression: CompressionService?
    let sidecars = SidecarIndex()
    let contentHashes: ContentHashes
    let cacheControl: CacheControlPolicy
    let gzipMinSize: Int
    /// `--encodings`: the compressions offered, and their order among equal weights.
    let encodings: EncodingPreference
    let serverTiming: Bool
    /// ETags from content hashes for every file (`--etag content`), not only for files dated 0 or 1.
    let contentETags: Bool
    /// `--header` rules (fields added to the 2xx and 304 responses of matching paths).
    let headerRules: HeaderRules
    /// `--cors`; nil: no CORS fields, OPTIONS answered as for any client.
    let cors: CORSPolicy?
    /// `X-Content-Type-Options: nosniff` on every response (`--no-nosniff` turns it off).
    let nosniff: Bool
    /// The SPA fallback and the error pages.
    let pages: SitePages
    /// `--list-dirs`.
    let listDirectories: Bool
    /// The threads that run work off the loops (directory listings here; compression has its own service on them).
    let workers: WorkerPool
    /// Responses are recorded for the access log and the metrics (`ResponseObserver`).
    let observeResponses: Bool
    /// `--health`: its path and whether the server is about to drain.
    let health: HealthCheck?

    init(
        documentRoot: DocumentRoot, showHidden: Bool, followSymlinks: Bool, mime: MIMETable,
        compression: CompressionService?, contentHashes: ContentHashes, cacheControl: CacheControlPolicy,
        gzipMinSize: Int, encodings: EncodingPreference, serverTiming: Bool, contentETags: Bool, headerRules: HeaderRules, cors: CORSPolicy?,
        nosniff: Bool, pages: SitePages, listDirectories: Bool, workers: WorkerPool, observeResponses: Bool,
        health: HealthCheck?
    ) {
        self.observeResponses = observeResponses
        self.health = health
        self.pages = pages
        self.listDirectories = listDirectories
        self.workers = workers
        self.headerRules = headerRules
        self.cors = cors
        self.nosniff = nosniff
        self.documentRoot = documentRoot
        self.showHidden = showHidden
        self.followSymlinks = followSymlinks
        self.mime = mime
        self.compression = compression
        self.contentHashes = contentHashes
        self.cacheControl = cacheControl
        self.gzipMinSize = gzipMinSize
        self.encodings = encodings
        self.serverTiming = serverTiming
        self.contentETags = contentETags
    }
}

/// The HTTP/1.1 pipeline on top of the engine: parse → resolve → choose a representation → render. One per event
/// loop; its scratch buffers are reused by every request on that loop.
final class HTTPHandler: ConnectionHandler {
    typealias ConnectionState = HTTPConnectionState

    /// A response head needs at most this much room plus its variable fields (ResponseHead.sizeBound); below
    /// this much free output the handler asks the engine to flush first.
    static let outputReserve = 4096 + 8192
    /// Files up to this size are read into the output buffer and leave with their header in one `writev`;
    /// larger ones are queued for `sendfile`. 16 KiB: one pread is cheaper than a sendfile plus a second packet
    /// for small files, while a large copy would cost more than sendfile's zero-copy path.
    static let inlineBodyLimit = 16 * 1024
    /// A request body (which a static server ignores) up to this size is read and discarded to keep the connection,
    /// so the next pipelined request is answered (nginx discards bodies too); a larger one – announced by
    /// Content-Length, or a chunked body that grows past it – closes the connection after the response instead of
    /// reading megabytes for nothing. 1 MiB: form posts and API probes, not uploads.
    static let discardBodyLimit = 1 << 20
    /// Compressions one request may start: the first, and a retry or two for a file that changed while it was
    /// being read (a deploy writing it). A file still changing after that is sent as it is (identity, or a gzip
    /// stream), so a file rewritten continuously cannot keep a request waiting.
    static let maximumCompressionAttempts: UInt8 = 3
    /// A trickled partial head without a new LF is re-parsed only when it crosses a multiple of this size, so the
    /// 414/431 limits are still noticed (at most this late; the input buffer has room beyond the largest head).
    static let limitCheckInterval = 4096
    /// Output segments one response may need: a multipart/byteranges answer takes a header and a body segment per
    /// range (at most 16), plus the head and the closing delimiter.
    static let segmentsPerResponse = 2 * RangeRequest.maxRanges + 4

    let site: Site
    var parser = RequestParser()
    var date = DateCache()
    let lastModifiedDates = HTTPDateMemo()
    /// This loop's recently rendered heads (a keep-alive client gets the same head for a file all second long).
    let heads = ResponseHeadMemo()
    /// This loop's answers to repeated requests (a keep-alive client asks for the same file with the same head).
    let answers = AnswerMemo()
    let pathScratch: UnsafeMutableRawBufferPointer
    /// Compressed streams in progress, by connection id. Touched only by this loop.
    var streams: [Int32: CompressionStream] = [:]
    /// Open files by path, revalidated once per loop wake-up.
    let files = OpenFileCache()
    /// The root this loop resolves in, taken from `site.documentRoot` at least every
    /// `DocumentRoot.checkIntervalMilliseconds`; nil while the loop is idle (so an old root is not held open).
    var root: RootDirectory?
    /// Monotonic milliseconds at which `root` is taken afresh.
    var rootCheckDue: Int64 = 0
    /// The CORS fields for the request being answered (`--cors`, and an allowed `Origin`); set by `respond`, read
    /// by `decorate`. Points into the request's bytes: valid only while that request is answered.
    var requestCORS: CORSFields?
    /// `Vary: Origin` for every response of the request being answered, when Allow-Origin depends on it; and
    /// `Vary: Accept` for the answers to a missing name when an SPA fallback could have answered it.
    var requestVary: VaryFields = []
    /// Error pages found missing, by status: monotonic milliseconds until which the built-in page is used without
    /// looking again.
    var missingPages: [Int: Int64] = [:]
    /// Directory listings being read off the loop, by connection: the request at the head of that connection's
    /// input waits for it (it is answered when `process` runs again after the job's resume).
    var listings: [Int32: ListingJob] = [:]
    /// The access log and metrics of this loop; nil when both are off (then nothing is recorded at all).
    let observer: ResponseObserver?
    /// What `writeHead` queued last (the response being answered), for its record.
    var lastHead = (status: 0, bytes: 0, coding: ContentCoding.identity)
    /// Where the body of the response being answered comes from (set by `serveFile`).
    var responseCache = AccessLogCache.none
    /// Bytes the response's coding saves against identity (a whole compressed body; set by `send`).
    var responseSavedBytes = 0
    /// HTTP/2 connections of this loop, by connection id.
    var http2Connections: [Int32: HTTP2Connection] = [:]
    /// The last key given to an HTTP/2 stream's side-table entries (`HTTP2Stream.key`).
    var nextStreamKey: Int32 = 0
    /// Spare staged outputs for HTTP/2 streams (`recycle`).
    var stagedOutputs: [StagedOutput] = []
    /// Spare HTTP/2 streams, each with its resume flag (`recycle`), and spare storage for their requests' header
    /// blocks, shared by the loop's HTTP/2 sessions.
    var spareStreams: [HTTP2Stream] = []
    let requestBlocks = RequestBlocks()

    init(site: Site, observer: ResponseObserver?) {
        self.site = site
        self.observer = observer
        pathScratch = .allocate(byteCount: PathResolver.scratchCapacity, alignment: 16)
    }

    /// The resolver for the current root. A root that moved (a swapped release symlink) also empties the open-file
    /// cache: its entries name files of the old root. Cost on the hot path: one compare (`rootCheckDue`).
    func resolver(now: Int64) -> PathResolver {
        if root == nil || now >= rootCheckDue {
            let current = site.documentRoot.current(at: now)
            if current !== root {
                if root != nil { files.clear() }
                root = current
            }
            rootCheckDue = now + DocumentRoot.checkIntervalMilliseconds
        }
        return PathResolver(root: root!, showHidden: site.showHidden, followSymlinks: site.followSymlinks)
    }

    /// The loop's tick: close cached files past their age, pick up a moved root, and let go of the root when the
    /// loop has nothing open.
    func tick(now: Int64) -> Bool {
        if root != nil && now >= rootCheckDue { _ = resolver(now: now) }
        let holding = files.evictExpired(now: now)
        if !holding { root = nil }
        guard let log = observer?.log else { return holding }
        log.flushIfDue(now: now)
        // Lines still waiting keep the tick coming, so they are written within the interval on an idle loop too.
        return holding || log.hasLines
    }

    deinit {
        pathScratch.deallocate()
    }

    func makeConnectionState() -> HTTPConnectionState { HTTPConnectionState() }

    func connectionClosed(id: Int32, state: inout HTTPConnectionState) {
        if state.http2 { closeHTTP2(id: id) }
        if state.streaming { streams[id] = nil }
        listings[id] = nil
        if state.hasStreamRecord, let observer {
            // The client left during a stream: what its reported pieces carried is what it got.
            state.hasStreamRecord = false
            let record = observer.records[state.streamRecord]
            observer.finish(state.streamRecord, bodyBytes: max(0, record.sentBytes - record.headBytes))
        }
    }

    func outputMarkReached(_ mark: UInt32, unsentBytes: Int, id: Int32, state: inout HTTPConnectionState) {
        reportMark(mark, unsentBytes: unsentBytes)
    }

    /// A response's mark was passed (`unsentBytes` 0) or its bytes were dropped: its record is updated or finished.
    func reportMark(_ mark: UInt32, unsentBytes: Int) {
        guard let observer else { return }
        if mark & ResponseObserver.progressBit != 0 {
            // A stream piece is out (or, with bytes unsent, the connection is closing: connectionClosed finishes).
            let record = observer.records[mark & ~ResponseObserver.progressBit]
            record.sentBytes = record.queuedAtPiece - unsentBytes
            return
        }
        let record = observer.records[mark]
        observer.finish(mark, bodyBytes: ResponseObserver.bodyBytes(record, unsentBytes: unsentBytes))
    }

    /// What answering one request did.
    enum Answer {
        /// The response is queued.
        case done
        /// Work was started off the loop; ask again when resumed (the request stays unconsumed).
        case suspend
        /// Headers are queued and a compressed stream follows; its first piece is being compressed.
        case streaming
    }

    func process(
        _ input: UnsafeRawBufferPointer,
        state: inout HTTPConnectionState,
        output: inout OutputWriter,
        context: ProcessContext
    ) -> ProcessOutcome {
        files.pass = context.pass
        // A moved root empties the open-file cache: check before any lookup.
        if context.monotonicMilliseconds >= rootCheckDue { _ = resolver(now: context.monotonicMilliseconds) }
        if state.http2 { return processHTTP2(input, output: &output, context: context) }
        if !state.spokeHTTP1, !input.isEmpty,
           let outcome = startHTTP2IfPreface(input, state: &state, output: &output, context: context) {
            return outcome
        }
        var consumed = 0
        while true {
            if state.streaming {
                switch continueStream(state: &state, output: &output, context: context) {
                case .suspend: return .suspend(consumed: consumed)
                case .outputFull: return .outputFull(consumed: consumed)
                case .failed: return .close(consumed: input.count, lingering: false)
                case .finished:
                    if state.closeAfterStream { return .close(consumed: input.count, lingering: consumed < input.count) }
                }
            }
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
                    state.chunkedDiscarded += used
                    if state.chunkedDiscarded > Self.discardBodyLimit {
                        // Too much to read for nothing: the response is out; close after it, lingering.
                        return .close(consumed: input.count, lingering: true)
                    }
                    return .needInput(consumed: consumed + used, midMessage: true)
                case .done(let used):
                    consumed += used
                    state.chunked = false
                case .error:
                    // The request this body belongs to has had its response queued already, and one request gets
                    // one response (RFC 9112 §9.3). A body that cannot be framed leaves nothing to answer: the
                    // connection closes after that response (RFC 9112 §7.1: the body's length is unknowable, so
                    // the connection cannot be reused), lingering so the client reads it rather than a reset.
                    return .close(consumed: input.count, lingering: true)
                }
            }
            if consumed == input.count { return .needInput(consumed: consumed, midMessage: false) }
            if output.freeBytes < Self.outputReserve + Self.inlineBodyLimit || output.freeSegments < Self.segmentsPerResponse
                || output.freeMarks < 2 {
                return .outputFull(consumed: consumed)
            }
            if observer != nil && state.requestStarted == 0 { state.requestStarted = ResponseObserver.now() }
            let request = UnsafeRawBufferPointer(rebasing: input[consumed...])
            // The parser re-reads a partial head from its start on every call; a client trickling a byte at a
            // time would make that quadratic (up to 24 KiB scanned per byte). A head can only complete with an
            // LF, and the 414/431 limits are checked at least every 4 KiB, so other arrivals are skipped.
            let seen = Int(state.partialSeen)
            if seen > 0 && seen <= request.count && request.count / Self.limitCheckInterval == seen / Self.limitCheckInterval
                && memchr(request.baseAddress! + seen, 0x0A, request.count - seen) == nil {
                return .needInput(consumed: consumed, midMessage: true)
            }
            switch parser.parse(request) {
            case .incomplete:
                state.partialSeen = Int32(request.count)
                return .needInput(consumed: consumed, midMessage: true)
            case .error(let error):
                // The rest of the input cannot be framed any more: answer and close, lingering so the client
                // reads the answer rather than a reset (RFC 9112 §9.6).
                let queuedBefore = output.queuedBytes
                writeError(
                    error.status, isHead: RequestParser.startsWithHead(request), connection: .close, output: &output,
                    now: context.wallClockSeconds)
                recordResponse(request, head: nil, queuedFrom: queuedBefore, state: &state, output: &output, context: context, streaming: false)
                return .close(consumed: input.count, lingering: true)
            case .head(let head):
                state.partialSeen = 0
                state.spokeHTTP1 = true
                var keepAlive = head.keepAlive && !context.draining
                let hasBody = head.chunked || head.contentLength > 0
                if head.contentLength > Self.discardBodyLimit { keepAlive = false }
                let connection: ResponseHead.ConnectionField =
                    !keepAlive ? .close : (head.versionMinor == 0 ? .keepAlive : .none)
                let queuedBefore = output.queuedBytes
                let answer = respond(
                    to: head, in: request, connection: connection, hasBody: hasBody, state: &state,
                    output: &output, context: context)
                if case .suspend = answer {
                    state.waitedForCompression = true
                    return .suspend(consumed: consumed)
                }
                if observer != nil {
                    recordResponse(request, head: head, queuedFrom: queuedBefore, state: &state, output: &output, context: context,
                                   streaming: answer == .streaming)
                }
                state.waitedForCompression = false
                state.compressionAttempts = 0
                consumed += head.headerLength
                if head.chunked {
                    state.chunked = true
                    state.chunkedDiscarded = 0
                    state.decoder = ChunkedBodyDecoder()
                } else if keepAlive {
                    state.bodyRemaining = head.contentLength
                }
                if case .streaming = answer {
                    state.streaming = true
                    state.closeAfterStream = !keepAlive
                    return .suspend(consumed: consumed)
                }
                if !keepAlive {
                    return .close(consumed: input.count, lingering: consumed < input.count || hasBody)
                }
            }
        }
    }

    // MARK: Observing

    /// Starts the record of the response just queued for the request at the start of `request` (`head` nil: it could
    /// not be parsed) and, unless it streams, marks its end in the output: the log line and the counters follow
    /// when its last byte is written (`outputMarkReached`). A streamed response's marks come with its pieces.
    /// `version`: where in `request` the version to log lies, when it is not the request line's (HTTP/2's).
    func recordResponse(
        _ request: UnsafeRawBufferPointer, head: RequestHead?, queuedFrom start: Int, state: inout HTTPConnectionState,
        output: inout OutputWriter, context: ProcessContext, streaming: Bool, version: Range<Int>? = nil
    ) {
        guard let observer else { return }
        let (index, record) = observer.records.take()
        let host = head?.authority.map { $0.bytes(in: request) }
        var line = head.map { RequestLine($0, in: request) } ?? RequestLine(request)
        if let version { line.version = version }
        record.capture(
            request: request, line: line, host: host,
            userAgent: head == nil ? nil : parser.firstValue(.userAgent)?.bytes(in: request),
            referer: head == nil ? nil : parser.firstValue(.referer)?.bytes(in: request))
        record.peer = context.peer
        record.metricsMethod = head.map { LoopMetrics.Method($0.method) } ?? .other
        record.status = lastHead.status
        record.headBytes = lastHead.bytes
        record.encoding = lastHead.coding
        record.cache = responseCache
        record.savedBytes = head == nil ? 0 : responseSavedBytes
        record.queuedBytes = output.queuedBytes - start
        record.sentBytes = 0
        record.queuedAtPiece = record.queuedBytes
        record.started = state.requestStarted
        state.requestStarted = 0
        if streaming {
            state.streamRecord = index
            state.hasStreamRecord = true
        } else {
            output.appendMark(index)
        }
    }

    // MARK: Responding

    func respond(
        to head: RequestHead, in request: UnsafeRawBufferPointer, connection: ResponseHead.ConnectionField,
        hasBody: Bool, state: inout HTTPConnectionState, output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        let isHead = head.method == .head
        let recognized = head.method != .other
            || HTTPMethod.isRecognized(UnsafeRawBufferPointer(rebasing: request[Int(head.methodName.start)..<Int(head.methodName.end)]))
        requestCORS = nil
        requestVary = []
        responseCache = .none
        responseSavedBytes = 0
        lastHead = (0, 0, .identity)
        let memoizable = isMemoizable(state: state, context: context)
        if memoizable && replayAnswer(
            UnsafeRawBufferPointer(rebasing: request[0..<head.headerLength]), connection: connection, hasBody: hasBody,
            output: &output, context: context) {
            return .done
        }
        if let health = site.health, head.method == .get || head.method == .head,
           health.matches(head.pathWithoutQuery(in: request)) {
            writeHealth(health, isHead: isHead, connection: connection, output: &output, context: context)
            return .done
        }
        var preflight = false
        if let cors = site.cors {
            if cors.variesByOrigin { requestVary = .origin }
            if let origin = parser.firstValue(.origin)?.bytes(in: request), let allow = cors.allowOrigin(origin) {
                requestCORS = CORSFields(allowOrigin: allow)
                preflight = head.method == .options && parser.contains(.accessControlRequestMethod)
            }
        }
        defer { requestCORS = nil }
        switch ResponsePlanner.route(head.method, recognized: recognized, corsPreflight: preflight) {
        case .resource:
            break
        case .options:
            var response = ResponseHead(status: .noContent, contentLength: 0)
            response.allow = true
            response.connection = connection
            decorate(&response)
            writeHead(response, output: &output, now: now)
            return .done
        case .preflight:
            // The Fetch standard's CORS-preflight: 204 with the methods, the headers it asked for, and how long the
            // answer may be cached; no Allow.
            requestCORS?.preflight = true
            requestCORS?.allowHeaders = parser.firstValue(.accessControlRequestHeaders)
                .map { $0.bytes(in: request) }.flatMap(CORSPolicy.allowedRequestHeaders)
            var response = ResponseHead(status: .noContent, contentLength: 0)
            response.connection = connection
            decorate(&response)
            writeHead(response, output: &output, now: now)
            return .done
        case .methodNotAllowed:
            writeError(.methodNotAllowed, isHead: false, connection: connection, allow: true, output: &output, now: now)
            return .done
        case .notImplemented:
            writeError(.notImplemented, isHead: false, connection: connection, output: &output, now: now)
            return .done
        }
        let path = UnsafeRawBufferPointer(rebasing: request[Int(head.path.start)..<Int(head.path.end)])
        let prepared: PathResolver.PreparedPath
        switch PathResolver.prepare(path, showHidden: site.showHidden, scratch: pathScratch) {
        case .failure(let status):
            writeError(status, isHead: isHead, connection: connection, output: &output, now: now)
            return .done
        case .path(let path):
            prepared = path
        }
        // A listing read off the loop for this very request (it is still at the head of the input): answer with it.
        if let job = listings[context.connectionID] {
            return answerListing(job, request: request, isHead: isHead, connection: connection, state: &state, output: &output, context: context)
        }
        let name = UnsafeRawBufferPointer(rebasing: pathScratch[0..<prepared.length])
        // What the path names on disk.
        var file: OpenFile?
        var lookup = ResponsePlanner.Lookup.file
        var location: [UInt8] = []
        var listed: (fd: Int32, path: [UInt8])?
        defer { if let listed { Glibc.close(listed.fd) } }
        switch openCached(prepared, path, context: context) {
        case .file(let opened):
            file = consume opened
        case .failure(let status):
            lookup = status == .notFound ? .missing : .refused(status)
            // `/dir/` without an index: with listings on, whether `dir` is a directory decides (one more open).
            if lookup == .missing && site.listDirectories,
               let directory = resolver(now: context.monotonicMilliseconds).openDirectory(prepared, scratch: pathScratch) {
                lookup = .directoryWithoutIndex
                listed = directory
            }
        case .redirect(let target):
            lookup = .directoryWithoutSlash
            location = target
        }
        // Preconditions are read only for what is served as a resource: an error page ignores them.
        var fileRequest = FileRequest(
            head: head, bytes: request, isHead: isHead, connection: connection, hasBody: hasBody,
            waited: state.waitedForCompression, preconditions: PreconditionInput(), memoizable: false)
        var acceptsHTML = false
        if lookup == .missing && site.pages.fallback != nil {
            // Whether the fallback answers depends on Accept: so do this path's answers, 200 or 404 (RFC 9110 §12.5.5).
            requestVary.insert(.accept)
            var accept = AcceptMedia()
            parser.forEachValue(of: .accept) { accept.add($0.bytes(in: request)) }
            acceptsHTML = accept.explicitlyAcceptsHTML
        }
        switch ResponsePlanner.target(
            lookup, method: head.method, acceptsHTML: acceptsHTML,
            missing: ResponsePlanner.MissingPolicy(hasFallback: site.pages.fallback != nil, listDirectories: site.listDirectories)) {
        case .listing:
            guard let directory = listed else { return .done }
            listed = nil  // the job owns the descriptor now
            let query = prepared.rawPathEnd < path.count
                ? DirectoryListing.Query(UnsafeRawBufferPointer(rebasing: path[(prepared.rawPathEnd + 1)...]))
                : DirectoryListing.Query()
            return startListing(directory, query: query, request: request, context: context)
        case .file:
            guard let file = file.take() else { return .done }
            fileRequest.preconditions = preconditionInput(request)
            // The path's own file: its answer depends on the request and the file alone (not a fallback's on the
            // path's absence), so it may be replayed (`AnswerMemo`).
            fileRequest.memoizable = memoizable
            return serveFile(file, name: name, request: fileRequest, state: &state, output: &output, context: context)
        case .fallback:
            guard let fallback = site.pages.fallback, let file = openSitePath(fallback, context: context) else {
                return serveError(.notFound, request: &fileRequest, state: &state, output: &output, context: context)
            }
            fileRequest.preconditions = preconditionInput(request)
            let fallbackName = UnsafeRawBufferPointer(rebasing: pathScratch[0..<fallback.count])
            return serveFile(file, name: fallbackName, request: fileRequest, state: &state, output: &output, context: context)
        case .redirectToDirectory:
            // The 301 carries the Cache-Control of what it leads to (`dir/` serves `dir/index.html`): without one a
            // cache would give it a heuristic freshness lifetime (RFC 9111 §4.2.2).
            let cacheControl = indexCacheControl(directory: prepared.length)
            location.withUnsafeBytes { location in
                writeError(.movedPermanently, isHead: isHead, connection: connection, location: location, output: &output, now: now) {
                    $0.cacheControl = cacheControl
                }
            }
            return .done
        case .error(let status):
            return serveError(status, request: &fileRequest, state: &state, output: &output, context: context)
        }
    }

    /// Queues the answer `answers` keeps for the request head `head` (the request's first bytes, through its empty
    /// line), and leaves what its record needs as `writeHead` and `serveFile` would; false when there is none (then
    /// the request is planned). Only for a request `isMemoizable` allows.
    func replayAnswer(
        _ head: UnsafeRawBufferPointer, connection: ResponseHead.ConnectionField, hasBody: Bool,
        output: inout OutputWriter, context: ProcessContext
    ) -> Bool {
        guard let replayed = answers.replay(
            head, connection: connection, hasBody: hasBody, second: context.wallClockSeconds, files: files,
            now: context.monotonicMilliseconds, output: &output) else { return false }
        lastHead = (replayed.status, replayed.headBytes, replayed.coding)
        responseCache = replayed.cache
        responseSavedBytes = 0
        return true
    }

    /// Whether the request being answered may be answered from, and into, `answers`: only when the planner would
    /// decide from the request and the file alone, not from this request's history (a wait for compression, its
    /// attempts) or a listing read for it.
    func isMemoizable(state: HTTPConnectionState, context: ProcessContext) -> Bool {
        !state.waitedForCompression && state.compressionAttempts == 0 && !context.waitExpired
            && (listings.isEmpty || listings[context.connectionID] == nil)
    }

    /// An error answered with the site's page for it (`--error-page`, or a `404.html` at the root), sent like a
    /// file (its own Content-Type, gzip when accepted) but with the error status, `Cache-Control: no-store` and no
    /// validators; the built-in page when the site has none.
    private func serveError(
        _ status: HTTPStatus, request: inout FileRequest, state: inout HTTPConnectionState,
        output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        let code = Int(status.code)
        if let page = site.pages.page(for: status),
           (missingPages[code] ?? 0) <= context.monotonicMilliseconds {
            if let file = openSitePath(page.path, context: context) {
                request.status = status
                let pageName = UnsafeRawBufferPointer(rebasing: pathScratch[0..<page.path.count])
                return serveFile(file, name: pageName, request: request, state: &state, output: &output, context: context)
            }
            // Not there (the default 404.html of a site without one, or a page deleted since startup): look again
            // only after the open-file cache's age, so a 404 costs no failed open per request.
            missingPages[code] = context.monotonicMilliseconds + OpenFileCache.maximumAgeMilliseconds
        }
        writeError(status, isHead: request.isHead, connection: request.connection, output: &output, now: now)
        return .done
    }

    /// A configured file of the site (the fallback, an error page; sanitised, relative) through the open-file cache,
    /// or nil when it is not a regular file now. Leaves its path at the start of `pathScratch`, as `serveFile` wants.
    private func openSitePath(_ path: [UInt8], context: ProcessContext) -> OpenFile? {
        guard path.count + PathResolver.scratchReserveBytes <= pathScratch.count else { return nil }
        UnsafeMutableRawBufferPointer(rebasing: pathScratch[0..<path.count]).copyBytes(from: path)
        pathScratch[path.count] = 0
        let prepared = PathResolver.PreparedPath(length: path.count, hasTrailingSlash: false, rawPathEnd: path.count)
        let found = path.withUnsafeBytes { target in openCached(prepared, target, context: context) }
        guard case .file(let file) = found else { return nil }
        return file
    }

    /// What `openCached` found.
    enum Found {
        case file(OpenFile)
        case redirect([UInt8])
        case failure(HTTPStatus)
    }

    /// The prepared path (in `pathScratch`) through the loop's open-file cache, else opened beneath the root (one
    /// openat2) and put into the cache. `target` is the request target, for a directory's redirect.
    private func openCached(_ prepared: PathResolver.PreparedPath, _ target: UnsafeRawBufferPointer, context: ProcessContext) -> Found {
        let name = UnsafeRawBufferPointer(rebasing: pathScratch[0..<prepared.length])
        if let cached = files.lookup(name, now: context.monotonicMilliseconds) { return .file(cached) }
        if files.isKnownMissing(name, now: context.monotonicMilliseconds) { return .failure(.notFound) }
        switch resolver(now: context.monotonicMilliseconds).open(prepared, target, scratch: pathScratch) {
        case .failure(let status):
            if status == .notFound { files.recordMissing(name, now: context.monotonicMilliseconds) }
            return .failure(status)
        case .redirect(let location):
            return .redirect(location)
        case .file(let fd, let identity, _):
            return .file(files.insert(
                name, OpenFile(fd: fd, owned: true, identity: identity), now: context.monotonicMilliseconds,
                clock: context.fileClock, bodyLimit: Self.inlineBodyLimit))
        }
    }

    /// The Cache-Control for `<directory>/index.html`, the directory's path being `pathScratch[0..<length]`. Writes
    /// the index name after it in the scratch (the resolver leaves room for exactly that).
    private func indexCacheControl(directory length: Int) -> UnsafeRawBufferPointer? {
        let suffix: StaticString = "/index.html"
        guard length + suffix.utf8CodeUnitCount <= pathScratch.count else { return nil }
        suffix.withUTF8Buffer { bytes in
            UnsafeMutableRawBufferPointer(rebasing: pathScratch[length..<(length + bytes.count)]).copyMemory(from: UnsafeRawBufferPointer(bytes))
        }
        return site.cacheControl.value(forPath: UnsafeRawBufferPointer(rebasing: pathScratch[0..<(length + suffix.utf8CodeUnitCount)]))
    }

    /// What the site adds to every response of a request: nosniff, and the CORS fields (with `Vary: Origin` when
    /// they depend on it).
    func decorate(_ response: inout ResponseHead) {
        response.nosniff = site.nosniff
        response.vary.formUnion(requestVary)
        response.cors = requestCORS
    }

    /// The request's preconditions as the planner takes them (the parser's field views into `request`).
    func preconditionInput(_ request: UnsafeRawBufferPointer) -> PreconditionInput {
        var input = PreconditionInput()
        parser.forEachValue(of: .ifMatch) { input.ifMatch.append($0.bytes(in: request)) }
        parser.forEachValue(of: .ifNoneMatch) { input.ifNoneMatch.append($0.bytes(in: request)) }
        input.ifModifiedSince = singleValue(.ifModifiedSince, request)
        input.ifUnmodifiedSince = singleValue(.ifUnmodifiedSince, request)
        return input
    }

    /// A date field's value, or nil when absent or sent more than once (RFC 9110 §13.1.3: "A recipient MUST ignore
    /// the If-Modified-Since header field if the received field value is not a valid HTTP-date, the field value has
    /// more than one member").
    private func singleValue(_ name: KnownHeader, _ request: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var value: UnsafeRawBufferPointer?
        var count = 0
        parser.forEachValue(of: name) { field in
            count += 1
            value = field.bytes(in: request)
        }
        return count == 1 ? value : nil
    }

    /// The health check's answer: `200 ok`, or `503 draining` once shutdown has begun.
    private func writeHealth(
        _ health: HealthCheck, isHead: Bool, connection: ResponseHead.ConnectionField, output: inout OutputWriter,
        context: ProcessContext
    ) {
        let draining = context.draining || health.draining.load(ordering: .relaxed)
        var response = HealthCheck.head(draining: draining, nosniff: site.nosniff)
        response.connection = connection
        writeHead(response, output: &output, now: context.wallClockSeconds)
        if !isHead { output.append(HealthCheck.body(draining: draining)) }
    }

    /// An error response with its small HTML page; `fields` adds what a particular status carries besides.
    func writeError(
        _ status: HTTPStatus, isHead: Bool, connection: ResponseHead.ConnectionField, allow: Bool = false,
        location: UnsafeRawBufferPointer? = nil, vary: Bool = false, output: inout OutputWriter, now: Int,
        fields: (inout ResponseHead) -> Void = { _ in }
    ) {
        var response = ResponseHead(status: status, contentLength: ErrorPage.length(status))
        response.contentType = UnsafeRawBufferPointer(start: ErrorPage.contentType.utf8Start, count: ErrorPage.contentType.utf8CodeUnitCount)
        response.allow = allow
        response.location = location
        response.connection = connection
        response.vary = vary ? [.acceptEncoding] : []
        decorate(&response)
        fields(&response)
        writeHead(response, output: &output, now: now)
        if !isHead { output.appendErrorPage(status) }
    }

    /// Queues the head of `response`. Returns its bytes as `heads` keeps them (valid until the next `writeHead`), or
    /// nil for a head that is not memoised.
    @discardableResult
    func writeHead(_ response: borrowing ResponseHead, output: inout OutputWriter, now: Int) -> UnsafeRawBufferPointer? {
        let key = ResponseHeadMemo.Key(response, second: now)
        lastHead = (Int(response.status.code), 0, response.contentEncoding)
        if let key, let rendered = heads.bytes(for: key) {
            output.append(rendered)
            lastHead.bytes = rendered.count
            return rendered
        }
        let dateBytes = date.bytes(at: now)
        let lastModifiedText = response.lastModified.map { lastModifiedDates.bytes($0) }
        var kept: UnsafeRawBufferPointer?
        output.appendBytes(count: min(response.sizeBound, output.freeBytes)) { area in
            var w = ByteWriter(area)
            response.render(into: &w, date: dateBytes, lastModifiedText: lastModifiedText)
            if let key { kept = heads.store(key, UnsafeRawBufferPointer(rebasing: area[0..<w.count])) }
            lastHead.bytes = w.count
            return w.count
        }
        return kept
    }
}

/// The facts of one GET/HEAD for a file that the representation logic needs.
struct FileRequest {
    var head: RequestHead
    var bytes: UnsafeRawBufferPointer
    var isHead: Bool
    var connection: ResponseHead.ConnectionField
    var hasBody: Bool
    var waited: Bool
    /// If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, read once.
    var preconditions: PreconditionInput
    /// The answer may be kept for the same request again (`AnswerMemo`; `HTTPHandler.isMemoizable`).
    var memoizable: Bool
    /// 200 for the resource (or the SPA fallback); an error status when the file is the site's page for that error.
    var status: HTTPStatus = .ok

    /// The file is an error page: sent whole, with the error status, no validators, `Cache-Control: no-store`.
    var isErrorPage: Bool { status != .ok }
}

extension ProcessContext {
    /// The wake-up's coarse real-time reading as a file timestamp: what `FileIdentity.isSettled(before:)` compares
    /// with (read before any file of this wake-up was looked at).
    var fileClock: FileTime { FileTime(seconds: Int64(wallClockSeconds), nanoseconds: wallClockNanoseconds) }
}
