import Glibc

/// A response written away from any socket, to be sent later in pieces of the caller's choosing: an HTTP/2 stream's
/// answer, whose head is re-encoded (HPACK) and whose body leaves in DATA frames as flow control allows.
///
/// The handler writes into it exactly as into a connection (`write`), so one pipeline serves both protocols. Its
/// body then moves into a connection's output without being copied where it was not copied before: a cached body
/// stays the cache's memory (the piece retains its owner), a file range stays a file range for `sendfile`; only
/// bytes in the staged buffer itself (a head, a small file read inline) are copied.
///
/// Invariant: owned descriptors are wrapped in a `DescriptorOwner` before any piece of them moves, so a piece queued
/// on a connection keeps its descriptor open after this object is gone. Not thread-safe: one loop uses it.
public final class StagedOutput {
    private var buffer: UnsafeMutablePointer<OutputBuffer>

    /// Room for a response head and a small file read inline (`HTTPHandler.inlineBodyLimit`), with the segments of
    /// a multipart/byteranges answer.
    public init() {
        buffer = .allocate(capacity: 1)
        buffer.initialize(to: OutputBuffer(capacity: Self.fullCapacity, segmentCapacity: 64))
    }

    deinit {
        buffer.pointee.reset()
        buffer.pointee.free()
        buffer.deallocate()
    }

    /// Lets `body` queue output as a handler does on a connection.
    public func write<R>(_ body: (inout OutputWriter) -> R) -> R {
        var writer = OutputWriter(buffer)
        return body(&writer)
    }

    /// Segments that can still be added (each `appendExternal` or `appendFile` takes one).
    public var freeSegments: Int { buffer.pointee.segmentCapacity - buffer.pointee.tail }

    /// Bytes still staged.
    public var count: Int { buffer.pointee.queuedBytes - buffer.pointee.sentBytes }

