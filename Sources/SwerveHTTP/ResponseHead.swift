/// Everything that goes into a response's status line and header section, decided before any byte is written.
/// Rendering is a pure function of this value (plus the Date bytes), so tests drive it without sockets.
public struct ResponseHead: ~Copyable {
    public enum ConnectionField: UInt8 { case none, close, keepAlive }

    public var status: HTTPStatus
    public var contentType: UnsafeRawBufferPointer?
    public var contentLength: Int
    /// Last-Modified, seconds since the epoch; nil leaves the field out.
    public var lastModified: Int?
    public var etag: ETag?
    public var location: UnsafeRawBufferPointer?
    /// `Allow: GET, HEAD, OPTIONS` (405 and OPTIONS).
    public var allow: Bool = false
    public var connection: ConnectionField = .none
    /// Content-Encoding of the representation (identity: no field).
    public var contentEncoding: ContentCoding = .identity
    /// The request fields the response was chosen by (`Vary`, RFC 9110 §12.5.5), so caches key on them.
    public var vary: VaryFields = []
    /// `Transfer-Encoding: chunked` instead of Content-Length (a streamed body of unknown length).
    public var chunked = false
    /// `Accept-Ranges: bytes`.
    public var acceptRanges = false
    public var cacheControl: UnsafeRawBufferPointer?
    /// `Content-Range: bytes first-last/complete` (206), or `bytes */complete` when `first` is nil (416).
    public var contentRange: ContentRangeField?
    public var serverTiming: ServerTiming?
    /// A complete Content-Type for multipart/byteranges, rendered by the caller.
    public var multipartBoundary: UnsafeRawBufferPointer?
    /// `X-Content-Type-Options: nosniff`: browsers take the Content-Type as given (the MIME table is authoritative).
    public var nosniff = false
    /// Field lines a site adds (`HeaderRules.fields(for:)`): "Name: value", joined by CRLF, no trailing CRLF.
    public var extraFields: UnsafeRawBufferPointer?
    /// The CORS fields of a response to a cross-origin request (`CORSPolicy`).
    public var cors: CORSFields?

    /// A head's size without Content-Type and Location, generously: status line, Server, Date, Content-Length,
    /// Last-Modified, ETag, Allow, Connection. Callers reserve this plus the two variable fields.
    public static let fixedSizeBound = 768

    public init(status: HTTPStatus, contentLength: Int) {
        self.status = status
        self.contentLength = contentLength
    }

    /// Bytes `render` needs at most.
    public var sizeBound: Int {
        var bound = Self.fixedSizeBound + (contentType?.count ?? 0) + (location?.count ?? 0)
        bound += (cacheControl?.count ?? 0) + (multipartBoundary?.count ?? 0)
        if let extraFields { bound += extraFields.count + 2 }
        if let cors { bound += cors.sizeBound }
        return bound
    }

