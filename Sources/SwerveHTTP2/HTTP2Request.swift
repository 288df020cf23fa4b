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
        /// The pseudo-header values, then the HTTP/1.1 head (from `headStart`), then the log version: the first `used`
        /// bytes. The array's count is its capacity, and bytes past `used` are a former request's, never read: so each
        /// field is written with a memcpy, not grown into by `append`s (each with its checks), and storage comes back
        /// from `RequestBlocks` without being cleared.
        private var block: [UInt8] = []
        private var used = 0
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
            guard headStart != nil else { return block[used..<used] }
            return block[linesStart..<(linesEnd ?? used)]
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

        /// A request whose block is written into `storage` (an earlier request's, its bytes left as they were, or
        /// empty).
        init(streamID: Int32, storage: consuming [UInt8]) {
            self.streamID = streamID
            block = storage
        }

        /// The block's storage, taken for `RequestBlocks` (nil when the request has none); the request is left as
        /// a new one of its stream, with no fields. (Were a copy of the request still alive, emptying the storage
        /// would allocate another: no worse than a request without a spare.)
        mutating func takeBlock() -> [UInt8]? {
            guard !block.isEmpty else { return nil }
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
                    used = headStart
                    self.headStart = nil
                }
                headerListTooLarge = true
                return
            }
            guard !headerListTooLarge else { return }
            guard let first = name.first, first == UInt8(ascii: ":") else {
                switch name.count {
                case 14 where Self.equal(name, "content-length"): return
                case 4 where authorityRange != nil && Self.equal(name, "host"): return
                default: break
                }
                guard Self.isName(name), Self.isValue(value) else {
                    malformed = true
                    return
                }
                if headStart == nil { beginHead() }
                // "name: value\r\n"
                write(name.count + value.count + 4) { at in
                    memcpy(at, name.baseAddress!, name.count)
                    at[name.count] = 0x3A
                    at[name.count + 1] = 0x20
                    if !value.isEmpty { memcpy(at + name.count + 2, value.baseAddress!, value.count) }
                    at[name.count + 2 + value.count] = 0x0D
                    at[name.count + 3 + value.count] = 0x0A
                }
                return
            }
            // A pseudo-header field after a regular one is malformed (nghttp2 refuses it first).
            guard headStart == nil else {
                malformed = true
                return
            }
            let range = used..<(used + value.count)
            // RFC 9110 §5.6.2: a method is a token; RFC 9113 §8.3.1: :path and :authority hold no space or control.
            var visibleOnly = true
            switch name.count {
            case 7 where Self.equal(name, ":method"): methodRange = range
            case 5 where Self.equal(name, ":path"): pathRange = range
            case 10 where Self.equal(name, ":authority"): authorityRange = range
            case 7 where Self.equal(name, ":scheme"):
                schemeRange = range
                visibleOnly = false
            default: return
            }
            if !value.isEmpty { write(value.count) { memcpy($0, value.baseAddress!, value.count) } }
            if visibleOnly && !Self.isName(value) { malformed = true }
        }

        /// A new block's size: a browser's request, pseudo-header values and head, fits (a Chrome navigation's fields
        /// are about 600 bytes).
        static let initialBlockBytes = 1024

        /// Appends `count` bytes to the block, which `body` writes at the pointer it gets. The block grows (doubled,
        /// or to fit) when they do not fit.
        private mutating func write(_ count: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Void) {
            if used + count > block.count {
                let size = max(used + count, block.count * 2, Self.initialBlockBytes)
                block.append(contentsOf: repeatElement(0, count: size - block.count))
            }
            block.withUnsafeMutableBufferPointer { body($0.baseAddress! + used) }
            used += count
        }

        /// The pseudo-header fields are all in: the head begins, with the request line and Host made from them. No
        /// method or path (a CONNECT, say) cannot be an HTTP/1.1 request line: malformed.
        private mutating func beginHead() {
            headStart = used
            if methodRange.isEmpty || pathRange.isEmpty {
                malformed = true
            } else {
                let length = HTTP1Translation.requestLineLength(method: methodRange, path: pathRange, authority: authorityRange)
                let (method, path, authority, start) = (methodRange, pathRange, authorityRange, used)
                write(length) { at in
                    HTTP1Translation.writeRequestLine(at: at, from: at - start, method: method, path: path, authority: authority)
                }
            }
            linesStart = used
        }

        /// The header block ended: the head is completed (with its request line, if no regular field came, and its
        /// blank line), then the log version follows it.
        mutating func finish() {
            guard !headerListTooLarge, linesEnd == nil else { return }
            if headStart == nil { beginHead() }
            linesEnd = used
            let version = HTTP1Translation.logVersion
            write(2 + version.utf8CodeUnitCount) { at in
                at[0] = 0x0D
                at[1] = 0x0A
                memcpy(at + 2, version.utf8Start, version.utf8CodeUnitCount)
            }
        }

        /// `body` with the request as an HTTP/1.1 head for the HTTP/1.1 parser, read in place: the bytes from its
        /// request line to the end of the log version that follows it (RFC 9113 §8.3 maps the pseudo-header fields
        /// onto the request line and Host), and the head's length. nil when the request cannot be such a head
        /// (`malformed`: no method or path, or a byte that could smuggle a field or a second request line), its
        /// header list was over the limit, or its block is not finished.
        public func withHTTP1Head<Result>(_ body: (_ bytes: UnsafeRawBufferPointer, _ headLength: Int) -> Result) -> Result? {
            guard !malformed, !headerListTooLarge, let headStart, let linesEnd else { return nil }
            return block.withUnsafeBytes { all in body(UnsafeRawBufferPointer(rebasing: all[headStart..<used]), linesEnd + 2 - headStart) }
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

        /// A field name, method, path or authority: not empty, and every byte visible ASCII (no space, no control, no
        /// DEL, nothing past 0x7E).
        static func isName(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            guard !bytes.isEmpty else { return false }
            for byte in bytes where byte &- 0x21 > 0x7E - 0x21 { return false }
            return true
        }

        /// A field value that cannot end its line early: no CR, LF or NUL (RFC 9113 §8.2.1: "A field value MUST NOT
        /// contain the zero value (ASCII NUL, 0x00), line feed (ASCII LF, 0x0a), or carriage return (ASCII CR, 0x0d) at
        /// any position"; nghttp2 checks it too).
        static func isValue(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            for byte in bytes where byte <= 0x0D && (byte == 0x0D || byte == 0x0A || byte == 0) { return false }
            return true
        }
    }
}
