import CSwerveSys
import Glibc

/// What a request path alone decides about its response, whatever the file holds: looked up in the site's immutable
/// tables (MIME types, Cache-Control rules), so it can be kept with the open-file cache's entry for that path.
public struct PathTraits {
    public var contentType: UnsafeRawBufferPointer
    public var cacheControl: UnsafeRawBufferPointer?
    /// The media type is worth compressing (`MIMETable.isCompressible`); size and configuration decide the rest.
    public var compressibleType: Bool
    /// The site's `--header` field lines for this path (`HeaderRules.fields(for:)`), if any rule matches.
    public var extraFields: UnsafeRawBufferPointer?

    public init(
        contentType: UnsafeRawBufferPointer, cacheControl: UnsafeRawBufferPointer?, compressibleType: Bool,
        extraFields: UnsafeRawBufferPointer? = nil
    ) {
        self.contentType = contentType
        self.cacheControl = cacheControl
        self.compressibleType = compressibleType
        self.extraFields = extraFields
    }
}

/// An open file as the response logic sees it: either owned by this request (closed when done) or borrowed from the
/// loop's `OpenFileCache` (never closed here; `cached` keeps it open while the engine sends from it).
public struct OpenFile {
    public var fd: Int32
    public var owned: Bool
    public var identity: FileIdentity
    /// For a borrowed file: the cache's entry, which owns `fd`. One reference, so handing a hit around costs one
    /// retain rather than one per field.
    public var cached: OpenFileCache.Entry? = nil

    public init(fd: Int32, owned: Bool, identity: FileIdentity) {
        self.fd = fd
        self.owned = owned
        self.identity = identity
    }

    init(cached entry: OpenFileCache.Entry) {
        fd = entry.fd
        owned = false
        identity = entry.identity
        cached = entry
    }

    /// The whole file, when it is small enough to keep in memory (exactly the bytes of `identity`).
    public var body: FileBytes? { cached?.body }
    /// Which precompressed sidecars exist, once someone looked (kept with the cache entry, so re-checked whenever the
    /// entry is reopened: at least every `OpenFileCache.maximumAgeMilliseconds`).
    public var sidecars: SidecarIndex.Entry? { cached?.sidecars }

    public func close() {
        if owned { Glibc.close(fd) }
    }

    /// An fd the engine may own and close after sending: this one if owned, else a duplicate (the cache may close
    /// its own fd before a slow client has been sent every byte). -1 if the duplicate fails (EMFILE).
    public func fdForEngine() -> Int32 {
        owned ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0)
    }
}

/// A small file's bytes, read once into a malloc'd block and shared by the open-file cache and the responses still
/// being written from it (the engine retains the object while its bytes are queued). Immutable after `init`.
///
/// `@unchecked Sendable`: `bytes` is written once, inside the initializer, and only read afterwards; it is freed in
/// `deinit`, which runs when no holder is left.
public final class FileBytes: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer

    /// `count` bytes of `fd` from offset 0, or nil if the file ended first (it shrank) or the read failed.
    init?(fd: Int32, count: Int) {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        guard readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: block[0..<count]), at: 0) else {
            block.deallocate()
            return nil
        }
        bytes = UnsafeRawBufferPointer(rebasing: block[0..<count])
    }

    deinit { UnsafeMutableRawPointer(mutating: bytes.baseAddress!).deallocate() }

    public var count: Int { bytes.count }
}

/// Per-loop cache of open files by request path, with small files' bytes in memory – nginx's open_file_cache,
/// with its `valid=` at one second and every hit's content re-checked. A hit costs at most one statx instead of
/// `openat2` + statx + `pread` + `close`, which brings a small-file keep-alive request down to read + writev, plus
/// epoll_wait and the statx shared by the requests of one wake-up.
///
/// Freshness, for every way a deploy changes a file:
/// - **Content** (a rewrite in place, with or without the old mtime put back; a truncate) and **replacement** (a
///   delete, a rename over the path – even while the old inode lives on under another hard link): a hit statxes the
///   cached fd and compares the whole `FileIdentity` (size, mtime, ctime with nanoseconds) and the link count. A
///   replaced inode loses a link, which moves its ctime. Either drops the entry and the path is opened afresh. The check
///   is made at most once per pass of the loop over arrived input (`pass`: a return from `epoll_wait`, or a connection
///   served as it is accepted); later hits in the same pass trust it. A request sent after a
///   change is read in a later pass – and sees the change – unless its connection already had bytes waiting when the
///   pass began (a client pipelining behind an earlier request): then it may be answered from a check made earlier in
///   the same pass, microseconds old. Under load a pass serves many requests (about nine per `epoll_wait` at 64 busy
///   connections), so most hits skip the statx.
/// - **The path** now naming another file while the old one is untouched (a parent directory renamed aside and
///   another moved in, a symlink re-pointed): statx on an open fd cannot see that, so an entry is trusted for
///   `maximumAgeMilliseconds` and then reopened.
/// - **Bytes kept in memory** are read only from a settled file (`FileIdentity.isSettled(before:)`): a file changed
///   within the current clock tick is served from its fd, live, until its ctime is in the past.
///
/// Hygiene: the loop's tick (`evictExpired`) closes every entry past its age, used or not, so a deleted file's space
/// and descriptor are released within about a second even when nobody asks for it again. When full, the least
/// recently used eighth is closed (nginx closes its least recently used entry too); entries still being sent from
/// stay open until their last segment is out, as each segment retains its entry.
///
/// Not thread-safe: one per event loop, used only by that loop's handler.
public final class OpenFileCache {
    /// How long an entry's path → file mapping is trusted (content changes are caught on every hit regardless), and
    /// how long an unused entry keeps its descriptor: nginx's `valid=` and `inactive=` in one.
    public static let maximumAgeMilliseconds: Int64 = 1000
    /// Entries at most per loop: a site's working set within one second. Beyond it the least recently used go.
    public static let maximumEntries = 1024
    /// How many entries one eviction closes when the cache is full: an eighth, so the scan that finds them (one pass
    /// over the table, a partial sort) is paid once per `maximumEntries / 8` inserts, not per insert.
    static let evictionBatch = maximumEntries / 8
    /// Bytes of small-file bodies held at most by one loop.
    public static let maximumBodyBytes = 8 * 1024 * 1024

