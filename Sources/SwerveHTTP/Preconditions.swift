// Conditional requests (RFC 9110 §13): a pure evaluator of If-Match, If-Unmodified-Since, If-None-Match,
// If-Modified-Since and If-Range against the selected representation's validators.
//
// Bytes in, decision out: the field values are the caller's buffers (the request buffer), the current entity tag is
// the exact rendered strong tag. Nothing here allocates, reads a clock (the caller passes `now`) or traps on any
// input.
//
// What the caller owns (RFC 9110 §13.2.1):
// - "A server MUST ignore all received preconditions if its response to the same request without those conditions,
//   prior to processing the request content, would have been a status code other than a 2xx (Successful) or 412
//   (Precondition Failed)." — evaluate only once the file is found and would be served (not for 404, 301, 405...).
// - The evaluator assumes the selected representation exists (so `*` matches).
// - `currentETag` must be the tag of the representation that would be sent: the `-gz` variant's tag when the
//   gzip body would be sent.

/// What the preconditions decide.
public enum PreconditionOutcome: Equatable, Sendable {
    /// Continue: serve the request (and then consider Range / If-Range).
    case proceed
    /// 304 Not Modified (GET/HEAD only).
    case notModified
    /// 412 Precondition Failed.
    case preconditionFailed
}

/// The field lines of one list-valued field (If-Match or If-None-Match), stored inline: no heap.
///
/// RFC 9110 §5.3: "A recipient MAY combine multiple field lines within a field section that have the same field name
/// into one field line, without changing the semantics of the message, by appending each subsequent field line value
/// to the initial field line value in order, separated by a comma (",") and optional whitespace". The evaluator
/// scans the lines in order as that one comma-separated list, without copying them together.
///
/// Holds up to `capacity` (8) lines, 16 bytes each. Lines past that are counted in `droppedCount` and not scanned:
/// the field still counts as present, so for If-Match the outcome errs to 412 and for If-None-Match to a full 200 –
/// both safe. Browsers send one line.
public struct FieldLines {
    public static let capacity = 8

    /// Lines stored (at most `capacity`).
    public private(set) var count: Int = 0
    /// Lines appended after the store was full (ignored by the evaluator, but they make the field present).
    public private(set) var droppedCount: Int = 0
    private var storage: (
        UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer,
        UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer
    ) = (.empty, .empty, .empty, .empty, .empty, .empty, .empty, .empty)

    /// No field line: the field is absent.
    public init() {}

    /// One field line.
    public init(_ line: UnsafeRawBufferPointer) {
        append(line)
    }

    /// Whether at least one field line was received (even an empty one).
    @inline(__always) public var isPresent: Bool { count + droppedCount > 0 }

    /// Adds the next field line, in order of appearance.
    public mutating func append(_ line: UnsafeRawBufferPointer) {
        guard count < Self.capacity else {
            droppedCount &+= 1
            return
        }
        let index = count
        withUnsafeMutablePointer(to: &storage) { tuple in
            tuple.withMemoryRebound(to: UnsafeRawBufferPointer.self, capacity: Self.capacity) { $0[index] = line }
        }
        count += 1
    }

    /// The `i`th stored line, `0 <= i < count`.
    public subscript(i: Int) -> UnsafeRawBufferPointer {
        precondition(i >= 0 && i < count, "FieldLines index out of range")
        return withUnsafePointer(to: storage) { tuple in
            tuple.withMemoryRebound(to: UnsafeRawBufferPointer.self, capacity: Self.capacity) { $0[i] }
        }
    }
}

extension UnsafeRawBufferPointer {
    fileprivate static var empty: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
}

