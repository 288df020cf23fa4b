import CSwerveSys
import Glibc
import SwerveCompression
import SwerveEngine
import SwerveHTTP

/// Choosing and sending a file's representation: identity, a precompressed sidecar, a cached gzip body, or a gzip
/// stream. The choice (content negotiation) comes first and is pure; the I/O follows it.
extension HTTPHandler {
    enum StreamStep { case suspend, outputFull, failed, finished }

    func serveFile(
        fd: Int32, facts: FileFacts, name: UnsafeRawBufferPointer, request: FileRequest,
        output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        var accept = AcceptEncoding()
        parser.forEachValue(of: .acceptEncoding) { value in accept.add(value.bytes(in: request.bytes)) }
        let compressible = site.compression != nil && facts.size >= site.gzipMinSize && site.mime.isCompressible(forPath: name)

        guard compressible, let compression = site.compression else {
            // RFC 9110 §12.5.3: "If a non-empty Accept-Encoding header field is present and none of the available
            // content codings are acceptable, the origin server SHOULD send a response without any content coding
            // unless the identity coding is indicated as unacceptable" – then 406.
            if accept.isPresent && accept.choose(from: .identity) == nil {
                Glibc.close(fd)
                writeError(.notAcceptable, isHead: request.isHead, connection: request.connection, output: &output, now: now)
                return .done
            }
            sendIdentity(fd: fd, facts: facts, name: name, request: request, vary: false, output: &output, now: now)
            return .done
        }

        // What this resource can be sent as.
        let cache = compression.cache
        let gzipCacheable = cache.isEnabled && facts.size <= cache.maxEntryBytes
        // A stream has no Content-Length, so it needs chunked framing: HTTP/1.1 only (RFC 9112 §7: never chunked
        // to 1.0). Requests with a body are answered without streaming so the body can be discarded in order.
        let gzipStreamable = request.head.versionMinor >= 1 && !request.hasBody
        let sidecars = sidecarAvailability(name: name, facts: facts, now: now)
        var available: CodingSet = .identity
        if sidecars.gzip || gzipCacheable || gzipStreamable { available.insert(.gzip) }
        if sidecars.brotli { available.insert(.br) }

        guard var coding = accept.choose(from: available) else {
            Glibc.close(fd)
            writeError(.notAcceptable, isHead: request.isHead, connection: request.connection, vary: true, output: &output, now: now)
            return .done
        }
        if coding == .br {
            if sendSidecar(source: facts, name: name, suffix: ".br", coding: .br, request: request, output: &output, now: now) {
                Glibc.close(fd)
                return .done
            }
            // The sidecar vanished or is older than its source: fall back to what else is acceptable.
            coding = accept.accepts(.gzip) ? .gzip : .identity
        }
        if coding == .gzip && sidecars.gzip {
            if sendSidecar(source: facts, name: name, suffix: ".gz", coding: .gzip, request: request, output: &output, now: now) {
                Glibc.close(fd)
                return .done
            }
        }
        if coding == .gzip && gzipCacheable {
            switch compression.lookup(facts.bodyKey(coding: .gzip), fd: fd, resumer: context.resumer) {
            case .hit(let body):
                Glibc.close(fd)
                sendCached(body, facts: facts, name: name, request: request, output: &output, now: now)
                return .done
            case .pending:
                Glibc.close(fd)
                return .suspend
            case .futile:
                coding = .identity
            }
        } else if coding == .gzip && gzipStreamable {
            return startStream(fd: fd, facts: facts, name: name, request: request, output: &output, context: context)
        } else if coding == .gzip {
            coding = .identity
        }
        sendIdentity(fd: fd, facts: facts, name: name, request: request, vary: true, output: &output, now: now)
        return .done
    }

    /// The headers every 200 for a file carries, whatever its coding.
    private func fileHead(facts: FileFacts, name: UnsafeRawBufferPointer, request: FileRequest, length: Int, now: Int) -> ResponseHead {
        var response = ResponseHead(status: .ok, contentLength: length)
        response.contentType = site.mime.contentType(forPath: name)
        // RFC 9110 §8.8.2.1: "An origin server MUST NOT send a Last-Modified date that is later than the server's
        // time of message origination (Date)."
        response.lastModified = min(Int(facts.mtimeSeconds), now)
        response.connection = request.connection
        return response
    }