    /// Writes the status line and fields, ending with the blank line. `date` is the 29-byte IMF-fixdate of now.
    public func render(into w: inout ByteWriter, date: UnsafeRawBufferPointer, lastModifiedText: UnsafeRawBufferPointer? = nil) {
        // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]. We speak HTTP/1.1 to 1.0
        // clients too: RFC 9110 §2.5 says a server sends its own highest conformant minor version.
        w.append("HTTP/1.1 ")
        w.append(decimal: status.code)
        w.append(byte: 0x20)
        w.append(status.reason)
        w.append("\r\nServer: swerve\r\nDate: ")
        w.append(date)
        if let contentType {
            w.append("\r\nContent-Type: ")
            w.append(contentType)
        }
        if let multipartBoundary {
            w.append("\r\nContent-Type: multipart/byteranges; boundary=")
            w.append(multipartBoundary)
        }
        switch contentEncoding {
        case .identity: break
        case .gzip: w.append("\r\nContent-Encoding: gzip")
        case .br: w.append("\r\nContent-Encoding: br")
        case .zstd: w.append("\r\nContent-Encoding: zstd")
        }
        if chunked {
            w.append("\r\nTransfer-Encoding: chunked")
        } else if status.code != 204 && status.code != 304 {
            // RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response with a status
            // code of 1xx (Informational) or 204 (No Content)"; a 304 carries none here because it has no body.
            w.append("\r\nContent-Length: ")
            w.append(decimal: contentLength)
        }
        if let contentRange {
            w.append("\r\nContent-Range: bytes ")
            if let first = contentRange.first {
                w.append(decimal: first)
                w.append(byte: 0x2D)
                w.append(decimal: contentRange.last)
            } else {
                w.append(byte: 0x2A)
            }
            w.append(byte: 0x2F)
            w.append(decimal: contentRange.complete)
        }
        if acceptRanges {
            w.append("\r\nAccept-Ranges: bytes")
        }
        if let lastModified {
            w.append("\r\nLast-Modified: ")
            if let lastModifiedText {
                w.append(lastModifiedText)
            } else {
                w.appendInPlace(HTTPDate.length) { HTTPDate.format(lastModified, into: $0) }
            }
        }
        if let etag {
            w.append("\r\nETag: ")
            etag.render(into: &w)
        }
        if let location {
            w.append("\r\nLocation: ")
            w.append(location)
        }
        if let cacheControl {
            w.append("\r\nCache-Control: ")
            w.append(cacheControl)
        }
        vary.render(into: &w)
        if let serverTiming {
            serverTiming.render(into: &w)
        }
        if allow {
            w.append("\r\nAllow: GET, HEAD, OPTIONS")
        }
        if let cors {
            cors.render(into: &w)
        }
        if nosniff {
            w.append("\r\nX-Content-Type-Options: nosniff")
        }
        if let extraFields {
            w.append("\r\n")
            w.append(extraFields)
        }
        switch connection {
        case .none: break
        case .close: w.append("\r\nConnection: close")
        case .keepAlive: w.append("\r\nConnection: keep-alive")
        }
        w.append("\r\n\r\n")
    }
}

/// The request fields a response varies on (RFC 9110 §12.5.5: "The "Vary" header field in a response describes what
/// parts of a request message, aside from the method and target URI, might have influenced the origin server's
/// process for selecting the content of this response").
public struct VaryFields: OptionSet, Sendable, BitwiseCopyable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A listing (HTML or JSON), or a path an SPA fallback may answer.
    public static let accept = VaryFields(rawValue: 1)
    /// A compressible resource.
    public static let acceptEncoding = VaryFields(rawValue: 2)
    /// A CORS response whose Allow-Origin echoes the request's Origin.
    public static let origin = VaryFields(rawValue: 4)

    /// One `Vary` field line listing them, or nothing. No allocation (it runs for every compressible response).
    func render(into w: inout ByteWriter) {
        guard !isEmpty else { return }
        w.append("\r\nVary: ")
        var first = true
        if contains(.accept) {
            w.append("Accept")
            first = false
        }
        if contains(.acceptEncoding) {
            if !first { w.append(", ") }
            w.append("Accept-Encoding")
            first = false
        }
        if contains(.origin) {
            if !first { w.append(", ") }
            w.append("Origin")
        }
    }
}

extension ByteWriter {
    /// Lets `body` write exactly `n` bytes in place, after checking they fit.
    @inline(__always) public mutating func appendInPlace(_ n: Int, _ body: (UnsafeMutableRawPointer) -> Void) {
        precondition(n <= remaining, "ByteWriter overflow")
        body(base + count)
        skip(n)
    }
}

/// `Content-Range` values (RFC 9110 §14.4): a satisfied range, or (first nil) the unsatisfied-range form.
public struct ContentRangeField: Sendable, Equatable {
    public var first: Int?
    public var last: Int
    public var complete: Int

    public init(first: Int, last: Int, complete: Int) {
        self.first = first
        self.last = last
        self.complete = complete
    }

