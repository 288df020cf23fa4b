// A socket-free, resumable reader of the chunked transfer coding (RFC 9112 §7.1), used to skip a chunked
// request body so the next pipelined request starts at the right byte.
//
// RFC 9112 §7.1:
//   chunked-body   = *chunk last-chunk trailer-section CRLF
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size     = 1*HEXDIG
//   last-chunk     = 1*("0") [ chunk-ext ] CRLF
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   trailer-section = *( field-line CRLF )
//
// Cost: chunk data — nearly all the bytes — is skipped in O(1) per call (it is only counted, never read).
// Framing bytes (sizes, extensions, trailers) go through a byte-at-a-time state machine; they are a few
// bytes per chunk. The state is five words, so the decoder is a plain value kept per connection.
//
// Strictness: the framing must use CRLF exactly. RFC 9112 §2.2 lets a recipient accept a bare LF only as the
// terminator of "the start-line and fields"; lenient chunk framing (bare LF, whitespace after the size, odd
// bytes in extensions) is what request-smuggling attacks between disagreeing parsers rely on, so every
// deviation is a 400. Extensions are not interpreted: RFC 9112 §7.1.1 "A recipient MUST ignore unrecognized
// chunk extensions."

public struct ChunkedBodyDecoder: Sendable {
    public enum Step: Equatable, Sendable {
        /// Every byte given belongs to the body and was consumed (`consumed == bytes.count`); call again with more.
        case needMore(consumed: Int)
        /// The body ended after `consumed` bytes of this call's input; anything after it is the next request.
        case done(consumed: Int)
        /// The framing is invalid: answer `error.status` and close. Repeated calls return the same error.
        case error(ParseError)
    }

    /// Most hex digits in a chunk-size (leading zeros included). RFC 9112 §7.1: "Recipients MUST anticipate
    /// potentially large hexadecimal numerals and prevent parsing errors due to integer conversion overflows or
    /// precision loss due to integer representation." 15 digits are at most 2^60 − 1: no overflow in Int.
    public static let maxChunkSizeDigits = 15
    /// Longest chunk-size line (size and extensions) and longest trailer field line, in bytes, up to the CR.
    /// RFC 9112 §7.1.1: "A server ought to limit the total length of chunk extensions received in a request
    /// to an amount reasonable for the services provided ... and generate an appropriate 4xx (Client Error)
    /// response if that amount is exceeded." 4 KiB is far above anything legitimate; we ignore extensions.
    public static let maxLineLength = 4096
    /// Largest trailer section (all trailer field lines with their CRLFs) → 431, like an oversized header
    /// section. Same budget as `ParserLimits.maxHeaderBytes`' default.
    public static let maxTrailerBytes = 16384

    @usableFromInline
    enum State: UInt8, Sendable {
        case sizeFirst  // expecting the first HEXDIG of a chunk-size
        case size  // in the chunk-size digits
        case extBWS  // after the size, in BWS before ";"
        case ext  // in chunk-ext, up to CR
        case sizeLF  // after the CR of a chunk-size line
        case data  // in chunk-data; `remaining` bytes left
        case dataCR  // expecting the CR after chunk-data
        case dataLF  // expecting the LF after chunk-data
        case lineStart  // at the start of a trailer field line or of the final CRLF
        case trailerName  // in a trailer field-name
        case trailerValue  // after the ":" of a trailer field line, up to CR
        case trailerLF  // after the CR of a trailer field line
        case finalLF  // after the CR of the final empty line
        case done
        case failed
    }

    @usableFromInline var state: State = .sizeFirst
    /// The chunk-size being read, then the chunk-data bytes still to skip.
    @usableFromInline var remaining: Int = 0
    /// Digits read of the current chunk-size.
    @usableFromInline var digits: Int = 0
    /// Bytes of the current chunk-size or trailer line so far (for `maxLineLength`).
    @usableFromInline var lineLength: Int = 0
    /// Bytes of the trailer section so far (for `maxTrailerBytes`).
    @usableFromInline var trailerBytes: Int = 0
    /// The error returned again by calls after a failure.
    @usableFromInline var failure = ParseError(status: .badRequest, reason: "invalid chunked body")

    /// Total chunk-data bytes announced so far (saturating), for a body-size limit (413) in the caller.
    public private(set) var bodyBytes: Int = 0

    public init() {}

    /// Whether the whole chunked body (through the final CRLF) has been consumed.
    public var isDone: Bool { state == .done }