/// The conditional fields of one request, as raw field values (OWS-trimmed, as `RequestParser` delivers them).
///
/// Not `Sendable`: it borrows the caller's buffers and lives for one evaluation.
public struct PreconditionInput {
    public var ifMatch: FieldLines
    public var ifNoneMatch: FieldLines
    /// RFC 9110 §13.1.3: "A recipient MUST ignore the If-Modified-Since header field if the received field value is
    /// not a valid HTTP-date, the field value has more than one member, or if the request method is neither GET nor
    /// HEAD." A value with a comma-joined second date fails to parse and is ignored here; if the request had more
    /// than one If-Modified-Since field line, the combined value has more than one member: pass nil.
    public var ifModifiedSince: UnsafeRawBufferPointer?
    /// Same rule as `ifModifiedSince` (RFC 9110 §13.1.4: "... including when the field value appears to be a list
    /// of dates"): pass nil when there were several field lines.
    public var ifUnmodifiedSince: UnsafeRawBufferPointer?

    public init(
        ifMatch: FieldLines = FieldLines(), ifNoneMatch: FieldLines = FieldLines(),
        ifModifiedSince: UnsafeRawBufferPointer? = nil, ifUnmodifiedSince: UnsafeRawBufferPointer? = nil
    ) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
        self.ifUnmodifiedSince = ifUnmodifiedSince
    }

    /// Whether any of the four fields is present (a request without any skips the evaluator).
    public var isEmpty: Bool {
        !ifMatch.isPresent && !ifNoneMatch.isPresent && ifModifiedSince == nil && ifUnmodifiedSince == nil
    }
}

public enum Preconditions {
    /// Evaluates the preconditions in the order RFC 9110 §13.2.2 prescribes.
    ///
    /// - Parameters:
    ///   - currentETag: the exact rendered strong tag of the selected representation, quotes included
    ///     (`"1a-2b-3c.4d"`).
    ///   - lastModified: the representation's Last-Modified in seconds, nil if unknown.
    ///   - now: the server's clock in seconds (RFC 9110 §13.1.3: "A recipient MUST interpret an If-Modified-Since
    ///     field value's timestamp in terms of the origin server's clock.").
    public static func evaluate(
        method: HTTPMethod, input: PreconditionInput, currentETag: UnsafeRawBufferPointer, lastModified: Int?,
        now: Int
    ) -> PreconditionOutcome {
        // RFC 9110 §13.2.1: "a server MUST ignore the conditional request header fields defined by this
        // specification when received with a request method that does not involve the selection or modification of
        // a representation, such as CONNECT, OPTIONS, or TRACE."
        if method == .options { return .proceed }
        let isGetOrHead = method == .get || method == .head

        // RFC 9110 §13.2.2 step 1: "When recipient is the origin server and If-Match is present, evaluate the
        // If-Match precondition: if true, continue to step 3; if false, respond 412 (Precondition Failed) unless it
        // can be determined that the state-changing request has already succeeded". A static server never changes
        // state, so there is no "already succeeded" case.
        if input.ifMatch.isPresent {
            // RFC 9110 §13.1.1: "An origin server MUST use the strong comparison function when comparing entity
            // tags for If-Match".
            if !EntityTagList.anyMatches(input.ifMatch, currentETag, strong: true) { return .preconditionFailed }
        } else if let field = input.ifUnmodifiedSince, let lastModified,
            // RFC 9110 §13.1.4: "A recipient MUST ignore the If-Unmodified-Since header field if the received field
            // value is not a valid HTTP-date" and "... if the resource does not have a modification date available."
            let date = HTTPDateParser.parse(field, now: now)
        {
            // RFC 9110 §13.2.2 step 2: "When recipient is the origin server, If-Match is not present, and
            // If-Unmodified-Since is present, evaluate the If-Unmodified-Since precondition".
            // RFC 9110 §13.1.4: "If the selected representation's last modification date is earlier than or equal
            // to the date provided in the field value, the condition is true. Otherwise, the condition is false."
            if lastModified > date { return .preconditionFailed }
        }

        // RFC 9110 §13.2.2 step 3: "When If-None-Match is present, evaluate the If-None-Match precondition: if true,
        // continue to step 5; if false for GET/HEAD, respond 304 (Not Modified); if false for other methods,
        // respond 412 (Precondition Failed)".
        if input.ifNoneMatch.isPresent {
            // RFC 9110 §13.1.2: "A recipient MUST use the weak comparison function when comparing entity tags for
            // If-None-Match".
            if EntityTagList.anyMatches(input.ifNoneMatch, currentETag, strong: false) {
                return isGetOrHead ? .notModified : .preconditionFailed
            }
            // RFC 9110 §13.1.3: "A recipient MUST ignore If-Modified-Since if the request contains an If-None-Match
            // header field" – an old If-Modified-Since never overrides the entity-tag answer (nginx evaluates
            // If-Modified-Since first and gets this wrong).
            return .proceed
        }

        // RFC 9110 §13.2.2 step 4: "When the method is GET or HEAD, If-None-Match is not present, and
        // If-Modified-Since is present, evaluate the If-Modified-Since precondition: if true, continue to step 5;
        // if false, respond 304 (Not Modified)".
        if isGetOrHead, let field = input.ifModifiedSince, let lastModified,
            let date = HTTPDateParser.parse(field, now: now),
            // RFC 2616 §14.25: "A date which is later than the server's current time is invalid." RFC 9110 dropped
            // the sentence but not the hazard: a client clock running ahead would otherwise freeze a file that
            // changes before that future instant.
            date <= now
        {
            // RFC 9110 §13.1.3: "If the selected representation's last modification date is earlier or equal to
            // the date provided in the field value, the condition is false." Both are whole seconds (the HTTP-date
            // resolution), so a file modified later within the same second still compares equal; the strong ETag
            // (with nanoseconds) is what catches that, which is why browsers' If-None-Match takes precedence.
            if lastModified <= date { return .notModified }
        }
        return .proceed
    }
}