    public init(unsatisfiedOf complete: Int) {
        first = nil
        last = 0
        self.complete = complete
    }
}

/// What the `Server-Timing` field tells a developer in the browser's Network panel about a compressed response
/// (W3C Server Timing: `metric;desc="…";dur=milliseconds`).
public enum ServerTiming: Sendable, Equatable {
    /// Served from the in-memory cache of compressed bodies.
    case hit
    /// Compressed for this request (it waited `nanoseconds` for zlib), now cached.
    case miss(nanoseconds: UInt64)
    /// A precompressed sidecar file (`x.js.gz`, `x.js.br`, `x.js.zst`) was sent.
    case precompressed
    /// Too large to cache: compressed on the fly in pieces.
    case stream

    public func render(into w: inout ByteWriter) {
        w.append("\r\nServer-Timing: cache;desc=")
        switch self {
        case .hit: w.append("\"hit\"")
        case .miss(let nanoseconds):
            w.append("\"miss\";dur=")
            w.append(milliseconds: nanoseconds)
        case .precompressed: w.append("\"precompressed\"")
        case .stream: w.append("\"stream\"")
        }
    }
}

/// A strong entity tag for one version of a file (RFC 9110 §8.8.3).
///
/// Metadata tags (the default) are built from the file's identity: inode, size, modification time and change time
/// (ctime), both *with nanoseconds*. A same-size rewrite within one second changes the mtime's nanoseconds; a
/// rewrite that puts the old mtime back (`cp -p`, `rsync --inplace -t`, `touch -r`) still changes the ctime, which
/// nobody can set; so the tag changes whenever the bytes can have changed (a seconds-only tag, like nginx's, would
/// keep validating stale content). The four numbers (each time in nanoseconds since the epoch) are folded into 64 bits
/// (`digest`) and rendered as 16 hex digits, `"3f2a9c0d5e6b7a18"`: short, because HPACK never indexes an ETag (nghttp2
/// sends it literally in every HTTP/2 response; as four hex numbers it was 48 bytes to Huffman-code each time). The
/// numbers come from the files module (`ETag(metadataOf:)`); this module only renders them.
///
/// Content tags (`--etag content`, and files dated 0 or 1 by reproducible builds, whose mtime says nothing) are the
/// first 128 bits of the content's SHA-256: `"sha256-<32 hex>"`. Replicas behind a load balancer agree on them.
///
/// Swerve's own compression of a file adds the coding's suffix: `-gz` (gzip), `-br` (brotli), `-zst` (zstd). A
/// different representation needs a different strong tag (RFC 9110 §8.8.1: a strong validator "changes value
/// whenever a change occurs to the representation data"), and compressed bytes are not the identity bytes. For the
/// same reason the background recompression of a cached body names its pass instead (`-zopfli`, `-br11`, `-zst19`):
/// same content, other bytes, so a range of one can never be spliced onto the other.
///
/// A compressed *stream* (made piece by piece while it is sent) carries the first pass's tag as a weak one
/// (`W/"…-br"`): its bytes are a correct coding of the same content but not promised to be the cached body's byte for
/// byte (zstd's streamed frames of a 3 MB file differ from its one-shot frame), which is exactly what a weak validator
/// says (RFC 9110 §8.8.1). It validates a 304 (If-None-Match compares weakly) and never an If-Range or If-Match.
public struct ETag: Equatable, Sendable {
    public enum Source: Equatable, Sendable {
        /// `modified` and `changed`: mtime and ctime in nanoseconds since the epoch (wrapping 64-bit).
        case metadata(inode: UInt64, size: UInt64, modified: UInt64, changed: UInt64)
        case content(high: UInt64, low: UInt64)
    }