    /// The loop's pass being served (`ProcessContext.pass`); the handler sets it before it handles input.
    public var pass: UInt64 = 0

    struct Key: Hashable {
        /// Owned bytes for stored keys; lookups use `borrowed` and never allocate.
        var owned: [UInt8]?
        var borrowed: UnsafeRawBufferPointer?

        static func == (a: Key, b: Key) -> Bool {
            a.withBytes { x in b.withBytes { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) } }
        }

        func hash(into hasher: inout Hasher) {
            withBytes { hasher.combine(bytes: $0) }
        }

        func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            if let borrowed { return body(borrowed) }
            return owned!.withUnsafeBytes(body)
        }
    }

    /// One cached file. It owns the fd: the cache holds the entry, and every queued sendfile segment of the file
    /// retains it, so evicting the entry never closes an fd a response is still being sent from.
    public final class Entry {
        public let fd: Int32
        public let identity: FileIdentity
        /// Monotonic milliseconds of the open.
        let openedAt: Int64
        /// Monotonic milliseconds of the last hit (or the open), for LRU eviction.
        var usedAt: Int64
        /// The pass (`pass`) under which the entry was last found fresh.
        var checkedAt: UInt64
        public let body: FileBytes?
        public var sidecars: SidecarIndex.Entry?
        /// Content-Type, Cache-Control and compressibility of this entry's path, once the handler looked them up.
        public var traits: PathTraits?
        /// Whether the cache still holds the entry: false once it was removed (evicted, expired, found changed,
        /// or the cache cleared), after which it is never served again, though its holders may keep it open.
        public internal(set) var isCached = true

        init(fd: Int32, identity: FileIdentity, openedAt: Int64, checkedAt: UInt64, body: FileBytes?) {
            self.fd = fd
            self.identity = identity
            self.openedAt = openedAt
            self.usedAt = openedAt
            self.checkedAt = checkedAt
            self.body = body
        }

        deinit { Glibc.close(fd) }
    }

    private var entries: [Key: Entry] = [:]
    private var bodyBytes = 0
    /// Paths found missing (the open failed with ENOENT), with the monotonic milliseconds of that open: for
    /// `maximumAgeMilliseconds` a request for one is answered 404 without another failed `openat2` (nginx's
    /// `open_file_cache_errors`). A file created at such a path is served within that age.
    private var missing: [Key: Int64] = [:]

    public init() {}

    deinit { clear() }

    /// Entries held now (open files; known-missing paths are not counted).
    public var count: Int { entries.count }

    /// A valid cached file for `path`, or nil (then the caller opens it and may `insert`). `now`: monotonic ms.
    public func lookup(_ path: UnsafeRawBufferPointer, now: Int64) -> OpenFile? {
        let key = Key(owned: nil, borrowed: path)
        guard let index = entries.index(forKey: key) else { return nil }
        let entry = entries.values[index]
        guard isFresh(entry, now: now) else {
            remove(key)
            return nil
        }
        return OpenFile(cached: entry)
    }

    /// Whether `entry`, found earlier, may be served now exactly as `lookup` would serve it: still in the cache, within
    /// its age, and checked (statx on its fd) in this pass. Counts as a hit for LRU. An entry that fails stays until
    /// the `lookup` that follows (or the tick) removes it. For holders of an entry that skip the path lookup
    /// (`AnswerMemo`): they get the same freshness as every hit.
    public func isFresh(_ entry: Entry, now: Int64) -> Bool {
        guard entry.isCached, now - entry.openedAt < Self.maximumAgeMilliseconds else { return false }
        if entry.checkedAt != pass {
            guard let status = FileStatus.of(fd: entry.fd), status.links > 0, status.identity == entry.identity else {
                return false
            }
            entry.checkedAt = pass
        }
        entry.usedAt = now
        return true
    }

    /// Whether `path` was found missing less than `maximumAgeMilliseconds` ago (`recordMissing`).
    public func isKnownMissing(_ path: UnsafeRawBufferPointer, now: Int64) -> Bool {
        guard !missing.isEmpty else { return false }
        let key = Key(owned: nil, borrowed: path)
        guard let index = missing.index(forKey: key) else { return false }
        if now - missing.values[index] < Self.maximumAgeMilliseconds { return true }
        missing.remove(at: index)
        return false
    }

    /// Remembers that opening `path` found nothing. Bounded like the entries: when full, the oldest eighth goes.
    public func recordMissing(_ path: UnsafeRawBufferPointer, now: Int64) {
        if missing.count >= Self.maximumEntries {
            let oldest = missing.sorted { $0.value < $1.value }.prefix(Self.evictionBatch).map(\.key)
            for key in oldest { missing.removeValue(forKey: key) }
        }
        missing[Key(owned: Array(path), borrowed: nil)] = now
    }

    /// Takes over `file` (which must be owned) for `path` and returns the borrowed view the request should use.
    /// Small files (up to `bodyLimit`) are read into memory once here, if settled as of `clock` (a
    /// `FileTime.coarseNow()` reading taken before `file` was opened; see `FileIdentity.isSettled(before:)`).
    public func insert(_ path: UnsafeRawBufferPointer, _ file: OpenFile, now: Int64, clock: FileTime, bodyLimit: Int) -> OpenFile {
        guard file.owned else { return file }
        let key = Key(owned: Array(path), borrowed: nil)
        remove(key)
        if entries.count >= Self.maximumEntries { evictLeastRecentlyUsed(Self.evictionBatch) }
        var body: FileBytes?
        if file.identity.size <= bodyLimit && file.identity.isSettled(before: clock) {
            if bodyBytes + file.identity.size > Self.maximumBodyBytes {
                evictBodies(needing: file.identity.size)
            }
            body = FileBytes(fd: file.fd, count: file.identity.size)
            // A short read: the file changed under us. Serve from the fd this time and do not cache it.
            guard body != nil else { return file }
            // Read after the identity was taken: the identity must still be the one the bytes belong to.
            guard let after = FileIdentity.of(fd: file.fd), after == file.identity else { return file }
            bodyBytes += file.identity.size
        }
        let entry = Entry(fd: file.fd, identity: file.identity, openedAt: now, checkedAt: pass, body: body)
        entries[key] = entry
        return OpenFile(cached: entry)
    }

    /// Closes every entry past `maximumAgeMilliseconds` (they would be reopened on their next hit anyway); the loop
    /// calls this on its tick. Returns whether entries remain (the loop keeps ticking while they do). Cost: one pass
    /// over the entries, each tick while any are held.
    @discardableResult
    public func evictExpired(now: Int64) -> Bool {
        if !missing.isEmpty {
            missing = missing.filter { now - $0.value < Self.maximumAgeMilliseconds }
        }
        guard !entries.isEmpty else { return !missing.isEmpty }
        var expired: [Key] = []
        for (key, entry) in entries where now - entry.openedAt >= Self.maximumAgeMilliseconds {
            expired.append(key)
        }
        for key in expired { remove(key) }
        return !entries.isEmpty || !missing.isEmpty
    }

    public func clear() {
        // Dropping the entries releases them; each closes its fd once no queued segment holds it any more.
        for entry in entries.values { entry.isCached = false }
        entries.removeAll(keepingCapacity: true)
        missing.removeAll(keepingCapacity: true)
        bodyBytes = 0
    }

    private func remove(_ key: Key) {
        guard let entry = entries.removeValue(forKey: key) else { return }
        entry.isCached = false
        bodyBytes -= entry.body?.count ?? 0
    }

    /// Closes the `count` least recently used entries. Cost: one pass and a sort of the table (1,024 entries:
    /// tens of microseconds), paid once per `count` inserts.
    private func evictLeastRecentlyUsed(_ count: Int) {
        let victims = entries.sorted { $0.value.usedAt < $1.value.usedAt }.prefix(count).map(\.key)
        for key in victims { remove(key) }
    }

    /// Closes least recently used entries that hold bodies until `size` more body bytes fit.
    private func evictBodies(needing size: Int) {
        let holders = entries.filter { $0.value.body != nil }.sorted { $0.value.usedAt < $1.value.usedAt }
        for (key, _) in holders where bodyBytes + size > Self.maximumBodyBytes {
            remove(key)
        }
    }
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR, and waiting out EAGAIN (a non-blocking descriptor,
/// such as an inherited standard output) with `poll`: for threads that may block, never an event loop. Returns 0,
/// or the errno of the write that failed.
public func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n > 0 { done += n; continue }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&ready, 1, 1000)
            continue
        }
        return n < 0 ? errno : EIO
    }
    return 0
}

/// `pread`s exactly `buffer.count` bytes from `offset`, retrying short reads and EINTR. False if the file ended
/// first or the read failed (the caller treats that as "the file changed under us").
public func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
    var done = 0
    while done < buffer.count {
        let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
        if n > 0 { done += n; continue }
        if n < 0 && errno == EINTR { continue }
        return false
    }
    return true
}
