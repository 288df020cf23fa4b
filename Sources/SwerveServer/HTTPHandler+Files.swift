import CSwerveSys
import Glibc
import SwerveCompression
import SwerveEngine
import SwerveFiles
import SwerveHTTP

/// Serving a file: choose the representation (content negotiation: identity, a precompressed sidecar, a cached
/// compressed body, or a compressed stream), evaluate the request's preconditions against that representation's validators
/// (RFC 9110 §13.2.2), then its Range (§14), and only then do the I/O the plan calls for.
extension HTTPHandler {
    enum StreamStep { case suspend, outputFull, failed, finished }

    /// Where a representation's bytes come from.
    enum BodySource {
        /// A file (the resource itself, or a sidecar).
        case file(OpenFile)
        /// Swerve's cached compressed body (sent with `sendfile` from its sealed memfd when it has one, else from memory).
        case memory(CompressedBody)
        /// Swerve's compressed stream of the file, length unknown (no ranges).
        case stream(OpenFile)
    }

    /// The chosen representation and its metadata.
    struct Representation {
        var source: BodySource
        var coding: ContentCoding
        /// nil for a file changed within the current clock tick (see `Validators`).
        var etag: ETag?
        var serverTiming: ServerTiming?
    }

    /// The validators of one response, from the file's identity.
    ///
    /// Only a settled identity has any (`FileIdentity.isSettled(before:)`): within the clock tick of a change two
    /// versions of a file can share every field, so a tag or date sent for one could later validate the other.
    /// Such a response (a few milliseconds after a deploy touched the file) carries neither ETag nor Last-Modified,
    /// and the next one, a tick later, carries both.
    struct Validators {
        var etag: ETag?
        var lastModified: Int?
    }

