import Glibc
import SwerveCompression
import SwerveEngine
import SwerveFiles
import SwerveHTTP

/// Directory listings (`--list-dirs`): the request waits while a worker reads and renders the directory, then is
/// answered from the job like a small file in memory: compressed (br, zstd or gzip) when accepted, a strong ETag, 304, HEAD headers only.
extension HTTPHandler {
    /// Starts the job that reads `directory` (open for reading, taken over) and suspends the request.
    func startListing(
        _ directory: (fd: Int32, path: [UInt8]), query: DirectoryListing.Query, request: UnsafeRawBufferPointer,
        context: ProcessContext
    ) -> Answer {
        var display: [UInt8] = [0x2F] + directory.path
        if !directory.path.isEmpty { display.append(0x2F) }
        var media = AcceptMedia()
        parser.forEachValue(of: .accept) { media.add($0.bytes(in: request)) }
        let format: DirectoryListing.Format = query.json || media.prefersJSON ? .json : .html
        var accept = AcceptEncoding()
        parser.forEachValue(of: .acceptEncoding) { accept.add($0.bytes(in: request)) }
        // The coding this client will take, if it takes a compression: made once, beside the plain bytes.
        let offered: CodingSet = site.compression != nil ? site.encodings.codings.union(.identity) : .identity
        let chosen = accept.choose(from: offered, preference: site.encodings)
        let compression = site.compression.flatMap { service in
            chosen.flatMap { $0 == .identity ? nil : (coding: $0, levels: service.levels) }
        }
        let job = ListingJob(
            fd: directory.fd, relativePath: directory.path, root: resolver(now: context.monotonicMilliseconds).root,
            policy: DirectoryReader.Policy(showHidden: site.showHidden, followSymlinks: site.followSymlinks),
            listing: DirectoryListing(path: display, entries: [], query: query), format: format,
            compression: compression)
        listings[context.connectionID] = job
        let resumer = context.resumer
        site.workers.submit {
            job.run()
            resumer.resume()
        }
        return .suspend
    }

    /// The request whose listing `job` is: answered once the job is done (or with 503 if it took longer than a
    /// request may wait).
    func answerListing(
        _ job: ListingJob, request: UnsafeRawBufferPointer, isHead: Bool, connection: ResponseHead.ConnectionField,
        state: inout HTTPConnectionState, output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        guard job.isReady else {
            if context.waitExpired {
                listings[context.connectionID] = nil
                writeError(.serviceUnavailable, isHead: isHead, connection: connection, output: &output, now: now)
                return .done
            }
            return .suspend  // resumed by something else meanwhile: the job's own resume follows
        }
        listings[context.connectionID] = nil
        guard let body = job.body, let digest = job.digest else {
            // The directory went away (or became unreadable) since it was opened.
            writeError(.notFound, isHead: isHead, connection: connection, output: &output, now: now)
            return .done
        }
        var accept = AcceptEncoding()
        parser.forEachValue(of: .acceptEncoding) { accept.add($0.bytes(in: request)) }
        var available: CodingSet = .identity
        if job.compressedBody != nil, let coding = job.coding { available.insert(CodingSet(coding)) }
        guard let coding = accept.choose(from: available, preference: site.encodings) else {
            writeError(.notAcceptable, isHead: isHead, connection: connection, vary: true, output: &output, now: now)
            return .done
        }
        let sent = coding == .identity ? body : job.compressedBody!
        let etag = ETag(contentHigh: digest.high, low: digest.low, coding: coding)
        // The directory's path as the site's rules see it (`docs/`), for Cache-Control and --header.
        let rulePath = Array(job.listing.path.dropFirst())
        let (cacheControl, extraFields) = rulePath.withUnsafeBytes { path in
            (site.cacheControl.value(forPath: path),
             site.headerRules.isEmpty ? nil : site.headerRules.fields(for: site.headerRules.matching(path)))
        }
        var response = ResponseHead(status: .ok, contentLength: sent.count)
        response.contentType = Self.contentType(job.format, site.mime)
        response.contentEncoding = coding
        response.etag = etag
        // HTML or JSON by Accept, the coding by Accept-Encoding.
        response.vary = [.accept, .acceptEncoding]
        response.cacheControl = cacheControl
        response.extraFields = extraFields
        response.connection = connection
        decorate(&response)
        switch ResponsePlanner.conditions(.get, preconditionInput(request), etag: etag, lastModified: nil, now: now) {
        case .notModified?:
            response.status = .notModified
            response.contentType = nil
            writeHead(response, output: &output, now: now)
            return .done
        case .preconditionFailed?:
            writeError(.preconditionFailed, isHead: isHead, connection: connection, output: &output, now: now)
            return .done
        case .proceed?, nil:
            break
        }
        writeHead(response, output: &output, now: now)
        if !isHead { output.appendExternal(sent.bytes, owner: sent) }
        return .done
    }

    /// The MIME table's Content-Type for a listing in `format` (stable bytes for the head memo), looked up by a name
    /// with that format's extension.
    static func contentType(_ format: DirectoryListing.Format, _ mime: MIMETable) -> UnsafeRawBufferPointer {
        let name: StaticString = format == .json ? "index.json" : "index.html"
        return mime.contentType(forPath: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }
}
