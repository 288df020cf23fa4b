/// The decisions of one request, from facts to plans. Pure: no system call, no clock, no allocation, so every case is
/// a unit test (`ResponsePlannerTests`). The server gathers the facts (what the path names on disk, which bodies are
/// cached), asks, and executes the plan it gets back.
///
/// A request for a resource goes through four questions, in the order RFC 9110 implies, each answered here:
/// 1. `route`: what kind of request is this (a resource to look up, OPTIONS, a refused method)?
/// 2. `target`: given what the path names on disk, what is served (the file, a redirect, an error)?
/// 3. `representation`: which bytes of the file (identity, a sidecar, a cached compressed body, a compressed stream)?
/// 4. `body`: given that representation's validators and length: 304 or 412, or the whole body, one range, several,
///    or 416?
/// Facts only the I/O can establish are learnt between the questions; when the I/O then finds a fact false (a sidecar
/// vanished, a compression came out too large), the server asks `representation` again with it corrected.
public enum ResponsePlanner {}

// MARK: - 1. Route

extension ResponsePlanner {
    /// What kind of request it is, before any lookup.
    public enum Route: Sendable, Equatable {
        /// GET or HEAD: look the path up.
        case resource
        /// OPTIONS: 204 with Allow.
        case options
        /// A method this server knows but does not serve (POST, PUT, …): 405 with Allow.
        case methodNotAllowed
        /// A method nobody registered: 501.
        case notImplemented
        /// A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method, from an allowed origin, with
        /// `--cors` on): 204 with the CORS fields.
        case preflight
    }

    /// `recognized`: for an `.other` method, whether its name is a standard one (`HTTPMethod.isRecognized`).
    /// `corsPreflight`: the request is an OPTIONS that a CORS policy allows as a preflight.
    public static func route(_ method: HTTPMethod, recognized: Bool, corsPreflight: Bool = false) -> Route {
        switch method {
        case .get, .head:
            return .resource
        case .options where corsPreflight:
            return .preflight
        case .options:
            // RFC 9110 §9.3.7: "A server generating a successful response to OPTIONS SHOULD send any header that
            // might indicate optional features implemented by the server and applicable to the target resource
            // (e.g., Allow)".
            return .options
        case .other:
            // RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response"; §9.1: an
            // unrecognised method "SHOULD" get 501.
            return recognized ? .methodNotAllowed : .notImplemented
        }
    }
}

// MARK: - 2. Target

extension ResponsePlanner {
    /// What the file system said about the request's path (the files module's resolution, without its descriptor).
    public enum Lookup: Sendable, Equatable {
        /// A regular file (for `/dir/`: the directory's index).
        case file
        /// A directory asked for without its trailing slash.
        case directoryWithoutSlash
        /// Nothing by that name (ENOENT, ENOTDIR), or a directory without an index that was not looked at.
        case missing
        /// `/dir/` names a directory without an index (looked at only when listings are on).
        case directoryWithoutIndex
        /// The name exists but is not served (403: permissions, a refused symlink, a FIFO…), or the lookup failed
        /// (500): the errno → status mapping of `PathResolver.status(forOpenErrno:)`.
        case refused(HTTPStatus)
    }

    /// What is served for the path.
    public enum Target: Sendable, Equatable {
        case file
        /// 301 to the same path with `/` appended (RFC 9110 §15.4.2).
        case redirectToDirectory
        /// The site's SPA fallback file (`--fallback`), 200, as if it had been asked for.
        case fallback
        /// A listing of the directory (`--list-dirs`), HTML or JSON.
        case listing
        /// An error status, with the site's error page for it when it has one.
        case error(HTTPStatus)
    }

    /// What the site offers for names that do not exist.
    public struct MissingPolicy: Sendable, Equatable {
        /// `--fallback FILE` is configured.
        public var hasFallback: Bool
        /// `--list-dirs`: a directory without an index is listed.
        public var listDirectories: Bool

        public init(hasFallback: Bool = false, listDirectories: Bool = false) {
            self.hasFallback = hasFallback
            self.listDirectories = listDirectories
        }
    }

    /// `acceptsHTML`: the request's Accept names `text/html` (`AcceptMedia.explicitlyAcceptsHTML`).
    ///
    /// The SPA fallback answers a GET or HEAD for a name that does not exist, from a client navigating to a page
    /// (it asks for `text/html` by name). Everything else that is missing stays a 404 – an asset a broken deploy
    /// lost (`/app.3f9a.js` fetched by a script, an image), so it is never handed an HTML page – and so does what
    /// exists but is refused (403) or failed (500).
    public static func target(
        _ lookup: Lookup, method: HTTPMethod = .get, acceptsHTML: Bool = false, missing: MissingPolicy = MissingPolicy()
    ) -> Target {
        switch lookup {
        case .file: return .file
        case .directoryWithoutSlash: return .redirectToDirectory
        case .directoryWithoutIndex where missing.listDirectories:
            return .listing
        case .missing, .directoryWithoutIndex:
            if missing.hasFallback && acceptsHTML && (method == .get || method == .head) { return .fallback }
            return .error(.notFound)
        case .refused(let status): return .error(status)
        }
    }
}

// MARK: - 3. Representation

extension ResponsePlanner {
    /// What the server could send of one file, as far as it knows.
    public struct RepresentationFacts: Sendable, Equatable {
        /// Worth compressing at all: compression is on, the media type compresses (`MIMETable.isCompressible`) and
        /// the file is at least `--gzip-min-size`. A compressible resource has several representations, so all of
        /// its responses carry `Vary: Accept-Encoding`.
        public var compressible: Bool
        /// Swerve's own compressed body (in any coding of the preference) can be had from the cache: the cache is
        /// on, the file fits an entry, it is settled (`FileIdentity.isSettled`), and the request may still wait for
        /// a compression or the body is cached.
        public var cached: Bool
        /// A compressed stream can be made: chunked framing (HTTP/1.1) or HTTP/2, no request body to discard behind
        /// it, and the compression workers are not behind.
        public var stream: Bool
        /// The codings of sidecars (`.gz`, `.br`, `.zst`) at least as new as the file.
        public var sidecars: CodingSet

