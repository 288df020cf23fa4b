import Glibc

extension HTTP2ServerSession {
    /// One request, complete (its END_STREAM seen, or its header block's end for a request with a body). Its header
    /// block is kept in one byte buffer, checked as it arrives, and already in HTTP/1.1's wire form where the pipeline
    /// reads it: the pseudo-header values first; then, once they are all in (RFC 9113 §8.3: "All pseudo-header fields
    /// MUST appear in a field block before all regular field lines"), the request line and Host made from them
    /// (`HTTP1Translation.writeRequestLine`), the regular fields as field lines, the blank line, and after the head the
    /// version a log line shows. So the HTTP/1.1 parser reads the request where it lies (`withHTTP1Head`): no field
    /// costs an allocation of its own, and the head is never copied whole.
    public struct Request: Sendable {
        public var streamID: Int32
        /// The pseudo-header values, then the HTTP/1.1 head (from `headStart`), then the log version.
        private var block: [UInt8] = []
        private var methodRange = 0..<0
        private var pathRange = 0..<0
        private var authorityRange: Range<Int>?
        private var schemeRange: Range<Int>?
        /// Where the HTTP/1.1 head starts, once its request line is written: at the first regular field, or at the
        /// block's end (`finish`) when none came.
        private var headStart: Int?
        /// Where the field lines start (after the request line and Host) and end (where the blank line starts, once
        /// the block is finished).
        private var linesStart = 0
        private var linesEnd: Int?
        /// :method, :path, :authority and :scheme (RFC 9113 §8.3.1); nghttp2 has checked that each came once,
        /// before the regular fields.
        public var method: ArraySlice<UInt8> { block[methodRange] }
        public var path: ArraySlice<UInt8> { block[pathRange] }
        public var authority: ArraySlice<UInt8>? { authorityRange.map { block[$0] } }
        public var scheme: ArraySlice<UInt8>? { schemeRange.map { block[$0] } }
        /// The regular fields as "name: value\r\n" lines, in order (names lowercase: RFC 9113 §8.2.1 requires it of
        /// the client, and nghttp2 checks). Content-Length is left out (HTTP/2 frames the body, which is
        /// discarded), and Host when :authority came (§8.3.1: then the authority is the target's).
        public var fieldLines: ArraySlice<UInt8> {
            guard headStart != nil else { return block[block.endIndex...] }
            return block[linesStart..<(linesEnd ?? block.count)]
        }
        /// A byte that would change an HTTP/1.1 head's framing (CR, LF or NUL in a value; a space or control in a
        /// name, the method, path or authority), or no method or path: nghttp2 refuses such fields already, this is
        /// the second guard.
        public private(set) var malformed = false
        /// The header list exceeded `Limits.maxHeaderListBytes`: answer 431, the regular fields were not kept.
        public private(set) var headerListTooLarge = false
        /// Bytes counted against the limit so far.
        var headerListBytes = 0
        /// The request has a body (a HEADERS frame without END_STREAM): it is answered without it, and the body is
        /// dropped as it arrives (up to `Limits.maxDiscardedBodyBytes`, then RST_STREAM NO_ERROR ends the upload).
        public var hadBody = false

        public init(streamID: Int32) { self.streamID = streamID }

        /// A request whose block is written into `storage` (empty, with capacity kept from an earlier request).
        init(streamID: Int32, storage: [UInt8]) {
            self.streamID = streamID
            block = storage
        }

        /// The block's storage, taken for `RequestBlocks` (nil when the request has none); the request is left as
        /// a new one of its stream, with no fields. (Were a copy of the request still alive, emptying the storage
        /// would allocate another: no worse than a request without a spare.)
        mutating func takeBlock() -> [UInt8]? {
            guard block.capacity > 0 else { return nil }
            let taken = block
            self = Request(streamID: streamID)
            return taken
        }