    /// Consumes as much of `bytes` as belongs to the chunked body. Resumable: call again with the bytes that
    /// follow the consumed ones (RFC 9112 §7.1: chunk-size [chunk-ext] CRLF data CRLF ... last-chunk
    /// trailer-section CRLF). After `.done`, further calls return `.done(consumed: 0)`.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Step {
        switch state {
        case .done: return .done(consumed: 0)
        case .failed: return .error(failure)
        default: break
        }
        guard let p = bytes.baseAddress else { return .needMore(consumed: 0) }
        let n = bytes.count
        var i = 0
        while i < n {
            if state == .data {
                // Skipping data costs O(1) whatever its size.
                let take = min(remaining, n - i)
                i += take
                remaining -= take
                if remaining == 0 { state = .dataCR }
                continue
            }
            let c = HTTPSyntax.byteAt(p, i)
            i += 1
            switch state {
            case .sizeFirst:
                // chunk-size = 1*HEXDIG
                let d = HTTPSyntax.hexValue(c)
                guard d >= 0 else { return fail(.badRequest, "invalid chunk-size") }
                remaining = d
                digits = 1
                lineLength = 1
                state = .size
            case .size:
                lineLength += 1
                let d = HTTPSyntax.hexValue(c)
                if d >= 0 {
                    digits += 1
                    guard digits <= Self.maxChunkSizeDigits else { return fail(.badRequest, "chunk-size too long") }
                    remaining = remaining &<< 4 | d  // ≤ 15 digits: < 2^60, cannot overflow
                } else if c == HTTPSyntax.ASCII.cr {
                    state = .sizeLF
                } else if c == HTTPSyntax.ASCII.semicolon {
                    state = .ext
                } else if HTTPSyntax.isOWS(c) {
                    state = .extBWS
                } else {
                    return fail(.badRequest, "invalid chunk-size")
                }
            case .extBWS:
                // chunk-ext = *( BWS ";" ...): whitespace after the size is only allowed before a ";".
                lineLength += 1
                guard lineLength <= Self.maxLineLength else { return fail(.badRequest, "chunk extension too long") }
                if c == HTTPSyntax.ASCII.semicolon {
                    state = .ext
                } else if !HTTPSyntax.isOWS(c) {
                    return fail(.badRequest, "invalid chunk extension")
                }
            case .ext:
                lineLength += 1
                guard lineLength <= Self.maxLineLength else { return fail(.badRequest, "chunk extension too long") }
                if c == HTTPSyntax.ASCII.cr {
                    state = .sizeLF
                } else if !HTTPSyntax.isFieldValueByte(c) {
                    // token / quoted-string bytes only: no CTL (incl. a bare LF), no DEL.
                    return fail(.badRequest, "invalid byte in chunk extension")
                }
            case .sizeLF:
                guard c == HTTPSyntax.ASCII.lf else { return fail(.badRequest, "chunk-size line not ended by CRLF") }
                if remaining == 0 {
                    // last-chunk: the trailer section follows.
                    trailerBytes = 0
                    state = .lineStart
                } else {
                    let (sum, overflow) = bodyBytes.addingReportingOverflow(remaining)
                    bodyBytes = overflow ? .max : sum
                    state = .data
                }
            case .dataCR:
                guard c == HTTPSyntax.ASCII.cr else { return fail(.badRequest, "chunk-data not followed by CRLF") }
                state = .dataLF
            case .dataLF:
                guard c == HTTPSyntax.ASCII.lf else { return fail(.badRequest, "chunk-data not followed by CRLF") }
                state = .sizeFirst
            case .lineStart:
                if c == HTTPSyntax.ASCII.cr {
                    state = .finalLF
                } else if HTTPSyntax.isTchar(c) {
                    // trailer-section = *( field-line CRLF ); field-line = field-name ":" OWS field-value OWS
                    lineLength = 1
                    trailerBytes += 1
                    state = .trailerName
                } else if HTTPSyntax.isOWS(c) {
                    // RFC 9112 §5.2 obs-fold: rejected as in the header section.
                    return fail(.badRequest, "obs-fold in trailer field")
                } else {
                    return fail(.badRequest, "invalid trailer field")
                }
            case .trailerName, .trailerValue:
                lineLength += 1
                trailerBytes += 1
                guard lineLength <= Self.maxLineLength else { return fail(.badRequest, "trailer field too long") }
                guard trailerBytes <= Self.maxTrailerBytes else {
                    return fail(.requestHeaderFieldsTooLarge, "trailer section too large")
                }
                if state == .trailerName {
                    if c == HTTPSyntax.ASCII.colon {
                        state = .trailerValue
                    } else if !HTTPSyntax.isTchar(c) {
                        // RFC 9112 §5.1: no whitespace between field name and colon.
                        return fail(.badRequest, "invalid trailer field name")
                    }
                } else if c == HTTPSyntax.ASCII.cr {
                    state = .trailerLF
                } else if !HTTPSyntax.isFieldValueByte(c) {
                    // RFC 9110 §5.5: CR, LF, NUL and other CTLs are invalid in a field value.
                    return fail(.badRequest, "invalid byte in trailer field")
                }
            case .trailerLF:
                guard c == HTTPSyntax.ASCII.lf else { return fail(.badRequest, "trailer field not ended by CRLF") }
                trailerBytes += 1
                state = .lineStart
            case .finalLF:
                guard c == HTTPSyntax.ASCII.lf else { return fail(.badRequest, "chunked body not ended by CRLF") }
                state = .done
                return .done(consumed: i)
            case .data, .done, .failed:
                // .data is handled above; .done/.failed returned before the loop.
                return fail(.internalServerError, "chunked decoder state")
            }
        }
        return .needMore(consumed: i)
    }

    private mutating func fail(_ status: HTTPStatus, _ reason: StaticString) -> Step {
        failure = ParseError(status: status, reason: reason)
        state = .failed
        return .error(failure)
    }
}
