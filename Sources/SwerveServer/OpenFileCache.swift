import CSwerveSys
import Glibc
import SwerveCompression
import SwerveEngine
import SwerveHTTP

/// What a request path alone decides about its response, whatever the file holds: looked up in the site's immutable
/// tables, so it can be kept with the open-file cache's entry for that path.
struct PathTraits {
    var contentType: UnsafeRawBufferPointer
    var cacheControl: UnsafeRawBufferPointer?
    /// The media type is worth compressing (`MIMETable.isCompressible`); size and configuration decide the rest.
    var compressibleType: Bool
}

/// An open file as the response logic sees it: either owned by this request (closed when done) or borrowed from the
/// loop's `OpenFileCache` (never closed here; `cached` keeps it open while the engine sends from it).
struct OpenFile {
    var fd: Int32
    var owned: Bool
    var facts: FileFacts
    /// For a borrowed file: the cache's entry, which owns `fd`. One reference, so handing a hit around costs one
    /// retain rather than one per field.
    var cached: OpenFileCache.Entry? = nil

    init(fd: Int32, owned: Bool, facts: FileFacts) {
        self.fd = fd
        self.owned = owned
        self.facts = facts
    }

    init(cached entry: OpenFileCache.Entry) {
        fd = entry.fd
        owned = false
        facts = entry.facts
        cached = entry
    }

    /// The whole file, when it is small enough to keep in memory (identity bytes of exactly `facts`' version).
    var body: CompressedBody? { cached?.body }
    /// Which precompressed sidecars exist, once someone looked (kept with the cache entry, so re-checked whenever the
    /// entry is reopened: at least every `OpenFileCache.maximumAge` seconds).
    var sidecars: SidecarIndex.Entry? { cached?.sidecars }

    func close() {
        if owned { Glibc.close(fd) }
    }

    /// Queues `count` bytes from `offset` for sendfile. An owned fd is handed to the engine (closed after sending,
    /// so only the last of several segments may pass `last`); a cached one is kept open by its retained entry.
    func appendSendfile(to output: inout OutputWriter, offset: Int, count: Int, last: Bool) {
        if let cached {
            output.appendFile(fd: fd, offset: offset, length: count, owner: cached)
        } else {
            output.appendFile(fd: fd, offset: offset, length: count, ownsFD: owned && last)
        }
    }

    /// An fd the engine may own and close after sending: this one if owned, else a duplicate (the cache may close
    /// its own fd before a slow client has been sent every byte). -1 if the duplicate fails (EMFILE).
    func fdForEngine() -> Int32 {
        owned ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0)
    }
}

/// Per-loop cache of open files by request path, with small files' bytes in memory – nginx's open_file_cache,
/// but revalidated once per loop wake-up instead of trusted for a minute. A hit costs at most one `fstat` instead of
/// `openat2` + `fstat` + `pread` + `close`, which brings a small-file keep-alive request down to read + writev, plus
/// epoll_wait and fstat shared by the requests of one wake-up.
///
/// Freshness: a hit `fstat`s the cached fd. A rewrite in place changes size, mtime or ctime; a delete or a
/// replace-by-rename drops the old inode's link count to 0; any of these drops the entry and the path is opened
/// afresh. The check is made at most once per loop wake-up (`wakeup`); later hits in the same pass over the ready
/// connections trust it. A request sent after a change is read in a later wake-up – and sees the change – unless
/// its connection already had bytes waiting when the loop woke (a client pipelining behind an earlier request):
/// then it may be answered from a check made earlier in the same pass, microseconds old. Under load a wake-up
/// serves many requests (about nine per `epoll_wait` at 64 busy connections), so most hits skip the `fstat`.
/// What `fstat` on an open fd cannot see is the path now naming a different file while the old one lives on (a
/// parent directory renamed, a symlink re-pointed, a hard-linked file replaced): entries are therefore also
/// reopened after `maximumAge` seconds.
///
/// Not thread-safe: one per event loop, used only by that loop's handler.
final class OpenFileCache {
    /// Seconds an entry is trusted for path → file mapping (content changes are caught on every hit regardless).
    static let maximumAge = 1
    /// Entries at most; when full the cache is cleared wholesale (cheap, and a loop rarely serves more files).
    static let maximumEntries = 1024
    /// Bytes of small-file bodies held at most by one loop.
    static let maximumBodyBytes = 8 * 1024 * 1024