/// If-Range (RFC 9110 §13.1.5).
public enum IfRange {
    /// Whether the Range field may be honoured. False → the caller ignores Range and sends 200 with the whole
    /// representation. RFC 9110 §13.1.5: "A recipient of an If-Range header field MUST ignore the Range header field
    /// if the If-Range condition evaluates to false."
    ///
    /// RFC 9110 §13.2.2 step 5: "When the method is GET and both Range and If-Range are present, evaluate the
    /// If-Range precondition" – the caller checks the method and the presence of Range (RFC 9110 §13.1.5: "A server
    /// MUST ignore an If-Range header field received in a request that does not contain a Range header field.").
    ///
    /// `now` (the caller's clock) anchors an rfc850-date's two-digit year.
    public static func evaluate(
        _ value: UnsafeRawBufferPointer, currentETag: UnsafeRawBufferPointer, lastModified: Int?, now: Int
    ) -> Bool {
        // RFC 9110 §13.1.5: "A valid entity-tag can be distinguished from a valid HTTP-date by examining the first
        // three characters for a DQUOTE."
        var looksLikeTag = false
        for i in 0..<min(3, value.count) where value[i] == 0x22 { looksLikeTag = true }
        if looksLikeTag {
            // RFC 9110 §13.1.5: "If the entity-tag validator provided exactly matches the ETag field value for the
            // selected representation using the strong comparison function (Section 8.8.3.2), the condition is
            // true." A weak tag never matches strongly (a client "MUST NOT generate" one here).
            // The value must be exactly one entity-tag: If-Range = entity-tag / HTTP-date.
            guard let tag = EntityTagList.element(in: value, at: 0), tag.end == value.count else { return false }
            return EntityTagList.matches(tag, in: value, currentETag, strong: true)
        }
        // RFC 9110 §13.1.5: "If the HTTP-date validator provided is not a strong validator in the sense defined by
        // Section 8.8.2.2, the condition is false. If the HTTP-date validator provided exactly matches the
        // Last-Modified field value for the selected representation, the condition is true."
        // An invalid date is no validator at all: false. Exact equality is the whole check (the server cannot know
        // whether the file changed twice within that second; browsers send the ETag when they have one).
        guard let lastModified else { return false }
        let date = HTTPDateParser.parse(value, now: now)
        return date == lastModified
    }
}