    func serveFile(
        _ file: OpenFile, name: UnsafeRawBufferPointer, request: FileRequest, state: inout HTTPConnectionState,
        output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        let identity = file.identity
        let settled = identity.isSettled(before: context.fileClock)
        // The identity validator first: content ETags may need a hashing job.
        var validators = Validators()
        // An error page's validators would describe the page file, not the resource that was not found: none.
        if settled && !request.isErrorPage {
            validators.lastModified = lastModified(identity, now: now)
            if site.contentETags || identity.modified.seconds <= 1 {
                if let digest = site.contentHashes.known(identity) {
                    validators.etag = ETag(contentHigh: digest.high, low: digest.low)
                } else if context.waitExpired {
                    // Waited as long as a request may: the metadata tag is a correct validator for this server.
                    validators.etag = ETag(metadataOf: identity)
                } else {
                    switch site.contentHashes.digest(for: identity, fd: file.fd, resumer: context.resumer) {
                    case .known(let digest):
                        validators.etag = ETag(contentHigh: digest.high, low: digest.low)
                    case .pending:
                        file.close()
                        return .suspend
                    case .unavailable:
                        validators.etag = ETag(metadataOf: identity)
                    }
                }
            } else {
                validators.etag = ETag(metadataOf: identity)
            }
        }
        let identityTag = validators.etag

        let traits = pathTraits(file, name: name)
        var accept = AcceptEncoding()
        parser.forEachValue(of: .acceptEncoding) { value in accept.add(value.bytes(in: request.bytes)) }
        var facts = ResponsePlanner.RepresentationFacts(
            compressible: site.compression != nil && identity.size >= site.gzipMinSize && traits.compressibleType)
        let varies = facts.compressible
        if let compression = site.compression, facts.compressible {
            let cache = compression.cache
            // Cached bodies are made only from settled files: an unsettled one may still be changing under the same
            // identity, so it is streamed (or sent as it is) until its ctime is in the past.
            facts.cached = cache.isEnabled && identity.size <= cache.maxEntryBytes && settled
            // A stream has no Content-Length, so it needs chunked framing: HTTP/1.1 only (RFC 9112 §7: never
            // chunked to 1.0). Requests with a body are answered without streaming so the body is discarded in
            // order. Not after an expired wait: the workers are behind, and the pieces would queue behind them.
            facts.stream = request.head.versionMinor >= 1 && !request.hasBody && !context.waitExpired
            let sidecars: SidecarIndex.Entry
            if let known = file.sidecars {
                sidecars = known
            } else {
                sidecars = sidecarAvailability(name: name, identity: identity, context: context)
                file.cached?.sidecars = sidecars
            }
            if sidecars.gzip { facts.sidecars.insert(.gzip) }
            if sidecars.brotli { facts.sidecars.insert(.br) }
            if sidecars.zstd { facts.sidecars.insert(.zstd) }
        }

        // Ask the planner; when executing its choice finds a fact false, correct it and ask again (at most once
        // per fact, so this ends).
        var representation: Representation
        choosing: while true {
            let choice = ResponsePlanner.representation(accept, facts, preference: site.encodings)
            switch choice {
            case .notAcceptable:
                file.close()
                // The 406 exists because of Accept-Encoding, so it varies on it (RFC 9110 §12.5.5), even when this
                // file's 200 never does: a cache must not hand this answer to a client that accepts identity.
                writeError(.notAcceptable, isHead: request.isHead, connection: request.connection, vary: true, output: &output, now: now)
                return .done
            case .identity:
                representation = Representation(source: .file(file), coding: .identity, etag: identityTag)
            case .sidecar(let coding):
                let suffix: StaticString = coding == .br ? ".br" : coding == .zstd ? ".zst" : ".gz"
                guard let sidecar = cachedSidecar(source: identity, name: name, suffix: suffix, context: context) else {
                    // Vanished, or older than its source since the index looked.
                    facts.sidecars.remove(CodingSet(coding))
                    continue choosing
                }
                file.close()
                representation = Representation(source: .file(sidecar), coding: coding, etag: sidecarTag(sidecar, context), serverTiming: .precompressed)
            case .cached(let coding):
                // Settled, so it has a tag (`facts.cached` requires that), unless it is an error page.
                guard let compression = site.compression, identityTag != nil || request.isErrorPage else {
                    facts.cached = false
                    continue choosing
                }
                let cached = compression.cachedBody(identity, coding: coding)
                // The tag names the pass of the body that would be sent: the cached one, or the first for a miss.
                let codedTag = identityTag?.coded(coding, recompressed: cached?.recompressed ?? false)
                // Decide 304/412 before compressing anything: the tag is known without the body. (RFC 9110 §13.2.1:
                // an error page ignores preconditions.)
                if !request.isErrorPage, let early = earlyConditions(request, codedTag: codedTag, lastModified: validators.lastModified, now: now) {
                    file.close()
                    writeConditional(early.outcome, validators: Validators(etag: early.etag, lastModified: validators.lastModified),
                                     traits: traits, vary: true, request: request, output: &output, now: now)
                    return .done
                }
                if let body = cached {
                    file.close()
                    representation = Representation(source: .memory(body), coding: coding, etag: codedTag,
                                                    serverTiming: request.waited ? .miss(nanoseconds: body.compressNanoseconds) : .hit)
                } else if context.waitExpired || state.compressionAttempts >= Self.maximumCompressionAttempts {
                    // Waited as long as a request may (then `stream` is off too: the bytes as they are), or the
                    // file kept changing while it was read: no body from the cache for this request.
                    facts.cached = false
                    continue choosing
                } else {
                    switch compression.compress(identity, coding: coding, fd: file.fd, resumer: context.resumer) {
                    case .pending:
                        state.compressionAttempts += 1
                        file.close()
                        return .suspend
                    case .futile:
                        // Its body would not fit the cache (it grew): not worth a stream either.
                        facts.cached = false
                        facts.stream = false
                        continue choosing
                    }
                }
            case .stream(let coding):
                // A weak tag: the streamed bytes are not promised to be the cached body's (see `ETag`).
                representation = Representation(source: .stream(file), coding: coding, etag: identityTag?.coded(coding).weakened, serverTiming: .stream)
            }
            break
        }
        responseCache = AccessLogCache(representation.serverTiming)
        if !site.serverTiming { representation.serverTiming = nil }
        validators.etag = representation.etag
        return send(
            representation, validators: validators, traits: traits, vary: varies, request: request, identitySize: identity.size,
            output: &output, context: context)
    }