    /// The loop wake-up being served (`ProcessContext.wakeup`); the handler sets it before it handles input.
    var wakeup: UInt64 = 0

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
    final class Entry {
        let fd: Int32
        let facts: FileFacts
        let ctimeSeconds: Int64
        let ctimeNanoseconds: Int64
        let openedAt: Int
        /// The wake-up under which the entry was last found fresh.
        var checkedAt: UInt64
        let body: CompressedBody?
        var sidecars: SidecarIndex.Entry?
        /// Content-Type, Cache-Control and compressibility of this entry's path, once the handler looked them up.
        var traits: PathTraits?

        init(fd: Int32, facts: FileFacts, ctimeSeconds: Int64, ctimeNanoseconds: Int64, openedAt: Int, checkedAt: UInt64, body: CompressedBody?) {
            self.fd = fd
            self.facts = facts
            self.ctimeSeconds = ctimeSeconds
            self.ctimeNanoseconds = ctimeNanoseconds
            self.openedAt = openedAt
            self.checkedAt = checkedAt
            self.body = body
        }

        deinit { Glibc.close(fd) }
    }

    private var entries: [Key: Entry] = [:]
    private var bodyBytes = 0

    deinit { clear() }

    /// A valid cached file for `path`, or nil (then the caller opens it and may `insert`).
    func lookup(_ path: UnsafeRawBufferPointer, now: Int) -> OpenFile? {
        let key = Key(owned: nil, borrowed: path)
        guard let index = entries.index(forKey: key) else { return nil }
        let entry = entries.values[index]
        guard now - entry.openedAt <= Self.maximumAge else {
            remove(key)
            return nil
        }
        if entry.checkedAt != wakeup {
            var st = stat()
            guard fstat(entry.fd, &st) == 0, st.st_nlink > 0, FileFacts(&st) == entry.facts,
                  swerve_stat_ctime_sec(&st) == entry.ctimeSeconds, swerve_stat_ctime_nsec(&st) == entry.ctimeNanoseconds
            else {
                remove(key)
                return nil
            }
            entry.checkedAt = wakeup
        }
        return OpenFile(cached: entry)
    }

    /// Takes over `file` (which must be owned) for `path` and returns the borrowed view the request should use.
    /// Small files (up to `bodyLimit`) are read into memory once here.
    func insert(_ path: UnsafeRawBufferPointer, _ file: OpenFile, now: Int, bodyLimit: Int) -> OpenFile {
        var st = stat()
        guard file.owned, fstat(file.fd, &st) == 0 else { return file }
        if entries.count >= Self.maximumEntries || bodyBytes >= Self.maximumBodyBytes { clear() }
        var body: CompressedBody?
        if file.facts.size <= bodyLimit {
            body = Self.read(file.fd, count: file.facts.size)
            // A short read: the file changed under us. Serve from the fd this time and do not cache it.
            guard body != nil else { return file }
            bodyBytes += file.facts.size
        }
        let key = Key(owned: Array(path), borrowed: nil)
        remove(key)
        let entry = Entry(
            fd: file.fd, facts: file.facts, ctimeSeconds: swerve_stat_ctime_sec(&st),
            ctimeNanoseconds: swerve_stat_ctime_nsec(&st), openedAt: now, checkedAt: wakeup, body: body)
        entries[key] = entry
        return OpenFile(cached: entry)
    }

    func clear() {
        // Dropping the entries releases them; each closes its fd once no queued segment holds it any more.
        entries.removeAll(keepingCapacity: true)
        bodyBytes = 0
    }

    private func remove(_ key: Key) {
        guard let entry = entries.removeValue(forKey: key) else { return }
        bodyBytes -= entry.body?.count ?? 0
    }

    private static func read(_ fd: Int32, count: Int) -> CompressedBody? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        defer { buffer.deallocate() }
        guard readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), at: 0) else { return nil }
        return CompressedBody(copying: UnsafeRawBufferPointer(rebasing: buffer[0..<count]), identityLength: count, compressNanoseconds: 0)
    }
}