/// Scanning of `#entity-tag` lists (RFC 9110 §8.8.3):
///
///     entity-tag = [ weak ] opaque-tag
///     weak       = %s"W/"
///     opaque-tag = DQUOTE *etagc DQUOTE
///     etagc      = %x21 / %x23-7E / obs-text
///
/// Lenient per element: an element that is not an entity-tag (or `*`) is skipped up to the next comma and never
/// matches; the scan never traps.
enum EntityTagList {
    /// One parsed element: `W/` flag, and the opaque-tag (quotes included) as `tagStart..<end`.
    struct Element {
        var weak: Bool
        var tagStart: Int
        var end: Int
    }

    /// Whether any element of any line matches `current` (`*` matches: the representation exists).
    static func anyMatches(_ lines: FieldLines, _ current: UnsafeRawBufferPointer, strong: Bool) -> Bool {
        for k in 0..<lines.count where lineMatches(lines[k], current, strong: strong) { return true }
        return false
    }

    static func lineMatches(_ line: UnsafeRawBufferPointer, _ current: UnsafeRawBufferPointer, strong: Bool) -> Bool {
        let n = line.count
        var i = 0
        while i < n {
            let c = line[i]
            // RFC 9110 §5.6.1.2: "A recipient MUST parse and ignore a reasonable number of empty list elements".
            if c == 0x2C || c == 0x20 || c == 0x09 {
                i += 1
                continue
            }
            if c == 0x2A { // '*'
                // RFC 9110 §13.1.1: "If the field value is "*", the condition is true if the origin server has a
                // current representation for the target resource." §13.1.2 says the same for If-None-Match (false
                // there). A `*` inside a list is "syntactically invalid"; it is honoured all the same (lenient).
                if elementEnds(line, i + 1) { return true }
            } else if let element = element(in: line, at: i), elementEnds(line, element.end) {
                if matches(element, in: line, current, strong: strong) { return true }
                i = element.end
                continue
            }
            // Garbage: skip to the next comma.
            while i < n && line[i] != 0x2C { i += 1 }
        }
        return false
    }

    /// The entity-tag starting exactly at `i`, or nil.
    static func element(in line: UnsafeRawBufferPointer, at start: Int) -> Element? {
        let n = line.count
        var i = start
        var weak = false
        // RFC 9110 §8.8.3: "weak       = %s"W/"" (case-sensitive).
        if i + 1 < n && line[i] == 0x57 && line[i + 1] == 0x2F {
            weak = true
            i += 2
        }
        guard i < n, line[i] == 0x22 else { return nil }
        let tagStart = i
        i += 1
        // RFC 9110 §8.8.3: "etagc      = %x21 / %x23-7E / obs-text" – anything else (SP, CTL, DEL) is invalid.
        while i < n {
            let c = line[i]
            if c == 0x22 { return Element(weak: weak, tagStart: tagStart, end: i + 1) }
            guard c == 0x21 || (c >= 0x23 && c != 0x7F) else { return nil }
            i += 1
        }
        return nil
    }

    /// Whether only OWS lies between `i` and the next comma or the end of the line.
    @inline(__always) static func elementEnds(_ line: UnsafeRawBufferPointer, _ start: Int) -> Bool {
        var i = start
        while i < line.count {
            let c = line[i]
            if c == 0x2C { return true }
            guard c == 0x20 || c == 0x09 else { return false }
            i += 1
        }
        return true
    }

    /// RFC 9110 §8.8.3.2: "Strong comparison: two entity tags are equivalent if both are not weak and their
    /// opaque-tags match character-by-character." "Weak comparison: two entity tags are equivalent if their
    /// opaque-tags match character-by-character, regardless of either or both being tagged as "weak"."
    static func matches(
        _ element: Element, in line: UnsafeRawBufferPointer, _ current: UnsafeRawBufferPointer, strong: Bool
    ) -> Bool {
        // The current tag is expected strong; a `W/` one is handled correctly all the same.
        var currentStart = 0
        var currentWeak = false
        if current.count >= 2 && current[0] == 0x57 && current[1] == 0x2F {
            currentWeak = true
            currentStart = 2
        }
        if strong && (element.weak || currentWeak) { return false }
        let length = element.end - element.tagStart
        guard length == current.count - currentStart else { return false }
        for k in 0..<length where line[element.tagStart + k] != current[currentStart + k] { return false }
        return true
    }
}
