import Glibc
import SwerveEngine
import SwerveFiles
import SwerveHTTP

/// Whole answers to requests repeated within one second: a small file's 200, replayed byte for byte for the next
/// request whose head is the same bytes, without asking the planner again. A keep-alive or HTTP/2 client fetching
/// the same file sends the same head every time; parsing, resolving, looking up, planning and rendering it again is ~4,500 instructions
/// of an HTTP/2 1 KiB request's ~28,000 (Benchmarks/h2-instructions.sh), for the answer it got a moment ago.
///
/// Never stale, because an answer is kept only where everything the planner read is in its key or its file:
/// - **The request**: the key is the whole head, every byte (method, target, every field: Accept-Encoding, Range,
///   the preconditions, Origin...), with the Connection field the response carries and whether a body followed.
/// - **The clock**: the second the head's Date names. An answer from another second is never replayed, so Date and
///   every decision that reads the time (If-Modified-Since against now) are those of a fresh answer.
/// - **The file**: its `OpenFileCache.Entry`, which must pass `OpenFileCache.isFresh` on every replay: the same
///   checks as every open-file cache hit (statx once per pass, the entry's age), so a replay sees a deploy exactly
///   when a planned answer would. The body is the entry's immutable in-memory bytes.
/// - **The site**: its configuration is immutable while the server runs, and a moved root clears the open-file
///   cache, which fails every entry.
/// Only answers that depend on nothing else are stored (`HTTPHandler.isMemoizable`, and `send`): the path's own file
/// (not a fallback, an error page or a sidecar), served as it is (identity) and whole, from a request that did not
/// wait for compression; with a head `ResponseHeadMemo` keeps (no Location, Content-Range, boundary or echoed CORS
/// origin). What a replay must leave for the request's record (status, head size, cache) is kept with it.
///
/// Direct-mapped, `slots` slots, each with room for a head of `requestBytes` and a response head of
/// `ResponseHeadMemo.slotBytes` (96 KiB per loop, touched only as used); a collision just plans again. A slot holds
/// its file weakly, so it never keeps a file open that the cache closed. Not thread-safe: one per event loop.
final class AnswerMemo {
    static let slots = 64
    /// Request heads longer than this are planned every time (h2load's is ~90 bytes, a browser's ~600).
    static let requestBytes = 1024
    static let headBytes = ResponseHeadMemo.slotBytes

    /// What a replay leaves for the request's record: what `writeHead` and `send` would have set.
    struct Outcome {
        var status: Int
        var headBytes: Int
        var coding: ContentCoding
        var cache: AccessLogCache
    }

    private struct Slot {
        /// 0: empty.
        var requestLength = 0
        var hash: UInt64 = 0
        var second = 0
        var connection = ResponseHead.ConnectionField.none
        var hasBody = false
        /// Weak: the open-file cache alone decides how long a file stays open (a deleted file's descriptor and
        /// space are let go when the cache drops it, not when this slot is overwritten).
        weak var entry: OpenFileCache.Entry?
        /// The body's bytes within `entry.body`; empty for a HEAD.
        var body: Range<Int> = 0..<0
        /// Its `headBytes` is the length of the response head kept in the slot.
        var outcome = Outcome(status: 0, headBytes: 0, coding: .identity, cache: .none)
    }

    private let table: UnsafeMutablePointer<Slot>
    /// Per slot: `requestBytes` of request head, then `headBytes` of response head.
    private let storage: UnsafeMutableRawPointer
    private static let slotStorage = requestBytes + headBytes

    init() {
        table = .allocate(capacity: Self.slots)
        table.initialize(repeating: Slot(), count: Self.slots)
        storage = .allocate(byteCount: Self.slots * Self.slotStorage, alignment: 16)
    }

    deinit {
        table.deinitialize(count: Self.slots)
        table.deallocate()
        storage.deallocate()
    }

    /// A hash of the request head, eight bytes at a time (a head is tens to hundreds of bytes; a byte loop cost
    /// more than the compare it guards).
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = UInt64(truncatingIfNeeded: bytes.count) &* 0x9E37_79B9_7F4A_7C15
        var offset = 0
        while offset + 8 <= bytes.count {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 29
            offset += 8
        }
        var tail: UInt64 = 0
        while offset < bytes.count {
            tail = tail << 8 | UInt64(bytes[offset])
            offset += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }

    private static func slot(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: hash >> 58) }   // 6 bits: `slots` is 64

    /// Queues the answer stored for exactly this request head, connection field, body and second, if its file is
    /// still fresh in `files` (`OpenFileCache.isFresh`); nil when there is none (then the request is planned).
    func replay(
        _ request: UnsafeRawBufferPointer, connection: ResponseHead.ConnectionField, hasBody: Bool, second: Int,
        files: OpenFileCache, now: Int64, output: inout OutputWriter
    ) -> Outcome? {
        guard request.count <= Self.requestBytes, let base = request.baseAddress else { return nil }
        let hash = Self.hash(request)
        let index = Self.slot(hash)
        let slot = table + index
        guard slot.pointee.hash == hash, slot.pointee.requestLength == request.count, slot.pointee.second == second,
              slot.pointee.connection == connection, slot.pointee.hasBody == hasBody else { return nil }
        let bytes = storage + index * Self.slotStorage
        guard memcmp(bytes, base, request.count) == 0, let entry = slot.pointee.entry, files.isFresh(entry, now: now) else {
            return nil
        }
        let body = slot.pointee.body
        // `store` had the bytes, and an entry's bytes never change.
        let fileBytes = entry.body
        guard body.isEmpty || fileBytes != nil else { return nil }
        output.append(UnsafeRawBufferPointer(start: bytes + Self.requestBytes, count: slot.pointee.outcome.headBytes))
        if !body.isEmpty, let fileBytes {
            output.appendExternal(UnsafeRawBufferPointer(rebasing: fileBytes.bytes[body]), owner: fileBytes)
        }
        return slot.pointee.outcome
    }

    /// Keeps the answer just queued for `request`: its rendered `head`, then `body` of `entry`'s in-memory bytes
    /// (which must hold them); `outcome.headBytes` is `head`'s length. A request or head too long for a slot is not
    /// kept.
    func store(
        _ request: UnsafeRawBufferPointer, connection: ResponseHead.ConnectionField, hasBody: Bool, second: Int,
        head: UnsafeRawBufferPointer, entry: OpenFileCache.Entry, body: Range<Int>, outcome: Outcome
    ) {
        guard request.count <= Self.requestBytes, head.count <= Self.headBytes,
              let requestBase = request.baseAddress, let headBase = head.baseAddress else { return }
        precondition(body.isEmpty || body.upperBound <= (entry.body?.count ?? 0), "a memoised body outside its file's bytes")
        precondition(outcome.headBytes == head.count, "a memoised answer's record names another head length")
        let hash = Self.hash(request)
        let index = Self.slot(hash)
        let bytes = storage + index * Self.slotStorage
        bytes.copyMemory(from: requestBase, byteCount: request.count)
        (bytes + Self.requestBytes).copyMemory(from: headBase, byteCount: head.count)
        table[index] = Slot(
            requestLength: request.count, hash: hash, second: second, connection: connection, hasBody: hasBody,
            entry: entry, body: body, outcome: outcome)
    }
}