        public init(compressible: Bool, cached: Bool = false, stream: Bool = false, sidecars: CodingSet = []) {
            self.compressible = compressible
            self.cached = cached
            self.stream = stream
            self.sidecars = sidecars
        }
    }

    public enum Representation: Sendable, Equatable {
        case identity
        /// A precompressed file beside the resource (`.br`, `.zst`, `.gz`), in that coding.
        case sidecar(ContentCoding)
        /// Swerve's own body in that coding, from the cache (or compressed for this request and then cached).
        case cached(ContentCoding)
        /// Swerve's stream in that coding, compressed while it is sent (no length, so no ranges).
        case stream(ContentCoding)
        /// 406: the client refused every coding the server has (RFC 9110 §15.5.7).
        case notAcceptable
    }

    /// RFC 9110 §12.5.3 with `AcceptEncoding.choose`'s weights and tie rules (`preference` among equal weights: a
    /// compression it leaves out is never sent, sidecar or not). Within the chosen coding a sidecar (made ahead,
    /// often smaller) beats the cached body, which beats a stream.
    public static func representation(
        _ accept: AcceptEncoding, _ facts: RepresentationFacts, preference: EncodingPreference = .standard
    ) -> Representation {
        guard facts.compressible else {
            // "If a non-empty Accept-Encoding header field is present and none of the available content codings
            // are acceptable, the origin server SHOULD send a response without any content coding unless the
            // identity coding is indicated as unacceptable" – then 406.
            return accept.isPresent && accept.choose(from: .identity) == nil ? .notAcceptable : .identity
        }
        var available: CodingSet = .identity
        available.formUnion(facts.sidecars)
        if facts.cached || facts.stream { available.formUnion(preference.codings) }
        switch accept.choose(from: available, preference: preference) {
        case nil: return .notAcceptable
        case .identity?: return .identity
        case let coding?:
            if facts.sidecars.contains(CodingSet(coding)) { return .sidecar(coding) }
            return facts.cached ? .cached(coding) : .stream(coding)
        }
    }
}

// MARK: - 4. Body

extension ResponsePlanner {
    /// The preconditions of a request (RFC 9110 §13.2.2, in its order) against the selected representation's
    /// validators; nil when the request carries none (the common case, decided without rendering the tag). Without
    /// a current tag (a file changed within the current clock tick) no entity-tag matches, `*` aside.
    ///
    /// RFC 9110 §13.2.1: "A server MUST ignore all received preconditions if its response to the same request without
    /// those conditions ... would have been a status code other than a 2xx (Successful) or 412": ask only for a
    /// representation that would be served.
    public static func conditions(
        _ method: HTTPMethod, _ input: PreconditionInput, etag: ETag?, lastModified: Int?, now: Int
    ) -> PreconditionOutcome? {
        guard !input.isEmpty else { return nil }
        return withRendered(etag) { tag in
            Preconditions.evaluate(method: method, input: input, currentETag: tag, lastModified: lastModified, now: now)
        }
    }

    /// What the response carries.
    public enum Body: Sendable, Equatable {
        case notModified
        case preconditionFailed
        /// 200, the whole representation.
        case full
        /// 206 with one Content-Range.
        case range(ByteRange)
        /// 206 multipart/byteranges.
        case ranges(ByteRanges)
        /// 416 with `Content-Range: bytes */length`.
        case unsatisfiable
    }

    /// The request's Range, if any, and what decides whether it applies.
    public struct RangeFields {
        public var range: UnsafeRawBufferPointer?
        public var ifRange: UnsafeRawBufferPointer?

        public init(range: UnsafeRawBufferPointer? = nil, ifRange: UnsafeRawBufferPointer? = nil) {
            self.range = range
            self.ifRange = ifRange
        }
    }

    /// Preconditions first, then Range: `length` nil for a representation without stable byte positions (a gzip
    /// stream), which is always sent whole.
    public static func body(
        _ method: HTTPMethod, _ input: PreconditionInput, _ ranges: RangeFields, etag: ETag?, lastModified: Int?,
        length: Int?, now: Int
    ) -> Body {
        switch conditions(method, input, etag: etag, lastModified: lastModified, now: now) {
        case .notModified?: return .notModified
        case .preconditionFailed?: return .preconditionFailed
        case .proceed?, nil: break
        }
        // RFC 9110 §14.2: "A server MUST ignore a Range header field received with a request method that is
        // unrecognized or for which range handling is not defined" – defined for GET only.
        guard method == .get, let length, let rangeField = ranges.range else { return .full }
        if let ifRange = ranges.ifRange {
            // RFC 9110 §13.1.5: if the validator does not match, "the server ... MUST ignore the Range header field"
            // and send the whole representation.
            let matches = withRendered(etag) { tag in
                IfRange.evaluate(ifRange, currentETag: tag, lastModified: lastModified, now: now)
            }
            if !matches { return .full }
        }
        switch RangeRequest.parse(rangeField, length: length) {
        case .none: return .full
        case .unsatisfiable: return .unsatisfiable
        case .satisfiable(let parsed): return parsed.count == 1 ? .range(parsed[0]) : .ranges(parsed)
        }
    }

    /// The rendered tag, or no bytes at all when there is none (which no entity-tag in a request can equal).
    static func withRendered<R>(_ etag: ETag?, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let etag else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return etag.withRendered(body)
    }
}
