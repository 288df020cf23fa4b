import CSwerveSys
import Glibc
import SwerveCompression
import SwerveEngine
import SwerveHTTP

/// Serving a file: choose the representation (content negotiation: identity, a precompressed sidecar, a cached
/// gzip body, or a gzip stream), evaluate the request's preconditions against that representation's validators
/// (RFC 9110 §13.2.2), then its Range (§14), and only then do the I/O the plan calls for.
extension HTTPHandler {
    enum StreamStep { case suspend, outputFull, failed, finished }

    /// Where a representation's bytes come from.
    enum BodySource {
        /// A file (the resource itself, or a sidecar).
        case file(OpenFile)
        /// Swerve's cached gzip body (sent with `sendfile` from its sealed memfd when it has one, else from memory).
        case memory(CompressedBody)
        /// Swerve's gzip stream of the file, length unknown (no ranges).
        case stream(OpenFile)
    }

    /// The chosen representation and its metadata.
    struct Representation {
        var source: BodySource
        var coding: ContentCoding
        var etag: ETag
        var serverTiming: ServerTiming?
    }

    func serveFile(
        _ file: OpenFile, name: UnsafeRawBufferPointer, request: FileRequest, output: inout OutputWriter,
        context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        let facts = file.facts
        // The identity validator first: content ETags may need a hashing job.
        let identityTag: ETag
        if site.contentETags || facts.mtimeSeconds <= 1 {
            guard let digest = site.contentHashes.digest(for: facts, fd: file.fd, resumer: context.resumer) else {
                file.close()
                return .suspend
            }
            identityTag = ETag(contentHigh: digest.high, low: digest.low)
        } else {
            identityTag = ETag(facts)
        }

        let traits = pathTraits(file, name: name)
        var accept = AcceptEncoding()
        parser.forEachValue(of: .acceptEncoding) { value in accept.add(value.bytes(in: request.bytes)) }
        let compressible = site.compression != nil && facts.size >= site.gzipMinSize && traits.compressibleType
        let varies = compressible

        var representation: Representation
        if let compression = site.compression, compressible {
            let cache = compression.cache
            let gzipCacheable = cache.isEnabled && facts.size <= cache.maxEntryBytes
            // A stream has no Content-Length, so it needs chunked framing: HTTP/1.1 only (RFC 9112 §7: never
            // chunked to 1.0). Requests with a body are answered without streaming so the body is discarded in order.
            let gzipStreamable = request.head.versionMinor >= 1 && !request.hasBody
            let sidecars: SidecarIndex.Entry
            if let known = file.sidecars {
                sidecars = known
            } else {
                sidecars = sidecarAvailability(name: name, facts: facts, now: now)
                file.cached?.sidecars = sidecars
            }
            var available: CodingSet = .identity
            if sidecars.gzip || gzipCacheable || gzipStreamable { available.insert(.gzip) }
            if sidecars.brotli { available.insert(.br) }
            guard var coding = accept.choose(from: available) else {
                file.close()
                writeError(.notAcceptable, isHead: request.isHead, connection: request.connection, vary: true, output: &output, now: now)
                return .done
            }
            var chosen: Representation?
            if coding == .br, let sidecar = cachedSidecar(source: facts, name: name, suffix: ".br", now: now) {
                chosen = Representation(source: .file(sidecar), coding: .br, etag: ETag(sidecar.facts), serverTiming: .precompressed)
            } else if coding == .br {
                // The sidecar vanished or is older than its source: fall back to what else is acceptable.
                coding = accept.accepts(.gzip) ? .gzip : .identity
            }
            if chosen == nil && coding == .gzip && sidecars.gzip,
               let sidecar = cachedSidecar(source: facts, name: name, suffix: ".gz", now: now) {
                chosen = Representation(source: .file(sidecar), coding: .gzip, etag: ETag(sidecar.facts), serverTiming: .precompressed)
            }
            if chosen == nil && coding == .gzip && !gzipCacheable && gzipStreamable {
                chosen = Representation(source: .stream(file), coding: .gzip,
                                        etag: identityTag.gzipped, serverTiming: .stream)
            }
            if chosen == nil && coding == .gzip && gzipCacheable {
                let key = facts.bodyKey(coding: .gzip)
                let cached = compression.cachedBody(key)
                // The tag names the encoder of the body that would be sent: the cached one, or zlib's for a miss.
                let gzipTag = identityTag.gzipped(zopfli: cached?.encoder == .zopfli)
                // Decide 304/412 before compressing anything: the gzip tag is known without the body.
                if let early = evaluatePreconditions(etag: gzipTag, facts: facts, request: request, now: now),
                   early != .proceed {
                    file.close()
                    writeConditional(early, etag: gzipTag, facts: facts, traits: traits, vary: true, request: request, output: &output, now: now)
                    return .done
                }
                if let body = cached {
                    chosen = Representation(source: .memory(body), coding: .gzip, etag: gzipTag,
                                            serverTiming: request.waited ? .miss(nanoseconds: body.compressNanoseconds) : .hit)
                } else {
                    switch compression.compress(key, fd: file.fd, resumer: context.resumer) {
                    case .pending:
                        file.close()
                        return .suspend
                    case .futile:
                        break
                    }
                }
            }
            if let chosen {
                if case .stream = chosen.source {} else { file.close() }
                representation = chosen
            } else {
                representation = Representation(source: .file(file), coding: .identity, etag: identityTag)
            }
        } else {
            // RFC 9110 §12.5.3: "If a non-empty Accept-Encoding header field is present and none of the available
            // content codings are acceptable, the origin server SHOULD send a response without any content coding
            // unless the identity coding is indicated as unacceptable" – then 406.
            if accept.isPresent && accept.choose(from: .identity) == nil {
                file.close()
                // The 406 exists because of Accept-Encoding, so it varies on it (RFC 9110 §12.5.5), even though
                // this file's 200 never does: a cache must not hand this answer to a client that accepts identity.
                writeError(.notAcceptable, isHead: request.isHead, connection: request.connection, vary: true, output: &output, now: now)
                return .done
            }
            representation = Representation(source: .file(file), coding: .identity, etag: identityTag)
        }
        if !site.serverTiming { representation.serverTiming = nil }
        return send(representation, facts: facts, traits: traits, vary: varies, request: request, output: &output, context: context)
    }

