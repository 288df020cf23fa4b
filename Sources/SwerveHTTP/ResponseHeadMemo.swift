/// Response heads rendered recently, reused byte for byte while everything `ResponseHead.render` reads is unchanged:
/// every field of the head and the second its Date names. A keep-alive client fetching the same file gets the same
/// head for a whole second, so rendering it again (ETag hex, decimal lengths, a dozen field names, ~300 bytes) is
/// work thrown away; it was ~2% of a cached 1 KiB request's CPU (perf, cpu-clock sampling).
///
/// Never stale by construction: the key *is* the head (plus the second), compared field by field, so a head that
/// differs in anything is rendered afresh. Heads with fields that point into one request (Location) or change per
/// response (Content-Range, a multipart boundary, an echoed CORS origin) are not memoised at all. `contentType` and `cacheControl` are
/// compared by address and length, which is value equality only for bytes that never change while the memo lives:
/// callers take them from immutable tables (`MIMETable`, `CacheControlPolicy`, `HeaderRules`, static strings).
///
/// Direct-mapped, `slots` slots of `slotBytes` bytes (32 KiB per event loop, touched only as used); a collision
/// just renders again. Not thread-safe: one per event loop.
public struct ResponseHeadMemo: ~Copyable {
    static let slots = 64
    /// Heads longer than this are rendered every time (a file's 200 is 250–450 bytes).
    public static let slotBytes = 512

    /// Everything `ResponseHead.render` reads, for a head that can be memoised, packed into plain words: building
    /// and comparing it has to cost much less than rendering (an earlier key of optionals and enums cost ~60% of
    /// what it saved).
    public struct Key: Equatable {
        var second: UInt64
        /// Status code, coding, Connection, flags and the Server-Timing kind (see `init`).
        var shape: UInt64
        var contentLength: UInt64
        var lastModified: UInt64
        /// The ETag's four numbers (metadata: inode, size, mtime, ctime; content: the two digest halves).
        var etag0: UInt64, etag1: UInt64, etag2: UInt64, etag3: UInt64
        var contentType: UInt64, contentTypeCount: UInt64
        var cacheControl: UInt64, cacheControlCount: UInt64
        var extraFields: UInt64, extraFieldsCount: UInt64
        var serverTimingNanoseconds: UInt64

        /// nil for a head that is never memoised (see the type's comment).
        public init?(_ head: borrowing ResponseHead, second: Int) {
            guard head.location == nil, head.contentRange == nil, head.multipartBoundary == nil else { return nil }
            // An echoed Origin or requested headers point into one request's bytes.
            if let cors = head.cors, !cors.isStatic || cors.preflight { return nil }
            self.second = UInt64(bitPattern: Int64(second))
            contentLength = UInt64(bitPattern: Int64(head.contentLength))
            lastModified = head.lastModified.map { UInt64(bitPattern: Int64($0)) } ?? 0
            var flags: UInt64 = 0
            if head.lastModified != nil { flags |= 1 }
            if head.allow { flags |= 2 }
            if head.nosniff { flags |= 4 }
            if head.chunked { flags |= 8 }
            if head.acceptRanges { flags |= 16 }
            flags |= UInt64(head.vary.rawValue) << 9
            if head.cors != nil { flags |= 1 << 12 }
            etag0 = 0; etag1 = 0; etag2 = 0; etag3 = 0
            if let etag = head.etag {
                flags |= 32
                flags |= UInt64(etag.coding.rawValue) << 6   // bits 6–7
                if etag.recompressed { flags |= 1 << 13 }
                if etag.weak { flags |= 1 << 14 }
                switch etag.source {
                case .metadata(let inode, let size, let modified, let changed):
                    etag0 = inode; etag1 = size; etag2 = modified; etag3 = changed
                case .content(let high, let low):
                    flags |= 256
                    etag0 = high; etag1 = low
                }
            }
            var timing: UInt64 = 0
            serverTimingNanoseconds = 0
            switch head.serverTiming {
            case nil: timing = 0
            case .hit?: timing = 1
            case .miss(let nanoseconds)?: timing = 2; serverTimingNanoseconds = nanoseconds
            case .precompressed?: timing = 3
            case .stream?: timing = 4
            }
            shape = UInt64(head.status.code) | UInt64(head.contentEncoding.rawValue) << 16
                | UInt64(head.connection.rawValue) << 24 | flags << 32 | timing << 56
            contentType = UInt64(UInt(bitPattern: head.contentType?.baseAddress))
            contentTypeCount = UInt64(head.contentType?.count ?? 0)
            cacheControl = UInt64(UInt(bitPattern: head.cacheControl?.baseAddress))
            cacheControlCount = UInt64(head.cacheControl?.count ?? 0)
            extraFields = UInt64(UInt(bitPattern: head.extraFields?.baseAddress))
            extraFieldsCount = UInt64(head.extraFields?.count ?? 0)
        }

        /// The slot: a mix of the fields that tell the heads of one site's files and representations apart.
        var slot: Int {
            var h = (contentLength &+ etag0 &+ etag2 &+ etag3) &* 0x9E37_79B9_7F4A_7C15
            h ^= shape
            h &*= 0xBF58_476D_1CE4_E5B9
            return Int(truncatingIfNeeded: h >> 58)   // 6 bits: `slots` is 64
        }
    }

    private let keys: UnsafeMutablePointer<Key>
    /// Slots that hold a head (a fresh slot's zeroed key must not match anything).
    private let filled: UnsafeMutablePointer<Bool>
    private let lengths: UnsafeMutablePointer<Int>
    private let storage: UnsafeMutableRawPointer

    public init() {
        keys = .allocate(capacity: Self.slots)
        filled = .allocate(capacity: Self.slots)
        filled.initialize(repeating: false, count: Self.slots)
        lengths = .allocate(capacity: Self.slots)
        lengths.initialize(repeating: 0, count: Self.slots)
        storage = .allocate(byteCount: Self.slots * Self.slotBytes, alignment: 16)
    }

    deinit {
        keys.deallocate()
        filled.deallocate()
        lengths.deallocate()
        storage.deallocate()
    }

    /// The bytes rendered earlier for exactly this head and second, valid until the next `store`.
    @inline(__always)
    public func bytes(for key: Key) -> UnsafeRawBufferPointer? {
        let slot = key.slot
        guard filled[slot], keys[slot] == key else { return nil }
        return UnsafeRawBufferPointer(start: storage + slot * Self.slotBytes, count: lengths[slot])
    }

    /// Remembers `rendered` as the head for `key` (a head longer than `slotBytes` is not kept). Returns the bytes as
    /// kept, valid until the next `store`; nil when not kept.
    @discardableResult
    public func store(_ key: Key, _ rendered: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard rendered.count <= Self.slotBytes, let base = rendered.baseAddress else { return nil }
        let slot = key.slot
        let kept = storage + slot * Self.slotBytes
        kept.copyMemory(from: base, byteCount: rendered.count)
        lengths[slot] = rendered.count
        (keys + slot).initialize(to: key)
        filled[slot] = true
        return UnsafeRawBufferPointer(start: kept, count: rendered.count)
    }
}
