import Glibc
import SwerveTestSupport
import Testing

@testable import SwerveFiles

/// The loop's open-file cache: re-checked with statx once per pass of the loop (`ProcessContext.pass`), trusted for
/// `maximumAgeMilliseconds`, closed on the tick once older, least recently used first when full. Every clock here is
/// injected: `now` is the loop's monotonic milliseconds, `clock` its coarse real-time reading.
@Suite("OpenFileCache")
struct OpenFileCacheTests {
    /// A temporary directory, removed when the value dies.
    final class Directory {
        let path: String

        init() throws {
            path = try makeTemporaryDirectory("swerve-ofc")
        }

        deinit { removeTree(path) }

        func file(_ name: String) -> String { path + "/" + name }
    }

    /// A clock reading far in the future: every file is settled before it.
    static let settledClock = FileTime(seconds: Int64(Int32.max), nanoseconds: 0)

    /// Opens `path` as the resolver would and inserts it under `name` at `now`.
    @discardableResult
    static func insert(
        _ cache: OpenFileCache, _ name: String, path: String, now: Int64, clock: FileTime = settledClock, bodyLimit: Int = 0
    ) throws -> OpenFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0, let identity = FileIdentity.of(fd: fd) else { throw FilesTestFailure("cannot open \(path)") }
        let inserted = Array(name.utf8).withUnsafeBytes {
            cache.insert($0, OpenFile(fd: fd, owned: true, identity: identity), now: now, clock: clock, bodyLimit: bodyLimit)
        }
        #expect(inserted.owned == false)  // the cache took the fd over
        return inserted
    }

    static func lookup(_ cache: OpenFileCache, _ name: String, now: Int64) -> OpenFile? {
        Array(name.utf8).withUnsafeBytes { cache.lookup($0, now: now) }
    }

    static func append(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    @Test("a path found missing is known missing for maximumAgeMilliseconds, then looked up again; the tick forgets it")
    func knownMissing() {
        let cache = OpenFileCache()
        let path = Array("no/such/file.html".utf8)
        path.withUnsafeBytes { name in
            #expect(!cache.isKnownMissing(name, now: 1000))
            cache.recordMissing(name, now: 1000)
            #expect(cache.isKnownMissing(name, now: 1000))
            #expect(cache.isKnownMissing(name, now: 1000 + OpenFileCache.maximumAgeMilliseconds - 1))
            // Past the age: the caller opens again, so a file created meanwhile is served.
            #expect(!cache.isKnownMissing(name, now: 1000 + OpenFileCache.maximumAgeMilliseconds))
            cache.recordMissing(name, now: 5000)
            // The tick keeps ticking while such entries are held, and drops them at their age.
            #expect(cache.evictExpired(now: 5000 + OpenFileCache.maximumAgeMilliseconds - 1))
            #expect(!cache.evictExpired(now: 5000 + OpenFileCache.maximumAgeMilliseconds))
            #expect(!cache.isKnownMissing(name, now: 5001))
            cache.recordMissing(name, now: 6000)
            cache.clear()
            #expect(!cache.isKnownMissing(name, now: 6001))
        }
        // Bounded: a flood of different missing paths keeps at most maximumEntries of them.
        for k in 0..<(OpenFileCache.maximumEntries + 10) {
            Array("missing-\(k)".utf8).withUnsafeBytes { cache.recordMissing($0, now: 7000 + Int64(k)) }
        }
        let newest = Array("missing-\(OpenFileCache.maximumEntries + 9)".utf8)
        let oldest = Array("missing-0".utf8)
        #expect(newest.withUnsafeBytes { cache.isKnownMissing($0, now: 8000) })
        #expect(!oldest.withUnsafeBytes { cache.isKnownMissing($0, now: 8000) })
    }

    @Test("a change is seen under the next pass; within the one that checked, the check stands")
    func checkedOncePerPass() throws {
        let directory = try Directory()
        let path = directory.file("a.txt")
        try writeFile(path, Array(repeating: 0x61, count: 100))
        let cache = OpenFileCache()
        cache.pass = 7
        try Self.insert(cache, "a.txt", path: path, now: 0)
        // Unchanged: a hit under the same pass, and again under the next (re-checked, still fresh).
        #expect(Self.lookup(cache, "a.txt", now: 0)?.identity.size == 100)
        cache.pass = 8
        #expect(Self.lookup(cache, "a.txt", now: 0)?.identity.size == 100)
        // The file grows after pass 8 checked it: requests handled under 8 keep that check...
        Self.append(path, [0x62])
        #expect(Self.lookup(cache, "a.txt", now: 0)?.identity.size == 100)
        // ...and the first lookup under pass 9 sees the change and drops the entry.
        cache.pass = 9
        #expect(Self.lookup(cache, "a.txt", now: 0) == nil)
        #expect(Self.lookup(cache, "a.txt", now: 0) == nil)
    }

    @Test("a same-size rewrite that puts the old mtime back is a miss under the next pass (the ctime moved)")
    func restoredMtimeIsSeen() throws {
        let directory = try Directory()
        let path = directory.file("a.txt")
        try writeFile(path, Array("version one".utf8))
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 5), timespec(tv_sec: 1_600_000_000, tv_nsec: 5)]
        utimensat(AT_FDCWD, path, &times, 0)
        let cache = OpenFileCache()
        cache.pass = 1
        let first = try Self.insert(cache, "a.txt", path: path, now: 0)
        try waitUntilSettled(first.identity)
        // cp -p: same inode, other bytes of the same size, the old mtime back.
        try writeFile(path, Array("version two".utf8), truncate: true)
        utimensat(AT_FDCWD, path, &times, 0)
        let now = try #require(FileIdentity.of(path: path))
        #expect(now.inode == first.identity.inode && now.size == first.identity.size && now.modified == first.identity.modified)
        #expect(now.changed != first.identity.changed)
        cache.pass = 2
        #expect(Self.lookup(cache, "a.txt", now: 1) == nil)
    }

    @Test("an entry is trusted for maximumAgeMilliseconds, then reopened, even under one pass")
    func maximumAge() throws {
        let directory = try Directory()
        let path = directory.file("a.txt")
        try writeFile(path, Array(repeating: 0x61, count: 10))
        let cache = OpenFileCache()
        try Self.insert(cache, "a.txt", path: path, now: 100_000)
        #expect(Self.lookup(cache, "a.txt", now: 100_000 + OpenFileCache.maximumAgeMilliseconds - 1) != nil)
        #expect(Self.lookup(cache, "a.txt", now: 100_000 + OpenFileCache.maximumAgeMilliseconds) == nil)
    }

    @Test("isFresh holds an entry found earlier to every check a lookup makes: its pass, its age, its removal")
    func entryFoundEarlierIsFresh() throws {
        let directory = try Directory()
        let path = directory.file("a.txt")
        try writeFile(path, Array(repeating: 0x61, count: 100))
        let cache = OpenFileCache()
        cache.pass = 1
        let entry = try #require(try Self.insert(cache, "a.txt", path: path, now: 0).cached)
        #expect(entry.isCached && cache.isFresh(entry, now: 0))
        // Changed after pass 1 checked it: still fresh under pass 1, not under pass 2 (as `lookup`).
        Self.append(path, [0x62])
        #expect(cache.isFresh(entry, now: 1))
        cache.pass = 2
        #expect(!cache.isFresh(entry, now: 1))
        // The lookup that follows drops it; then it is never fresh again, even unchanged under a new pass.
        #expect(Self.lookup(cache, "a.txt", now: 1) == nil)
        #expect(!entry.isCached)
        cache.pass = 3
        #expect(!cache.isFresh(entry, now: 1))

        // Past its age, and once replaced, evicted by the tick or cleared.
        let second = try #require(try Self.insert(cache, "a.txt", path: path, now: 10).cached)
        #expect(cache.isFresh(second, now: 10 + OpenFileCache.maximumAgeMilliseconds - 1))
        #expect(!cache.isFresh(second, now: 10 + OpenFileCache.maximumAgeMilliseconds))
        let third = try #require(try Self.insert(cache, "a.txt", path: path, now: 20).cached)
        #expect(!second.isCached && !cache.isFresh(second, now: 20))
        #expect(cache.isFresh(third, now: 20))
        cache.evictExpired(now: 20 + OpenFileCache.maximumAgeMilliseconds)
        #expect(!third.isCached && !cache.isFresh(third, now: 21))
        let fourth = try #require(try Self.insert(cache, "a.txt", path: path, now: 30).cached)
        cache.clear()
        #expect(!fourth.isCached && !cache.isFresh(fourth, now: 30))
    }

    @Test("the tick closes every entry past its age, requested again or not: a deleted file's descriptor is let go")
    func tickClosesExpiredEntries() throws {
        let directory = try Directory()
        let cache = OpenFileCache()
        weak var deletedEntry: OpenFileCache.Entry?
        for (index, name) in ["old.txt", "young.txt"].enumerated() {
            let path = directory.file(name)
            try writeFile(path, Array(name.utf8))
            let inserted = try Self.insert(cache, name, path: path, now: Int64(index) * 500)
            if index == 0 { deletedEntry = inserted.cached }
        }
        unlink(directory.file("old.txt"))
        #expect(deletedEntry != nil)
        // 999 ms after the first open: nothing is old enough.
        #expect(cache.evictExpired(now: OpenFileCache.maximumAgeMilliseconds - 1))
        #expect(cache.count == 2)
        // At its age the deleted file's entry is closed (its deinit closes the fd), the younger one stays.
        #expect(cache.evictExpired(now: OpenFileCache.maximumAgeMilliseconds))
        #expect(cache.count == 1)
        #expect(deletedEntry == nil)
        // And once the last entry is past its age, nothing is left to tick for.
        #expect(!cache.evictExpired(now: 500 + OpenFileCache.maximumAgeMilliseconds))
        #expect(cache.count == 0)
    }

    @Test("a full cache closes its least recently used eighth, not everything; a held entry stays open until let go")
    func leastRecentlyUsedEviction() throws {
        let directory = try Directory()
        let path = directory.file("a.txt")
        try writeFile(path, Array("shared".utf8))
        let cache = OpenFileCache()
        let total = OpenFileCache.maximumEntries
        // Name i is opened at millisecond i/2 (all within one maximum age); every even name is used again later,
        // so the least recently used are the odd names, oldest first.
        var held: OpenFile? = nil
        for i in 0..<total {
            let file = try Self.insert(cache, "f\(i)", path: path, now: Int64(i / 2))
            if i == 1 { held = file }  // a response still being sent from entry 1
        }
        for i in stride(from: 0, to: total, by: 2) {
            #expect(Self.lookup(cache, "f\(i)", now: 600 + Int64(i / 8)) != nil)
        }
        weak let heldEntry = held?.cached
        #expect(cache.count == total)
        let end: Int64 = 900
        try Self.insert(cache, "new", path: path, now: end)
        let batch = OpenFileCache.evictionBatch
        #expect(cache.count == total - batch + 1)
        // The first `batch` odd names are gone, every other entry is still there.
        for k in 0..<batch { #expect(Self.lookup(cache, "f\(2 * k + 1)", now: end) == nil) }
        #expect(Self.lookup(cache, "f\(2 * batch + 1)", now: end) != nil)
        for i in stride(from: 0, to: total, by: 2) { #expect(Self.lookup(cache, "f\(i)", now: end) != nil) }
        // Entry 1 was evicted, but the response holding it keeps its fd open and readable.
        #expect(heldEntry != nil)
        var byte: UInt8 = 0
        #expect(pread(held!.fd, &byte, 1, 0) == 1 && byte == UInt8(ascii: "s"))
        held = nil
        #expect(heldEntry == nil)
    }

    @Test("bytes are kept in memory only for a settled file (ctime before the clock read before the open)")
    func bodiesOnlyForSettledFiles() throws {
        let directory = try Directory()
        let path = directory.file("a.txt")
        try writeFile(path, Array("small body".utf8))
        let identity = try #require(FileIdentity.of(path: path))
        let cache = OpenFileCache()
        // The clock read at the wake-up is not after the ctime: the file may still be changing under this identity.
        let unsettled = try Self.insert(cache, "a.txt", path: path, now: 0, clock: identity.changed, bodyLimit: 1024)
        #expect(unsettled.body == nil)
        // A tick later it is settled: its bytes are read once and kept.
        var later = identity.changed
        later.nanoseconds += 1
        if later.nanoseconds == 1_000_000_000 { later = FileTime(seconds: later.seconds + 1, nanoseconds: 0) }
        let settled = try Self.insert(cache, "b.txt", path: path, now: 0, clock: later, bodyLimit: 1024)
        #expect(settled.body.map { Array($0.bytes) } == Array("small body".utf8))
    }
}