    // MARK: Preconditions and ranges

    /// RFC 9110 §8.8.2.1: "An origin server MUST NOT send a Last-Modified date that is later than the server's time
    /// of message origination (Date)". A file dated 0 or 1 (Nix, reproducible builds) has no meaningful date: none
    /// is sent, and its ETag comes from the content.
    func lastModified(_ facts: FileFacts, now: Int) -> Int? {
        facts.mtimeSeconds <= 1 ? nil : min(Int(facts.mtimeSeconds), now)
    }

    /// nil when the request carries no precondition (the common case, decided without rendering the tag).
    private func evaluatePreconditions(etag: ETag, facts: FileFacts, request: FileRequest, now: Int) -> PreconditionOutcome? {
        var input = PreconditionInput()
        parser.forEachValue(of: .ifMatch) { input.ifMatch.append($0.bytes(in: request.bytes)) }
        parser.forEachValue(of: .ifNoneMatch) { input.ifNoneMatch.append($0.bytes(in: request.bytes)) }
        input.ifModifiedSince = singleValue(.ifModifiedSince, request)
        input.ifUnmodifiedSince = singleValue(.ifUnmodifiedSince, request)
        guard !input.isEmpty else { return nil }
        let lastModified = lastModified(facts, now: now)
        return etag.withRendered { tag in
            Preconditions.evaluate(method: request.head.method, input: input, currentETag: tag, lastModified: lastModified, now: now)
        }
    }