    private func sendIdentity(
        fd: Int32, facts: FileFacts, name: UnsafeRawBufferPointer, request: FileRequest, vary: Bool,
        output: inout OutputWriter, now: Int
    ) {
        var length = facts.size
        var inline = false
        if !request.isHead && length <= Self.inlineBodyLimit {
            // Small file: read it now and send it with its header in one writev. A short read means the file
            // shrank since fstat; the bytes we have are what we frame and send.
            let n = pread(fd, bodyScratch, length, 0)
            length = max(0, n)
            inline = true
        }
        var response = fileHead(facts: facts, name: name, request: request, length: length, now: now)
        response.etag = ETag(facts)
        response.varyAcceptEncoding = vary
        writeHead(response, output: &output, now: now)
        if request.isHead {
            Glibc.close(fd)
        } else if inline {
            output.append(UnsafeRawBufferPointer(start: bodyScratch, count: length))
            Glibc.close(fd)
        } else {
            output.appendFile(fd: fd, offset: 0, length: length, ownsFD: true)
        }
    }

    private func sendCached(
        _ body: CompressedBody, facts: FileFacts, name: UnsafeRawBufferPointer, request: FileRequest,
        output: inout OutputWriter, now: Int
    ) {
        var response = fileHead(facts: facts, name: name, request: request, length: body.count, now: now)
        response.contentEncoding = .gzip
        response.etag = ETag(facts, gzip: true)
        response.varyAcceptEncoding = true
        if site.serverTiming {
            response.serverTiming = request.waited ? .miss(nanoseconds: body.compressNanoseconds) : .hit
        }
        writeHead(response, output: &output, now: now)
        if !request.isHead {
            // Zero-copy: the segment points into the cached body and keeps it alive until sent.
            output.appendExternal(body.bytes, owner: body)
        }
    }

    // MARK: Precompressed sidecars

    /// Which sidecars exist for this version of the file, from the index or by looking once.
    private func sidecarAvailability(name: UnsafeRawBufferPointer, facts: FileFacts, now: Int) -> SidecarIndex.Entry {
        let version = facts.version
        if let known = site.sidecars.lookup(version, now: now) { return known }
        var entry = SidecarIndex.Entry(gzip: false, brotli: false, checkedAt: now)
        if let (fd, _) = openSidecar(source: facts, name: name, suffix: ".gz") {
            Glibc.close(fd)
            entry.gzip = true
        }
        if let (fd, _) = openSidecar(source: facts, name: name, suffix: ".br") {
            Glibc.close(fd)
            entry.brotli = true
        }
        site.sidecars.record(version, entry)
        return entry
    }

    /// Opens `name` + `suffix` under the root, by the same rules as any request, if it is a regular file at least
    /// as new as its source (an older sidecar is a stale leftover and is ignored).
    private func openSidecar(source: FileFacts, name: UnsafeRawBufferPointer, suffix: StaticString) -> (Int32, FileFacts)? {
        guard let (fd, facts) = site.resolver.openSibling(of: name, suffix: suffix, scratch: pathScratch) else { return nil }
        let older = facts.mtimeSeconds < source.mtimeSeconds
            || (facts.mtimeSeconds == source.mtimeSeconds && facts.mtimeNanoseconds < source.mtimeNanoseconds)
        if older {
            Glibc.close(fd)
            return nil
        }
        return (fd, facts)
    }

    /// Sends a sidecar's bytes with the source's Content-Type and Last-Modified, its own length and ETag.
    private func sendSidecar(
        source: FileFacts, name: UnsafeRawBufferPointer, suffix: StaticString, coding: ContentCoding,
        request: FileRequest, output: inout OutputWriter, now: Int
    ) -> Bool {
        guard let (fd, facts) = openSidecar(source: source, name: name, suffix: suffix) else { return false }
        var response = fileHead(facts: source, name: name, request: request, length: facts.size, now: now)
        response.contentEncoding = coding
        response.etag = ETag(facts)
        response.varyAcceptEncoding = true
        if site.serverTiming { response.serverTiming = .precompressed }
        writeHead(response, output: &output, now: now)
        if request.isHead {
            Glibc.close(fd)
        } else {
            output.appendFile(fd: fd, offset: 0, length: facts.size, ownsFD: true)
        }
        return true
    }

    // MARK: Streaming gzip

    private func startStream(
        fd: Int32, facts: FileFacts, name: UnsafeRawBufferPointer, request: FileRequest,
        output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        var response = fileHead(facts: facts, name: name, request: request, length: 0, now: now)
        response.contentEncoding = .gzip
        response.chunked = true
        response.etag = ETag(facts, gzip: true)
        response.varyAcceptEncoding = true
        if site.serverTiming { response.serverTiming = .stream }
        guard !request.isHead, let compression = site.compression,
              let stream = try? GzipStream(fd: fd, size: facts.size, level: compression.level)
        else {
            if request.isHead { Glibc.close(fd) }
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