    /// Lets `body` read the first `n` staged bytes, then drops them. Precondition: they are memory (a head always
    /// is: handlers render heads into the buffer). No copy when they lie in one segment, as a head does.
    public func consumeBytes<R>(_ n: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(n <= count, "StagedOutput.consumeBytes past the end")
        defer { buffer.pointee.written(n) }
        let first = buffer.pointee.segments[buffer.pointee.head]
        if n == 0 || (!first.isFile && first.length >= n) {
            return body(UnsafeRawBufferPointer(start: buffer.pointee.memory(of: first), count: n))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(n)
        var remaining = n
        var index = buffer.pointee.head
        while remaining > 0 {
            let segment = buffer.pointee.segments[index]
            precondition(!segment.isFile, "StagedOutput.consumeBytes over a file segment")
            let take = min(remaining, segment.length)
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer.pointee.memory(of: segment), count: take))
            remaining -= take
            index += 1
        }
        return bytes.withUnsafeBytes(body)
    }

    /// Whether it still has its full-size buffer (it was not `compact`ed), so it is worth keeping for reuse.
    public var isFullSize: Bool { buffer.pointee.capacity >= Self.fullCapacity }
    static let fullCapacity = 32 * 1024

    /// Shrinks what it holds to what is still staged: the bytes of its own buffer that remain (a small body read
    /// inline) move to a buffer of exactly their size, and the 32 KiB one is freed. For a body that waits (an
    /// HTTP/2 stream behind flow control, for as long as the client likes), so a waiting stream holds its bytes and
    /// a few segments, not a whole buffer. Cost: one malloc and a copy of those bytes.
    public func compact() {
        let old = buffer.pointee
        var ownBytes = 0
        for i in old.head..<old.tail where !old.segments[i].isFile && old.segments[i].external == nil {
            ownBytes += old.segments[i].length
        }
        let compacted = UnsafeMutablePointer<OutputBuffer>.allocate(capacity: 1)
        compacted.initialize(to: OutputBuffer(
            capacity: max(1, ownBytes), segmentCapacity: max(1, old.tail - old.head, old.markTail - old.markHead)))
        var used = 0
        for i in old.head..<old.tail {
            var segment = old.segments[i]
            if !segment.isFile && segment.external == nil {
                (compacted.pointee.bytes + used).copyMemory(from: old.bytes + segment.offset, byteCount: segment.length)
                segment.offset = used
                used += segment.length
            }
            // The segment's fd or owner now belongs to the compacted buffer.
            compacted.pointee.segments[compacted.pointee.tail] = segment
            compacted.pointee.tail += 1
        }
        compacted.pointee.used = used
        compacted.pointee.queuedBytes = old.queuedBytes - old.sentBytes
        for i in old.markHead..<old.markTail {
            var mark = old.marks[i]
            mark.position -= old.sentBytes
            compacted.pointee.marks[compacted.pointee.markTail] = mark
            compacted.pointee.markTail += 1
        }
        // Nothing is left to release in the old buffer: its segments moved.
        buffer.pointee.head = buffer.pointee.tail
        buffer.pointee.free()
        buffer.deallocate()
        buffer = compacted
    }

    /// Empties it for reuse (a loop keeps a few instead of allocating one per stream): releases what its segments
    /// hold. Precondition: no mark is waiting (each was passed or abandoned).
    public func reset() {
        precondition(buffer.pointee.markHead == buffer.pointee.markTail, "StagedOutput.reset with a mark waiting")
        buffer.pointee.reset()
    }

    /// What a writer must have free to take the next `n` bytes (`move`): the bytes copied, and the segments used.
    public func room(for n: Int) -> (bytes: Int, segments: Int) {
        var bytes = 0
        var segments = 0
        var remaining = n
        var index = buffer.pointee.head
        while remaining > 0 && index < buffer.pointee.tail {
            let segment = buffer.pointee.segments[index]
            let take = min(remaining, segment.length)
            if !segment.isFile && segment.external == nil { bytes += take }
            segments += 1
            remaining -= take
            index += 1
        }
        return (bytes, segments)
    }

    /// Moves the next `n` bytes into `writer`, with every mark they pass. Precondition: `room(for: n)` is free there.
    public func move(_ n: Int, into writer: inout OutputWriter) {
        precondition(n <= count, "StagedOutput.move past the end")
        var remaining = n
        var index = buffer.pointee.head
        while remaining > 0 {
            let segment = buffer.pointee.segments + index
            if segment.pointee.isFile && segment.pointee.ownsFD {
                // Pieces of this range will be queued on a connection and outlive the segment: the descriptor now
                // belongs to an owner each piece retains, closed when the last one is sent or dropped.
                segment.pointee.ownsFD = false
                segment.pointee.owner = Unmanaged.passRetained(DescriptorOwner(segment.pointee.fd) as AnyObject).toOpaque()
            }
            let piece = segment.pointee
            let take = min(remaining, piece.length)
            if piece.isFile {
                if let owner = piece.owner {
                    writer.appendFile(fd: piece.fd, offset: piece.offset, length: take,
                                      owner: Unmanaged<AnyObject>.fromOpaque(owner).takeUnretainedValue(), mapping: piece.external)
                } else {
                    // A descriptor its lender keeps open for as long as the output lives (`appendFile(ownsFD: false)`).
                    writer.appendFile(fd: piece.fd, offset: piece.offset, length: take, ownsFD: false)
                }
            } else if let owner = piece.owner, let external = piece.external {
                writer.appendExternal(UnsafeRawBufferPointer(start: external + piece.offset, count: take),
                                      owner: Unmanaged<AnyObject>.fromOpaque(owner).takeUnretainedValue())
            } else {
                writer.append(UnsafeRawBufferPointer(start: buffer.pointee.memory(of: piece), count: take))
            }
            remaining -= take
            index += 1
        }
        buffer.pointee.written(n)
        passMarks { writer.appendMark($0) }
    }

    /// Hands over every mark whose bytes have all been taken or moved, in order.
    public func passMarks(_ body: (UInt32) -> Void) {
        while buffer.pointee.markHead < buffer.pointee.markTail,
              buffer.pointee.marks[buffer.pointee.markHead].position <= buffer.pointee.sentBytes {
            body(buffer.pointee.marks[buffer.pointee.markHead].value)
            buffer.pointee.markHead += 1
        }
    }

    /// The output will never be sent (its stream was reset, its connection closed): every mark left, with how many
    /// of the bytes before it were not sent, for the handler's `outputMarkReached`.
    public func abandonMarks(_ body: (_ mark: UInt32, _ unsentBytes: Int) -> Void) {
        while buffer.pointee.markHead < buffer.pointee.markTail {
            let mark = buffer.pointee.marks[buffer.pointee.markHead]
            buffer.pointee.markHead += 1
            body(mark.value, max(0, mark.position - buffer.pointee.sentBytes))
        }
    }
}

/// Closes a descriptor when the last output piece that uses it is gone.
final class DescriptorOwner {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }
}