    /// The preconditions of a request for Swerve's cached body tagged `codedTag`, decided before that body is had: nil
    /// when there are none or they let the request proceed.
    ///
    /// An If-None-Match naming the *other* pass of the same coding of this very file version (the first pass's tag
    /// while the recompressed body is cached, or the other way round after an eviction or a restart) is answered
    /// 304 with the client's tag. Those bytes are a correct coding of the current content, so the client's copy is
    /// current, and RFC 9110 §13.1.2 lets the server select that representation for this client; a full 200 of
    /// the other pass's bytes would re-send the same content for nothing. Only for a 304: If-Range and If-Match
    /// still compare against the body that would be sent, so no range of one pass is ever spliced onto the other.
    private func earlyConditions(
        _ request: FileRequest, codedTag: ETag?, lastModified: Int?, now: Int
    ) -> (outcome: PreconditionOutcome, etag: ETag?)? {
        let method = request.head.method
        guard let outcome = ResponsePlanner.conditions(method, request.preconditions, etag: codedTag, lastModified: lastModified, now: now)
        else { return nil }
        if outcome != .proceed { return (outcome, codedTag) }
        guard let codedTag else { return nil }
        let otherPass = codedTag.coded(codedTag.coding, recompressed: !codedTag.recompressed)
        if ResponsePlanner.conditions(method, request.preconditions, etag: otherPass, lastModified: lastModified, now: now) == .notModified {
            return (.notModified, otherPass)
        }
        return nil
    }

    /// A sidecar's own tag, when it is settled (a sidecar is a file like any other).
    private func sidecarTag(_ sidecar: OpenFile, _ context: ProcessContext) -> ETag? {
        sidecar.identity.isSettled(before: context.fileClock) ? ETag(metadataOf: sidecar.identity) : nil
    }

    // MARK: Validators

    /// RFC 9110 §8.8.2.1: "An origin server MUST NOT send a Last-Modified date that is later than the server's time
    /// of message origination (Date)". A file dated 0 or 1 (Nix, reproducible builds) has no meaningful date: none
    /// is sent, and its ETag comes from the content.
    func lastModified(_ identity: FileIdentity, now: Int) -> Int? {
        identity.modified.seconds <= 1 ? nil : Int(min(identity.modified.seconds, Int64(now)))
    }

    // MARK: Sending

    /// What the path alone decides, from the open-file cache's entry when the file came from there (looked up once
    /// per entry: the tables are immutable and the entry is keyed by this path).
    private func pathTraits(_ file: OpenFile, name: UnsafeRawBufferPointer) -> PathTraits {
        if let known = file.cached?.traits { return known }
        let traits = PathTraits(
            contentType: site.mime.contentType(forPath: name), cacheControl: site.cacheControl.value(forPath: name),
            compressibleType: site.mime.isCompressible(forPath: name),
            extraFields: site.headerRules.isEmpty ? nil : site.headerRules.fields(for: site.headerRules.matching(name)))
        file.cached?.traits = traits
        return traits
    }

    /// The headers every 200/206/304 for this file carries, whatever its coding.
    private func fileHead(
        status: HTTPStatus, validators: Validators, traits: PathTraits, vary: Bool, request: FileRequest, length: Int
    ) -> ResponseHead {
        var response = ResponseHead(status: request.isErrorPage ? request.status : status, contentLength: length)
        response.contentType = traits.contentType
        response.lastModified = validators.lastModified
        response.etag = validators.etag
        response.vary = vary ? [.acceptEncoding] : []
        response.connection = request.connection
        if request.isErrorPage {
            // An error is about this request, not a document to keep: caches must not store it (RFC 9111 §5.2.2.5).
            response.cacheControl = Self.noStore
        } else {
            response.cacheControl = traits.cacheControl
            // `--header` rules apply to the 2xx and 304 responses of the path.
            response.extraFields = traits.extraFields
        }
        decorate(&response)
        return response
    }