    /// A date field's value, or nil when absent or sent more than once (RFC 9110 §13.1.3: "A recipient MUST ignore
    /// the If-Modified-Since header field if the received field value is not a valid HTTP-date, the field value has
    /// more than one member").
    private func singleValue(_ name: KnownHeader, _ request: FileRequest) -> UnsafeRawBufferPointer? {
        var value: UnsafeRawBufferPointer?
        var count = 0
        parser.forEachValue(of: name) { field in
            count += 1
            value = field.bytes(in: request.bytes)
        }
        return count == 1 ? value : nil
    }

    enum RangePlan {
        case full
        case ranges(ByteRanges)
        case unsatisfiable
    }

    /// RFC 9110 §14.2: Range applies to GET only; If-Range decides between the ranges and the whole (§13.1.5).
    private func planRange(etag: ETag, facts: FileFacts, length: Int, request: FileRequest, now: Int) -> RangePlan {
        guard request.head.method == .get, let rangeField = parser.firstValue(.range) else { return .full }
        let lastModified = lastModified(facts, now: now)
        if let ifRange = parser.firstValue(.ifRange) {
            let matches = etag.withRendered { tag in
                IfRange.evaluate(ifRange.bytes(in: request.bytes), currentETag: tag, lastModified: lastModified, now: now)
            }
            if !matches { return .full }
        }
        switch RangeRequest.parse(rangeField.bytes(in: request.bytes), length: length) {
        case .none: return .full
        case .unsatisfiable: return .unsatisfiable
        case .satisfiable(let ranges): return .ranges(ranges)
        }
    }

    // MARK: Sending

    /// What the path alone decides, from the open-file cache's entry when the file came from there (looked up once
    /// per entry: the tables are immutable and the entry is keyed by this path).
    private func pathTraits(_ file: OpenFile, name: UnsafeRawBufferPointer) -> PathTraits {
        if let known = file.cached?.traits { return known }
        let traits = PathTraits(
            contentType: site.mime.contentType(forPath: name), cacheControl: site.cacheControl.value(forPath: name),
            compressibleType: site.mime.isCompressible(forPath: name))
        file.cached?.traits = traits
        return traits
    }

    /// The headers every 200/206/304 for this file carries, whatever its coding.
    private func fileHead(
        status: HTTPStatus, facts: FileFacts, traits: PathTraits, etag: ETag, vary: Bool,
        request: FileRequest, length: Int, now: Int
    ) -> ResponseHead {
        var response = ResponseHead(status: status, contentLength: length)
        response.contentType = traits.contentType
        response.lastModified = lastModified(facts, now: now)
        response.etag = etag
        response.varyAcceptEncoding = vary
        response.cacheControl = traits.cacheControl
        response.connection = request.connection
        return response
    }

    private func writeConditional(
        _ outcome: PreconditionOutcome, etag: ETag, facts: FileFacts, traits: PathTraits, vary: Bool,
        request: FileRequest, output: inout OutputWriter, now: Int
    ) {
        if outcome == .preconditionFailed {
            writeError(.preconditionFailed, isHead: request.isHead, connection: request.connection, vary: vary, output: &output, now: now)
            return
        }
        // RFC 9110 §15.4.5: "The server generating a 304 response MUST generate any of the following header fields
        // that would have been sent in a 200 (OK) response to the same request: Content-Location, Date, ETag, and
        // Vary; Cache-Control and Expires". Last-Modified helps caches too; no body, so no Content-Length.
        var response = fileHead(status: .notModified, facts: facts, traits: traits, etag: etag, vary: vary, request: request, length: 0, now: now)
        response.contentType = nil
        writeHead(response, output: &output, now: now)
    }

