import CSwerveSys
import Glibc

/// One piece of queued output: bytes in the connection's output buffer, bytes in memory someone else owns (a
/// cached compressed body, kept alive by a retain until sent), or a byte range of an open file that goes out with
/// `sendfile` (never read into memory).
struct OutputSegment {
    /// -1 for memory; otherwise the file to send from.
    var fd: Int32
    /// Whether the segment closes `fd` once it is sent (or the connection dies).
    var ownsFD: Bool
    /// Buffer memory: offset into the buffer's bytes. External memory: offset from `external`. File: file offset.
    var offset: Int
    var length: Int
    /// External memory's base address; nil for the buffer's own bytes. For a file: where the whole file is mapped in
    /// memory (its offset 0), kept valid by `owner` (a cached body's sealed memfd), so a path that copies the bytes
    /// anyway (TLS without kernel TLS) reads memory instead of calling `pread`; nil for a file known only by its fd.
    var external: UnsafeRawPointer? = nil
    /// A +1 retained reference (Unmanaged) to whatever owns `external`, released once the segment is sent or dropped.
    var owner: UnsafeMutableRawPointer? = nil

    @inline(__always) var isFile: Bool { fd >= 0 }

    /// Releases what the segment holds: closes an owned fd, drops the retain on an external owner.
    @inline(__always) func release() {
        if isFile && ownsFD { Glibc.close(fd) }
        if let owner { Unmanaged<AnyObject>.fromOpaque(owner).release() }
    }
}

/// A point in a connection's output, set by the handler after a response (`OutputWriter.appendMark`): the engine
/// reports it once every byte queued before it was written, or the connection closed first
/// (`ConnectionHandler.outputMarkReached`).
struct OutputMark {
    /// `OutputBuffer.queuedBytes` when the mark was set.
    var position: Int
    /// The handler's own value (an access-log entry, say).
    var value: UInt32
}

/// A connection's pending output: a byte area for headers and small bodies plus an ordered list of segments.
///
/// Invariant: segments `[head, tail)` are pending, in wire order; memory segments lie inside `bytes[0..<used]`.
/// Marks `[markHead, markTail)` are not reached yet, in order of position; every position is ≤ `queuedBytes`.
/// The buffer is append-only until it drains completely, then resets to empty and goes back to the loop's pool.
/// This keeps it linear (no ring arithmetic) and bounds a connection's queued output to one buffer plus the files
/// its segments reference: the handler is told to stop (`freeBytes`, `freeSegments`) when it fills.
struct OutputBuffer {
    let bytes: UnsafeMutableRawPointer
    let capacity: Int
    var used: Int = 0
    let segments: UnsafeMutablePointer<OutputSegment>
    let segmentCapacity: Int
    var head: Int = 0
    var tail: Int = 0
    /// Bytes queued (every segment's length as appended) and bytes written since the buffer was last empty.
    var queuedBytes: Int = 0
    var sentBytes: Int = 0
    let marks: UnsafeMutablePointer<OutputMark>
    /// As many marks as segments: every response takes at least one segment (its head).
    var markCapacity: Int { segmentCapacity }
    var markHead: Int = 0
    var markTail: Int = 0

    init(capacity: Int, segmentCapacity: Int) {
        bytes = .allocate(byteCount: capacity, alignment: 16)
        self.capacity = capacity
        segments = .allocate(capacity: segmentCapacity)
        self.segmentCapacity = segmentCapacity
        marks = .allocate(capacity: segmentCapacity)
    }

    func free() {
        bytes.deallocate()
        segments.deallocate()
        marks.deallocate()
    }

    @inline(__always) var isEmpty: Bool { head == tail }
    /// A mark is waiting whose bytes have all been written.
    @inline(__always) var hasReachedMark: Bool { markHead < markTail && marks[markHead].position <= sentBytes }

    /// Where a memory segment's bytes start: in the buffer's own area, or in its external owner's.
    @inline(__always) func memory(of segment: OutputSegment) -> UnsafeRawPointer {
        UnsafeRawPointer(segment.external ?? UnsafeRawPointer(bytes)) + segment.offset
    }