    public var source: Source
    /// The coding of Swerve's own compression of the file; identity for the file's bytes as they are (and for a
    /// sidecar, which is a file with a tag of its own).
    public var coding: ContentCoding = .identity
    /// With a compression: the bytes are the background recompression's (zopfli, brotli 11, zstd 19) rather than
    /// the first pass's.
    public var recompressed = false
    /// `W/`: a weak validator (a compressed stream's).
    public var weak = false

    /// Longest rendering: `W/`, two quotes, `sha256-` and 32 digits (a metadata tag has 16), `-zopfli`.
    public static let maximumLength = 2 + 2 + 7 + 32 + 7

    /// A metadata tag's four numbers folded into 64 bits: each is mixed into the running value by SplitMix64's
    /// finaliser (a bijection of 64 bits, with full avalanche). With the other three fixed, each number maps to the
    /// tag one to one, so a change of any one of them always changes the tag; changes of several at once collide with
    /// odds of 2^-64. The same numbers give the same tag in every process and on every machine (no seed), so a tag
    /// survives restarts and replicas of the same files agree.
    static func digest(_ inode: UInt64, _ size: UInt64, _ modified: UInt64, _ changed: UInt64) -> UInt64 {
        var h: UInt64 = 0
        h = mix(h ^ inode)
        h = mix(h ^ size)
        h = mix(h ^ modified)
        return mix(h ^ changed)
    }

    /// SplitMix64's output function (Steele, Lea and Flood, 2014): an increment by the golden ratio, then two
    /// xor-shift-multiply rounds.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public init(source: Source, coding: ContentCoding = .identity) {
        self.source = source
        self.coding = coding
    }

    public init(contentHigh: UInt64, low: UInt64, coding: ContentCoding = .identity) {
        source = .content(high: contentHigh, low: low)
        self.coding = coding
    }

    /// The same (strong) tag for Swerve's own `coding` of the file, made by the first pass or by the recompression.
    public func coded(_ coding: ContentCoding, recompressed: Bool = false) -> ETag {
        var tag = self
        tag.coding = coding
        tag.recompressed = coding != .identity && recompressed
        tag.weak = false
        return tag
    }

    /// The same tag as a weak validator.
    public var weakened: ETag {
        var tag = self
        tag.weak = true
        return tag
    }

    /// The suffix naming the coding and pass (empty for identity).
    var suffix: StaticString {
        switch coding {
        case .identity: ""
        case .gzip: recompressed ? "-zopfli" : "-gz"
        case .br: recompressed ? "-br11" : "-br"
        case .zstd: recompressed ? "-zst19" : "-zst"
        }
    }

    public func render(into w: inout ByteWriter) {
        if weak { w.append("W/") }
        w.append(byte: 0x22)
        switch source {
        case .metadata(let inode, let size, let modified, let changed):
            w.appendFixedHex(Self.digest(inode, size, modified, changed))
        case .content(let high, let low):
            w.append("sha256-")
            w.appendFixedHex(high)
            w.appendFixedHex(low)
        }
        if coding != .identity { w.append(suffix) }
        w.append(byte: 0x22)
    }

    /// The rendered tag in a small inline buffer (for comparing with If-None-Match without allocating).
    /// Inlinable so callers in other modules specialise it: unspecialised, each call looked up `R`'s metadata.
    @inlinable
    public func withRendered<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: Self.maximumLength, alignment: 1) { area in
            var w = ByteWriter(area)
            render(into: &w)
            return body(UnsafeRawBufferPointer(start: area.baseAddress, count: w.count))
        }
    }
}

extension ByteWriter {
    /// Exactly 16 lowercase hex digits.
    @inline(__always) public mutating func appendFixedHex(_ value: UInt64) {
        appendInPlace(16) { out in
            let digits: StaticString = "0123456789abcdef"
            for i in 0..<16 {
                let nibble = Int((value >> UInt64(60 - 4 * i)) & 0xF)
                out.storeBytes(of: digits.utf8Start[nibble], toByteOffset: i, as: UInt8.self)
            }
        }
    }
}