    private func send(
        _ representation: Representation, facts: FileFacts, traits: PathTraits, vary: Bool,
        request: FileRequest, output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        if let outcome = evaluatePreconditions(etag: representation.etag, facts: facts, request: request, now: now),
           outcome != .proceed {
            representation.source.close()
            writeConditional(outcome, etag: representation.etag, facts: facts, traits: traits, vary: vary, request: request, output: &output, now: now)
            return .done
        }
        let length: Int
        switch representation.source {
        case .stream(let file):
            // A live gzip stream has no stable byte positions: Range is ignored (200, whole body).
            return startStream(file, representation: representation, facts: facts, traits: traits, vary: vary, request: request, output: &output, context: context)
        case .file(let file): length = file.facts.size
        case .memory(let body): length = body.count
        }
        var response = fileHead(status: .ok, facts: facts, traits: traits, etag: representation.etag, vary: vary, request: request, length: length, now: now)
        response.contentEncoding = representation.coding
        response.serverTiming = representation.serverTiming
        // RFC 9110 §14.3: Accept-Ranges tells clients that byte ranges of this representation can be requested.
        response.acceptRanges = true

        switch planRange(etag: representation.etag, facts: facts, length: length, request: request, now: now) {
        case .full:
            writeHead(response, output: &output, now: now)
            sendBody(representation.source, first: 0, count: length, isHead: request.isHead, output: &output)
        case .unsatisfiable:
            // RFC 9110 §15.5.17: "A server that generates a 416 response to a byte-range request SHOULD generate a
            // Content-Range header field specifying the current length of the selected representation".
            representation.source.close()
            let lastModified = response.lastModified
            writeError(.rangeNotSatisfiable, isHead: false, connection: request.connection, vary: vary, output: &output, now: now) {
                $0.contentRange = ContentRangeField(unsatisfiedOf: length)
                $0.etag = representation.etag
                $0.lastModified = lastModified
            }
        case .ranges(let ranges) where ranges.count == 1:
            // RFC 9110 §15.3.7.1: a single part "MUST generate a Content-Range header field ... and a Content-Length".
            let range = ranges[0]
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

    /// RFC 9110 §14.6: several ranges go out as multipart/byteranges, each part with its Content-Type and
    /// Content-Range. The boundary is random per response; the exact length is computed first.
    private func sendMultipart(
        _ ranges: ByteRanges, response: inout ResponseHead, source: BodySource, length: Int,
        output: inout OutputWriter, now: Int
    ) {
        let multipart = MultipartByteranges()
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
        var memory: CompressedBody?
        var sendfileSource: OpenFile?
        switch source {
        case .memory(let body): memory = body
        case .file(let file):
            if let body = file.body {
                memory = body
                file.close()
            } else {
                sendfileSource = file
            }
        case .stream: break
        }
        for (index, range) in ranges.enumerated() {
            output.appendBytes(count: MultipartByteranges.partHeaderLength(range, contentTypeLength: contentType?.count, totalLength: length)) { area in
                var w = ByteWriter(area)
                multipart.partHeader(range, contentType: contentType, totalLength: length, into: &w)
                return w.count
            }
            if let memory {
                appendBody(memory, first: range.first, count: range.count, output: &output)
            } else if let file = sendfileSource {
                file.appendSendfile(to: &output, offset: range.first, count: range.count, last: index == ranges.count - 1)
            }
        }
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
    /// socket references the memfd's pages instead of copying them), else by reference to its memory. The segment
    /// retains the body, which keeps the fd open and the memory valid until the bytes are sent.
    @inline(__always)
    private func appendBody(_ body: CompressedBody, first: Int, count: Int, output: inout OutputWriter) {
        if body.fd >= 0 {
            output.appendFile(fd: body.fd, offset: first, length: count, owner: body)
        } else {
            output.appendExternal(UnsafeRawBufferPointer(rebasing: body.bytes[first..<(first + count)]), owner: body)
        }
    }

    // MARK: Precompressed sidecars

    /// Which sidecars exist for this version of the file, from the index or by looking once. The look goes through
    /// the open-file cache too, so the sidecar that is then served is not opened a second time.
    private func sidecarAvailability(name: UnsafeRawBufferPointer, facts: FileFacts, now: Int) -> SidecarIndex.Entry {
        let version = facts.version
        if let known = site.sidecars.lookup(version, now: now) { return known }
        var entry = SidecarIndex.Entry(gzip: false, brotli: false, checkedAt: now)
        if let sidecar = cachedSidecar(source: facts, name: name, suffix: ".gz", now: now) {
            sidecar.close()
            entry.gzip = true
        }
        if let sidecar = cachedSidecar(source: facts, name: name, suffix: ".br", now: now) {
            sidecar.close()
            entry.brotli = true
        }
        site.sidecars.record(version, entry)
        return entry
    }

    /// `name` + `suffix` (opened under the root by the same rules as any request) if it is a regular file at least as
    /// new as its source – an older sidecar is a stale leftover of a previous deploy and is ignored. Goes through the
    /// loop's open-file cache (keyed by the sidecar's own path), so serving one costs an `fstat` rather than an open,
    /// a stat and a close – and a small one is sent from memory.
    private func cachedSidecar(source: FileFacts, name: UnsafeRawBufferPointer, suffix: StaticString, now: Int) -> OpenFile? {
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
            guard let (fd, facts) = site.resolver.openSibling(of: name, suffix: suffix, scratch: pathScratch) else { return nil }
            writeSuffix()
            file = files.insert(sidecarName, OpenFile(fd: fd, owned: true, facts: facts), now: now, bodyLimit: Self.inlineBodyLimit)
        }
        let older = file.facts.mtimeSeconds < source.mtimeSeconds
            || (file.facts.mtimeSeconds == source.mtimeSeconds && file.facts.mtimeNanoseconds < source.mtimeNanoseconds)
        if older {
            file.close()
            return nil
        }
        return file
    }

    // MARK: Streaming gzip

    private func startStream(
        _ file: OpenFile, representation: Representation, facts: FileFacts, traits: PathTraits,
        vary: Bool, request: FileRequest, output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        var response = fileHead(status: .ok, facts: facts, traits: traits, etag: representation.etag, vary: vary, request: request, length: 0, now: now)
        response.contentEncoding = .gzip
        response.chunked = true
        response.serverTiming = representation.serverTiming
        let fd = request.isHead ? -1 : file.fdForEngine()
        guard fd >= 0, let compression = site.compression,
              let stream = try? GzipStream(fd: fd, size: facts.size, level: compression.level)
        else {
            if request.isHead { file.close() } else if fd >= 0 { Glibc.close(fd) }
            writeHead(response, output: &output, now: now)
            if !request.isHead {
                // Could not set up zlib: end the (empty) chunked body properly rather than hang the client.
                output.append(UnsafeRawBufferPointer(start: Self.lastChunk.utf8Start, count: Self.lastChunk.utf8CodeUnitCount))
            }
            return .done
        }
        writeHead(response, output: &output, now: now)
        streams[context.connectionID] = stream
        submitPiece(stream, context: context)
        return .streaming
    }

    static let lastChunk: StaticString = "0\r\n\r\n"

    private func submitPiece(_ stream: GzipStream, context: ProcessContext) {
        let resumer = context.resumer
        site.compression?.run {
            stream.produceNext()
            resumer.resume()
        }
    }

    /// Called on resume and after output drained, while a stream is active.
    func continueStream(state: inout HTTPConnectionState, output: inout OutputWriter, context: ProcessContext) -> StreamStep {
        guard let stream = streams[context.connectionID] else {
            state.streaming = false
            return .failed
        }
        if stream.failed {
            streams[context.connectionID] = nil
            state.streaming = false
            return .failed
        }
        guard let piece = stream.takePiece() else {
            submitPiece(stream, context: context)
            return .suspend
        }
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
        if stream.finished {
            output.append(UnsafeRawBufferPointer(start: Self.lastChunk.utf8Start, count: Self.lastChunk.utf8CodeUnitCount))
            streams[context.connectionID] = nil
            state.streaming = false
            return .finished
        }
        // One piece in memory at a time: send it, then compress the next (the socket buffer keeps the wire busy).
        return .outputFull
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
