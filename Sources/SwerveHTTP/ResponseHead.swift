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

    /// A head's size without Content-Type and Location, generously: status line, Server, Date, Content-Length,
    /// Last-Modified, ETag, Allow, Connection. Callers reserve this plus the two variable fields.
    public static let fixedSizeBound = 512

    public init(status: HTTPStatus, contentLength: Int) {
        self.status = status
        self.contentLength = contentLength
    }

    /// Bytes `render` needs at most.
    public var sizeBound: Int {
        Self.fixedSizeBound + (contentType?.count ?? 0) + (location?.count ?? 0)
    }

    /// Writes the status line and fields, ending with the blank line. `date` is the 29-byte IMF-fixdate of now.
    public func render(into w: inout ByteWriter, date: UnsafeRawBufferPointer) {
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
        // RFC 9110 §8.6: a server MUST NOT send Content-Length in a 1xx or 204 response.
        if status.code != 204 && status.code != 304 {
            w.append("\r\nContent-Length: ")
            w.append(decimal: contentLength)
        }
        if let lastModified {
            w.append("\r\nLast-Modified: ")
            w.appendInPlace(HTTPDate.length) { HTTPDate.format(lastModified, into: $0) }
        }
        if let etag {
            w.append("\r\nETag: ")
            etag.render(into: &w)
        }
        if let location {
            w.append("\r\nLocation: ")
            w.append(location)
        }
        if allow {
            w.append("\r\nAllow: GET, HEAD, OPTIONS")
        }
        switch connection {
        case .none: break
        case .close: w.append("\r\nConnection: close")
        case .keepAlive: w.append("\r\nConnection: keep-alive")
        }
        w.append("\r\n\r\n")
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

/// A strong entity tag for one version of a file (RFC 9110 §8.8.3).
///
/// Built from inode, size and modification time *with nanoseconds*: a same-size rewrite within one second changes
/// the nanoseconds, so the tag changes (a seconds-only tag, like nginx's, would keep validating stale content).
/// Rendered as `"inode-size-seconds.nanoseconds"` in hex.
public struct ETag: Equatable, Sendable {
    public var inode: UInt64
    public var size: UInt64
    public var seconds: UInt64
    public var nanoseconds: UInt64

    public init(_ facts: FileFacts) {
        inode = facts.inode
        size = UInt64(max(0, facts.size))
        seconds = UInt64(bitPattern: facts.mtimeSeconds)
        nanoseconds = UInt64(max(0, facts.mtimeNanoseconds))
    }

    public func render(into w: inout ByteWriter) {
        w.append(byte: 0x22)
        w.append(hex: inode)
        w.append(byte: 0x2D)
        w.append(hex: size)
        w.append(byte: 0x2D)
        w.append(hex: seconds)
        w.append(byte: 0x2E)
        w.append(hex: nanoseconds)
        w.append(byte: 0x22)
    }
}