    static let noStoreText: StaticString = "no-store"
    static var noStore: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: noStoreText.utf8Start, count: noStoreText.utf8CodeUnitCount)
    }

    private func writeConditional(
        _ outcome: PreconditionOutcome, validators: Validators, traits: PathTraits, vary: Bool,
        request: FileRequest, output: inout OutputWriter, now: Int
    ) {
        if outcome == .preconditionFailed {
            writeError(.preconditionFailed, isHead: request.isHead, connection: request.connection, vary: vary, output: &output, now: now)
            return
        }
        // RFC 9110 §15.4.5: "The server generating a 304 response MUST generate any of the following header fields
        // that would have been sent in a 200 (OK) response to the same request: Content-Location, Date, ETag, and
        // Vary; Cache-Control and Expires". Last-Modified helps caches too; no body, so no Content-Length.
        var response = fileHead(status: .notModified, validators: validators, traits: traits, vary: vary, request: request, length: 0)
        response.contentType = nil
        writeHead(response, output: &output, now: now)
    }

    /// `validators` are the representation's (its ETag, and the file's Last-Modified).
    private func send(
        _ representation: Representation, validators: Validators, traits: PathTraits, vary: Bool,
        request: FileRequest, identitySize: Int, output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        let length: Int?
        switch representation.source {
        case .stream: length = nil
        case .file(let file): length = file.identity.size
        case .memory(let body): length = body.count
        }
        // An error page is sent whole: preconditions and Range apply to the resource, which has no representation
        // (RFC 9110 §13.2.1, §14.2).
        let plan = request.isErrorPage ? .full : ResponsePlanner.body(
            request.head.method, request.preconditions, rangeFields(request), etag: validators.etag,
            lastModified: validators.lastModified, length: length, now: now)
        switch plan {
        case .notModified, .preconditionFailed:
            representation.source.close()
            writeConditional(plan == .notModified ? .notModified : .preconditionFailed, validators: validators,
                             traits: traits, vary: vary, request: request, output: &output, now: now)
            return .done
        case .full, .range, .ranges, .unsatisfiable:
            break
        }
        guard let length else {
            // A live compressed stream has no stable byte positions: Range is ignored (200, whole body).
            guard case .stream(let file) = representation.source else { return .done }
            return startStream(file, representation: representation, validators: validators, traits: traits, vary: vary, request: request, output: &output, context: context)
        }
        var response = fileHead(status: .ok, validators: validators, traits: traits, vary: vary, request: request, length: length)
        response.contentEncoding = representation.coding
        response.serverTiming = representation.serverTiming
        // RFC 9110 §14.3: Accept-Ranges tells clients that byte ranges of this representation can be requested.
        response.acceptRanges = !request.isErrorPage

        switch plan {
        case .notModified, .preconditionFailed:
            break  // answered above
        case .full:
            let rendered = writeHead(response, output: &output, now: now)
            // Kept for the same request again: the path's own small file as it is, whole (see `AnswerMemo`).
            if request.memoizable, let rendered, representation.coding == .identity, representation.serverTiming == nil,
               case .file(let file) = representation.source, let entry = file.cached, entry.body != nil || request.isHead {
                answers.store(
                    UnsafeRawBufferPointer(rebasing: request.bytes[0..<request.head.headerLength]),
                    connection: request.connection, hasBody: request.hasBody, second: now, head: rendered, entry: entry,
                    body: request.isHead ? 0..<0 : 0..<length,
                    outcome: AnswerMemo.Outcome(status: lastHead.status, headBytes: lastHead.bytes, coding: .identity, cache: responseCache))
            }
            sendBody(representation.source, first: 0, count: length, isHead: request.isHead, output: &output)
            if representation.coding != .identity && !request.isHead { responseSavedBytes = max(0, identitySize - length) }
        case .unsatisfiable:
            // RFC 9110 §15.5.17: "A server that generates a 416 response to a byte-range request SHOULD generate a
            // Content-Range header field specifying the current length of the selected representation".
            representation.source.close()
            writeError(.rangeNotSatisfiable, isHead: false, connection: request.connection, vary: vary, output: &output, now: now) {
                $0.contentRange = ContentRangeField(unsatisfiedOf: length)
                $0.etag = validators.etag
                $0.lastModified = validators.lastModified
            }
        case .range(let range):
            // RFC 9110 §15.3.7.1: a single part "MUST generate a Content-Range header field ... and a Content-Length".
            response.status = .partialContent
            response.contentLength = range.count
            response.contentRange = ContentRangeField(first: range.first, last: range.last, complete: length)
            writeHead(response, output: &output, now: now)
            sendBody(representation.source, first: range.first, count: range.count, isHead: false, output: &output)
        case .ranges(let ranges):
            sendMultipart(ranges, response: &response, source: representation.source, length: length, output: &output, now: now)
        }
        return .done
    }

    /// The request's Range and If-Range, as the planner takes them.
    private func rangeFields(_ request: FileRequest) -> ResponsePlanner.RangeFields {
        ResponsePlanner.RangeFields(
            range: parser.firstValue(.range)?.bytes(in: request.bytes),
            ifRange: parser.firstValue(.ifRange)?.bytes(in: request.bytes))
    }

    /// RFC 9110 §14.6: several ranges go out as multipart/byteranges, each part with its Content-Type and
    /// Content-Range. The boundary is random per response; the exact length is computed first.
    private func sendMultipart(
        _ ranges: ByteRanges, response: inout ResponseHead, source: BodySource, length: Int,
        output: inout OutputWriter, now: Int
    ) {
        // The boundary comes from the system's CSPRNG (`getrandom`): unpredictable, so no file can forge one.
        var random = SystemRandomNumberGenerator()
        let multipart = MultipartByteranges(using: &random)
        let contentType = response.contentType
        response.status = .partialContent
        response.contentType = nil
        response.contentLength = MultipartByteranges.bodyLength(ranges, contentTypeLength: contentType?.count, totalLength: length)
        multipart.withBoundary { boundary in
            response.multipartBoundary = boundary
            writeHead(response, output: &output, now: now)
        }
        response.multipartBoundary = nil
        // Memory (a cached body, or a small file's bytes) is referenced per part – a cached body with a memfd by a
        // sendfile segment on that fd, which the body keeps open; a file is sent with sendfile from one fd that the
        // last part's segment owns.
        for (index, range) in ranges.enumerated() {
            output.appendBytes(count: MultipartByteranges.partHeaderLength(range, contentTypeLength: contentType?.count, totalLength: length)) { area in
                var w = ByteWriter(area)
                multipart.partHeader(range, contentType: contentType, totalLength: length, into: &w)
                return w.count
            }
            switch source {
            case .memory(let body):
                appendBody(body, first: range.first, count: range.count, output: &output)
            case .file(let file):
                if let bytes = file.body {
                    output.appendExternal(UnsafeRawBufferPointer(rebasing: bytes.bytes[range.first..<(range.first + range.count)]), owner: bytes)
                } else {
                    file.appendSendfile(to: &output, offset: range.first, count: range.count, last: index == ranges.count - 1)
                }
            case .stream:
                break
            }
        }
        if case .file(let file) = source, file.body != nil { file.close() }
        output.appendBytes(count: MultipartByteranges.closingLength) { area in
            var w = ByteWriter(area)
            multipart.closing(into: &w)
            return w.count
        }
    }

    /// Queues `count` bytes from `first`: a cached body from its sealed memfd with sendfile, other memory by
    /// reference (zero-copy; either way the segment keeps the body alive), a small range of an uncached file read
    /// inline (one writev with the header), anything larger with sendfile.
    private func sendBody(_ source: BodySource, first: Int, count: Int, isHead: Bool, output: inout OutputWriter) {
        switch source {
        case .memory(let body):
            if !isHead {
                appendBody(body, first: first, count: count, output: &output)
            }
        case .file(let file):
            if isHead {
                file.close()
            } else if let body = file.body {
                output.appendExternal(UnsafeRawBufferPointer(rebasing: body.bytes[first..<(first + count)]), owner: body)
                file.close()
            } else if count <= Self.inlineBodyLimit && count <= output.freeBytes {
                output.appendBytes(count: count) { area in
                    // A short read means the file shrank since fstat: the client then sees a short body and the
                    // engine's framing breaks off, never wrong bytes under the right length.
                    max(0, pread(file.fd, area.baseAddress!, count, off_t(first)))
                }
                file.close()
            } else {
                file.appendSendfile(to: &output, offset: first, count: count, last: true)
            }
        case .stream:
            break
        }
    }

    /// Queues bytes `[first, first + count)` of a body in memory: with sendfile from its sealed memfd if it has one (the
    /// socket references the memfd's pages instead of copying them; TLS without kernel TLS copies them from the body's
    /// mapping), else by reference to its memory. The segment retains the body, which keeps the fd open and the memory
    /// valid until the bytes are sent.
    @inline(__always)
    private func appendBody(_ body: CompressedBody, first: Int, count: Int, output: inout OutputWriter) {
        if body.fd >= 0 {
            output.appendFile(fd: body.fd, offset: first, length: count, owner: body, mapping: body.bytes.baseAddress)
        } else {
            output.appendExternal(UnsafeRawBufferPointer(rebasing: body.bytes[first..<(first + count)]), owner: body)
        }
    }

    // MARK: Precompressed sidecars

    /// Which sidecars exist for this version of the file, from the index or by looking once. The look goes through
    /// the open-file cache too, so the sidecar that is then served is not opened a second time.
    private func sidecarAvailability(name: UnsafeRawBufferPointer, identity: FileIdentity, context: ProcessContext) -> SidecarIndex.Entry {
        let now = context.monotonicMilliseconds
        if let known = site.sidecars.lookup(identity, now: now) { return known }
        var entry = SidecarIndex.Entry(gzip: false, brotli: false, zstd: false, checkedAt: now)
        if let sidecar = cachedSidecar(source: identity, name: name, suffix: ".gz", context: context) {
            sidecar.close()
            entry.gzip = true
        }
        if let sidecar = cachedSidecar(source: identity, name: name, suffix: ".br", context: context) {
            sidecar.close()
            entry.brotli = true
        }
        if let sidecar = cachedSidecar(source: identity, name: name, suffix: ".zst", context: context) {
            sidecar.close()
            entry.zstd = true
        }
        site.sidecars.record(identity, entry)
        return entry
    }

    /// `name` + `suffix` (opened under the root by the same rules as any request) if it is a regular file at least as
    /// new as its source – an older sidecar is a stale leftover of a previous deploy and is ignored. Goes through the
    /// loop's open-file cache (keyed by the sidecar's own path), so serving one costs an `fstat` rather than an open,
    /// a stat and a close – and a small one is sent from memory.
    private func cachedSidecar(source: FileIdentity, name: UnsafeRawBufferPointer, suffix: StaticString, context: ProcessContext) -> OpenFile? {
        let now = context.monotonicMilliseconds
        let length = name.count
        let suffixLength = suffix.utf8CodeUnitCount
        guard name.baseAddress == UnsafeRawPointer(pathScratch.baseAddress), length + suffixLength + 1 <= pathScratch.count else { return nil }
        func writeSuffix() {
            suffix.withUTF8Buffer { bytes in
                UnsafeMutableRawBufferPointer(rebasing: pathScratch[length..<(length + suffixLength)]).copyMemory(from: UnsafeRawBufferPointer(bytes))
            }
        }
        // The request's own path stays NUL-terminated and unchanged for whoever reads it next.
        defer { pathScratch[length] = 0 }
        writeSuffix()
        let sidecarName = UnsafeRawBufferPointer(rebasing: pathScratch[0..<(length + suffixLength)])
        var file: OpenFile
        if let cached = files.lookup(sidecarName, now: now) {
            file = cached
        } else {
            guard let (fd, identity) = resolver(now: now).openSibling(of: name, suffix: suffix, scratch: pathScratch) else { return nil }
            writeSuffix()
            file = files.insert(
                sidecarName, OpenFile(fd: fd, owned: true, identity: identity), now: now, clock: context.fileClock,
                bodyLimit: Self.inlineBodyLimit)
        }
        if file.identity.modified < source.modified {
            file.close()
            return nil
        }
        return file
    }

    // MARK: Streaming compression

    private func startStream(
        _ file: OpenFile, representation: Representation, validators: Validators, traits: PathTraits,
        vary: Bool, request: FileRequest, output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        var response = fileHead(status: .ok, validators: validators, traits: traits, vary: vary, request: request, length: 0)
        response.contentEncoding = representation.coding
        response.chunked = true
        response.serverTiming = representation.serverTiming
        if request.isHead {
            file.close()
            writeHead(response, output: &output, now: now)
            return .done
        }
        let fd = file.fdForEngine()
        guard fd >= 0, let compression = site.compression,
              let stream = try? CompressionStream(fd: fd, size: file.identity.size, coding: representation.coding, levels: compression.levels)
        else {
            // No descriptor for the stream (EMFILE) or no encoder state for it: the bytes as they are, rather than a
            // compressed response with an empty body. (A stream that failed to initialise did not take the fd over.)
            if fd >= 0 { Glibc.close(fd) }
            let tag = representation.etag?.coded(.identity)
            return send(
                Representation(source: .file(file), coding: .identity, etag: tag),
                validators: Validators(etag: tag, lastModified: validators.lastModified), traits: traits, vary: vary,
                request: request, identitySize: file.identity.size, output: &output, context: context)
        }
        writeHead(response, output: &output, now: now)
        streams[context.connectionID] = stream
        submitPiece(stream, context: context)
        return .streaming
    }

    static let lastChunk: StaticString = "0\r\n\r\n"

    func submitPiece(_ stream: CompressionStream, context: ProcessContext) {
        let resumer = context.resumer
        stream.submitted()
        site.compression?.run {
            stream.produceNext()
            stream.publish()
            resumer.resume()
        }
    }

    /// Called on resume and after output drained, while a stream is active.
    func continueStream(state: inout HTTPConnectionState, output: inout OutputWriter, context: ProcessContext) -> StreamStep {
        guard let stream = streams[context.connectionID] else {
            state.streaming = false
            endStreamRecord(state: &state, output: &output)
            return .failed
        }
        guard stream.isIdle() else {
            // Resumed while the piece job still runs: by an expired wait (the stream cannot go on without its
            // piece, so the connection closes), or by something else (keep waiting for the job's own resume).
            if context.waitExpired {
                streams[context.connectionID] = nil
                state.streaming = false
                endStreamRecord(state: &state, output: &output)
                return .failed
            }
            return .suspend
        }
        if stream.failed {
            streams[context.connectionID] = nil
            state.streaming = false
            endStreamRecord(state: &state, output: &output)
            return .failed
        }
        guard let piece = stream.takePiece() else {
            submitPiece(stream, context: context)
            return .suspend
        }
        let queuedBefore = output.queuedBytes
        if piece.count > 0 {
            // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF. A zero-size chunk would end
            // the body, so pieces where zlib produced nothing yet are skipped.
            output.appendBytes(count: 20) { area in
                var w = ByteWriter(area)
                w.append(hex: UInt64(piece.count))
                w.append("\r\n")
                return w.count
            }
            output.appendExternal(piece.bytes, owner: piece)
            output.appendBytes(count: 2) { area in
                area[0] = 13
                area[1] = 10
                return 2
            }
        }
        let finished = stream.finished
        if finished {
            output.append(UnsafeRawBufferPointer(start: Self.lastChunk.utf8Start, count: Self.lastChunk.utf8CodeUnitCount))
            streams[context.connectionID] = nil
            state.streaming = false
        }
        if state.hasStreamRecord, let observer {
            let record = observer.records[state.streamRecord]
            record.queuedBytes += output.queuedBytes - queuedBefore
            if !finished && output.freeMarks > 0 {
                // The piece's own mark: when it is out, the record knows how much of the body the client got,
                // should the connection end before the stream does.
                record.queuedAtPiece = record.queuedBytes
                output.appendMark(state.streamRecord | ResponseObserver.progressBit)
            }
        }
        if finished {
            endStreamRecord(state: &state, output: &output)
            return .finished
        }
        // One piece in memory at a time: send it, then compress the next (the socket buffer keeps the wire busy).
        return .outputFull
    }
}

extension HTTPHandler {
    /// The stream's response is complete or cut off: its final mark goes after what is queued, so the record is
    /// finished when that is written (or the connection closes first).
    func endStreamRecord(state: inout HTTPConnectionState, output: inout OutputWriter) {
        guard state.hasStreamRecord else { return }
        state.hasStreamRecord = false
        output.appendMark(state.streamRecord)
    }
}

extension HTTPHandler.BodySource {
    /// Closes the fd this source owns (when the plan needs no body after all).
    func close() {
        switch self {
        case .file(let file), .stream(let file): file.close()
        case .memory: break
        }
    }
}

extension OpenFile {
    /// Queues `count` bytes from `offset` for sendfile. An owned fd is handed to the engine (closed after sending,
    /// so only the last of several segments may pass `last`); a cached one is kept open by its retained entry.
    func appendSendfile(to output: inout OutputWriter, offset: Int, count: Int, last: Bool) {
        if let cached {
            output.appendFile(fd: fd, offset: offset, length: count, owner: cached)
        } else {
            output.appendFile(fd: fd, offset: offset, length: count, ownsFD: owned && last)
        }
    }
}