    /// Where a segment's bytes are in memory: the buffer's own area or an owner's memory, or where a file segment's
    /// file is mapped (`OutputSegment.external`); nil for a file known only by its descriptor.
    @inline(__always) func bytesInMemory(of segment: OutputSegment) -> UnsafeRawPointer? {
        segment.isFile ? segment.external.map { $0 + segment.offset } : memory(of: segment)
    }

    /// Copies the queue from its head into `scratch`, up to `capacity` bytes, for a sender that must copy anyway (TLS
    /// without kernel TLS encrypts from one buffer, so small pieces share records): segments in memory, mapped files
    /// included (`bytesInMemory(of:)`), copied; with `readFiles`, other file segments read with `pread`, at most
    /// `fileBytesLeft` bytes of them (the connection's turn). Stops at a segment it cannot take whole or a short read,
    /// so what it returns is a prefix of the queue: its length and how much of it was read from files. nil when the
    /// first segment is a file that reads nothing (it shrank, or fails).
    func gather(
        into scratch: UnsafeMutableRawPointer, capacity: Int, fileBytesLeft: Int, readFiles: Bool
    ) -> (count: Int, fileBytes: Int)? {
        var total = 0
        var fileBytes = 0
        var index = head
        while index < tail && total < capacity {
            let segment = segments[index]
            let take = min(segment.length, capacity - total)
            if segment.isFile && !readFiles { break }
            if let source = bytesInMemory(of: segment) {
                (scratch + total).copyMemory(from: source, byteCount: take)
                total += take
                if take < segment.length { break }
            } else {
                guard fileBytesLeft - fileBytes > 0 else { break }
                let n = pread(segment.fd, scratch + total, min(take, fileBytesLeft - fileBytes), off_t(segment.offset))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return total == 0 ? nil : (total, fileBytes) }
                total += n
                fileBytes += n
                if n < segment.length { break }
            }
            index += 1
        }
        return (total, fileBytes)
    }

    /// `n` bytes from the front of the queue were written: counts them and drops them, releasing the segments that
    /// are done (a file segment closes its fd or drops its owner).
    mutating func written(_ n: Int) {
        sentBytes += n
        var remaining = n
        while remaining > 0 {
            let segment = segments + head
            if remaining >= segment.pointee.length {
                remaining -= segment.pointee.length
                segment.pointee.release()
                head += 1
            } else {
                segment.pointee.offset += remaining
                segment.pointee.length -= remaining
                remaining = 0
            }
        }
    }

    /// Drops everything pending, closing owned file descriptors. Cost: one `close` per owned file segment.
    mutating func reset() {
        var i = head
        while i < tail {
            segments[i].release()
            i += 1
        }
        head = 0
        tail = 0
        used = 0
        queuedBytes = 0
        sentBytes = 0
        markHead = 0
        markTail = 0
    }
}

/// What a handler writes responses into. It appends to the connection's `OutputBuffer`; nothing is sent until the
/// handler returns, so a batch of pipelined responses leaves in one `writev`.
public struct OutputWriter: ~Copyable {
    let buffer: UnsafeMutablePointer<OutputBuffer>

    @inline(__always) init(_ buffer: UnsafeMutablePointer<OutputBuffer>) { self.buffer = buffer }

    /// Bytes that can still be appended.
    @inline(__always) public var freeBytes: Int { buffer.pointee.capacity - buffer.pointee.used }
    /// Segments that can still be added (a memory append may need one, a file always needs one).
    @inline(__always) public var freeSegments: Int { buffer.pointee.segmentCapacity - buffer.pointee.tail }
    /// Whether nothing has been queued.
    @inline(__always) public var isEmpty: Bool { buffer.pointee.isEmpty }
    /// Bytes queued since the connection's output was last empty (a response's size is the difference between two
    /// readings taken while it was queued).
    @inline(__always) public var queuedBytes: Int { buffer.pointee.queuedBytes }
    /// Marks that can still be set.
    @inline(__always) public var freeMarks: Int { buffer.pointee.markCapacity - buffer.pointee.markTail }

    /// Marks the end of what is queued so far (a response): `ConnectionHandler.outputMarkReached` reports `value`
    /// once all of it is written, or the connection closed first. Cost: one store; nothing per write until then but
    /// a compare. Precondition: a free mark (checked).
    @inline(__always)
    public func appendMark(_ value: UInt32) {
        let b = buffer
        precondition(b.pointee.markTail < b.pointee.markCapacity, "OutputWriter out of marks")
        b.pointee.marks[b.pointee.markTail] = OutputMark(position: b.pointee.queuedBytes, value: value)
        b.pointee.markTail += 1
    }