        /// One field of the header block, counted as RFC 9113 §6.5.2 counts SETTINGS_MAX_HEADER_LIST_SIZE (name + value
        /// + 32). Past `limit` the request is marked for a 431 and its head dropped, so memory stays bounded (the
        /// pseudo-header values stay, for the log line).
        public mutating func add(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, limit: Int) {
            headerListBytes += name.count + value.count + 32
            if headerListBytes > limit {
                if !headerListTooLarge, let headStart {
                    block.removeSubrange(headStart...)
                    self.headStart = nil
                }
                headerListTooLarge = true
                return
            }
            guard !headerListTooLarge else { return }
            if block.isEmpty { block.reserveCapacity(256) }
            guard name.first == UInt8(ascii: ":") else {
                if Self.equal(name, "content-length") { return }
                if authorityRange != nil && Self.equal(name, "host") { return }
                if name.isEmpty || !name.allSatisfy(Self.isVisible) || value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                    malformed = true
                    return
                }
                if headStart == nil { beginHead() }
                block.append(contentsOf: name)
                block.append(0x3A)
                block.append(0x20)
                block.append(contentsOf: value)
                block.append(0x0D)
                block.append(0x0A)
                return
            }
            // A pseudo-header field after a regular one is malformed (nghttp2 refuses it first).
            guard headStart == nil else {
                malformed = true
                return
            }
            let range = block.count..<(block.count + value.count)
            switch name.count {
            case 7 where Self.equal(name, ":method"): methodRange = range
            case 5 where Self.equal(name, ":path"): pathRange = range
            case 10 where Self.equal(name, ":authority"): authorityRange = range
            case 7 where Self.equal(name, ":scheme"):
                schemeRange = range
                block.append(contentsOf: value)
                return
            default: return
            }
            block.append(contentsOf: value)
            // RFC 9110 §5.6.2: a method is a token; RFC 9113 §8.3.1: :path and :authority hold no space or control.
            if !value.allSatisfy(Self.isVisible) { malformed = true }
        }

        /// The pseudo-header fields are all in: the head begins, with the request line and Host made from them. No
        /// method or path (a CONNECT, say) cannot be an HTTP/1.1 request line: malformed.
        private mutating func beginHead() {
            headStart = block.count
            if methodRange.isEmpty || pathRange.isEmpty {
                malformed = true
            } else {
                let length = HTTP1Translation.requestLineLength(method: methodRange, path: pathRange, authority: authorityRange)
                block.append(contentsOf: repeatElement(0, count: length))
                block.withUnsafeMutableBufferPointer { bytes in
                    HTTP1Translation.writeRequestLine(
                        in: bytes, at: bytes.count - length, method: methodRange, path: pathRange, authority: authorityRange)
                }
            }
            linesStart = block.count
        }

        /// The header block ended: the head is completed (with its request line, if no regular field came, and its
        /// blank line), then the log version follows it.
        mutating func finish() {
            guard !headerListTooLarge, linesEnd == nil else { return }
            if headStart == nil { beginHead() }
            linesEnd = block.count
            block.append(0x0D)
            block.append(0x0A)
            HTTP1Translation.logVersion.withUTF8Buffer { block.append(contentsOf: $0) }
        }

        /// `body` with the request as an HTTP/1.1 head for the HTTP/1.1 parser, read in place: the bytes from its
        /// request line to the end of the log version that follows it (RFC 9113 §8.3 maps the pseudo-header fields
        /// onto the request line and Host), and the head's length. nil when the request cannot be such a head
        /// (`malformed`: no method or path, or a byte that could smuggle a field or a second request line), its
        /// header list was over the limit, or its block is not finished.
        public func withHTTP1Head<Result>(_ body: (_ bytes: UnsafeRawBufferPointer, _ headLength: Int) -> Result) -> Result? {
            guard !malformed, !headerListTooLarge, let headStart, let linesEnd else { return nil }
            return block.withUnsafeBytes { all in body(UnsafeRawBufferPointer(rebasing: all[headStart...]), linesEnd + 2 - headStart) }
        }

        /// Whether :method is `text`, read in place (a slice of the block, as `method`, is a retain and a release).
        public func methodIs(_ text: StaticString) -> Bool {
            block.withUnsafeBufferPointer { Self.equal(UnsafeBufferPointer(rebasing: $0[methodRange]), text) }
        }

        /// The regular fields, split (for tests and logs; the pipeline reads the head whole).
        public var fields: [(name: ArraySlice<UInt8>, value: ArraySlice<UInt8>)] {
            var fields: [(name: ArraySlice<UInt8>, value: ArraySlice<UInt8>)] = []
            let lines = fieldLines
            var start = lines.startIndex
            while let colon = lines[start...].firstIndex(of: 0x3A), let cr = lines[colon...].firstIndex(of: 0x0D) {
                fields.append((lines[start..<colon], lines[(colon + 2)..<cr]))
                start = cr + 2
            }
            return fields
        }

        /// Whether `bytes` are `text` (one length compare, then memcmp).
        static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
            bytes.count == text.utf8CodeUnitCount && (bytes.isEmpty || memcmp(bytes.baseAddress!, text.utf8Start, bytes.count) == 0)
        }

        static func isVisible(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
    }
}