    /// Appends bytes. Precondition: `bytes.count <= freeBytes` and a free segment (checked: a handler bug must not
    /// corrupt memory).
    @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer) {
        appendBytes(count: bytes.count) { dst in
            if let base = bytes.baseAddress { dst.baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
            return bytes.count
        }
    }

    /// Lets `body` write up to `maxCount` bytes in place; it returns how many it wrote. Used to render headers and
    /// to `pread` a small file body straight into the output.
    @inline(__always)
    public func appendBytes(count maxCount: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        let b = buffer
        precondition(maxCount <= b.pointee.capacity - b.pointee.used, "OutputWriter overflow")
        let start = b.pointee.used
        let written = body(UnsafeMutableRawBufferPointer(start: b.pointee.bytes + start, count: maxCount))
        precondition(written >= 0 && written <= maxCount)
        guard written > 0 else { return }
        b.pointee.used = start + written
        b.pointee.queuedBytes += written
        // Extend the last segment when it is memory that ends exactly here (the common case: header then inline
        // body, or several pipelined responses back to back) – one iovec instead of many.
        if b.pointee.tail > b.pointee.head {
            let last = b.pointee.segments + (b.pointee.tail - 1)
            if !last.pointee.isFile && last.pointee.external == nil && last.pointee.offset + last.pointee.length == start {
                last.pointee.length += written
                return
            }
        }
        precondition(b.pointee.tail < b.pointee.segmentCapacity, "OutputWriter out of segments")
        b.pointee.segments[b.pointee.tail] = OutputSegment(fd: -1, ownsFD: false, offset: start, length: written)
        b.pointee.tail += 1
    }

    /// Queues memory owned by `owner` without copying it. The segment retains `owner` until the bytes are sent
    /// (or the connection dies), so the owner – a cached body, say – may be evicted meanwhile without freeing
    /// bytes in flight. Cost: one retain and one release.
    @inline(__always)
    public func appendExternal(_ bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        let b = buffer
        precondition(b.pointee.tail < b.pointee.segmentCapacity, "OutputWriter out of segments")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        b.pointee.queuedBytes += bytes.count
        b.pointee.segments[b.pointee.tail] = OutputSegment(
            fd: -1, ownsFD: false, offset: 0, length: bytes.count, external: base,
            owner: Unmanaged.passRetained(owner).toOpaque())
        b.pointee.tail += 1
    }

    /// Queues `length` bytes of `fd` from `offset`, sent with `sendfile`. With `ownsFD` the engine closes `fd`
    /// after sending it or when the connection dies.
    @inline(__always)
    public func appendFile(fd: Int32, offset: Int, length: Int, ownsFD: Bool) {
        let b = buffer
        precondition(b.pointee.tail < b.pointee.segmentCapacity, "OutputWriter out of segments")
        guard length > 0 else {
            if ownsFD { Glibc.close(fd) }
            return
        }
        b.pointee.queuedBytes += length
        b.pointee.segments[b.pointee.tail] = OutputSegment(fd: fd, ownsFD: ownsFD, offset: offset, length: length)
        b.pointee.tail += 1
    }

    /// Queues a byte range of a file whose descriptor someone else owns (a cache of open files): the segment retains
    /// `owner`, which must keep `fd` open for as long as it lives, so no `dup`/`close` pair is paid per response and
    /// an eviction meanwhile cannot close the fd under a slow client. `mapping`: where `owner` keeps the whole file
    /// mapped (its offset 0), if it does; TLS without kernel TLS then copies from there instead of calling `pread`.
    @inline(__always)
    public func appendFile(fd: Int32, offset: Int, length: Int, owner: AnyObject, mapping: UnsafeRawPointer? = nil) {
        let b = buffer
        precondition(b.pointee.tail < b.pointee.segmentCapacity, "OutputWriter out of segments")
        guard length > 0 else { return }
        b.pointee.queuedBytes += length
        b.pointee.segments[b.pointee.tail] = OutputSegment(
            fd: fd, ownsFD: false, offset: offset, length: length, external: mapping,
            owner: Unmanaged.passRetained(owner).toOpaque())
        b.pointee.tail += 1
    }
}
