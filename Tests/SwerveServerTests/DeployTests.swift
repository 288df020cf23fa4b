import Glibc
import SwerveFiles
import SwerveHTTP
import SwerveServer
import SwerveTestSupport
import Testing

/// Files changed the way deploy tools change them, over the wire: every case for the identity body (from memory
/// for a small file, by sendfile for a large one) and for the cached gzip body, each asserting the exact new bytes
/// and ETags that changed. The caching promise under test is "never a stale or foreign byte" (README, Caching).
@Suite("Deploys: never a stale or foreign byte", .serialized)
struct DeployTests {
    /// Two sizes: 2,000 bytes (kept in the open-file cache's memory, sent with the head) and 30,000 (sendfile).
    static let sizes = [2_000, 30_000]
    /// A fixed mtime, as SOURCE_DATE_EPOCH, Nix, `tar`, `cp -p` and `rsync -t` leave it.
    static let fixedTime = timespec(tv_sec: 1_700_000_000, tv_nsec: 123_456_789)

    /// Sets `path`'s mtime (and atime) to `fixedTime`, to the nanosecond.
    static func setFixedTime(_ path: String) {
        var times = [fixedTime, fixedTime]
        utimensat(AT_FDCWD, path, &times, 0)
    }

    /// What a client sees of one path, in both codings.
    struct Seen {
        var identity: WireResponse
        var gzip: WireResponse

        var identityTag: String? { identity.header("ETag") }
        var gzipTag: String? { gzip.header("ETag") }
    }

    /// GETs `path` without Accept-Encoding and with gzip, and checks each body is exactly `expected`.
    static func fetchBoth(
        _ port: UInt16, _ path: String, expecting expected: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Seen {
        let identity = try fetch(port, get(path))
        let gzip = try fetch(port, get(path, "Accept-Encoding: gzip\r\n"))
        #expect(identity.status == 200, sourceLocation: sourceLocation)
        #expect(identity.header("Content-Encoding") == nil, sourceLocation: sourceLocation)
        #expect(identity.body == expected, "identity body of \(path)", sourceLocation: sourceLocation)
        #expect(gzip.status == 200, sourceLocation: sourceLocation)
        #expect(gzip.header("Content-Encoding") == "gzip", sourceLocation: sourceLocation)
        #expect(gunzip(gzip.body) == expected, "gzip body of \(path)", sourceLocation: sourceLocation)
        return Seen(identity: identity, gzip: gzip)
    }

    /// Polls `path` until every answer is `new`, for at most 5 s; every answer meanwhile must be one whole version.
    /// Returns the seconds from `changedAt`, or nil. "Every" is twenty answers in a row, each on a new connection:
    /// the kernel spreads connections over the two event loops (SO_REUSEPORT), each with its own open-file cache,
    /// and twenty in a row all reach one loop about once in half a million tries.
    static func secondsUntilServed(
        _ port: UInt16, _ path: String, old: [UInt8], new: [UInt8], since changedAt: Double,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Double? {
        while monotonicSeconds() - changedAt < 5 {
            let body = try fetch(port, get(path)).body
            #expect(body == old || body == new, "a torn or foreign body for \(path)", sourceLocation: sourceLocation)
            if body == new, try (0..<19).allSatisfy({ _ in try fetch(port, get(path)).body == new }) {
                return monotonicSeconds() - changedAt
            }
            usleep(20_000)
        }
        return nil
    }

    /// A file served and cached (gzip body in the cache, open-file cache entry), then changed by `change`, then
    /// served again: the new bytes in both codings, and both ETags new. Also asserted: right after the change,
    /// before the file settles, the bytes are already the new ones (whatever the coding).
    static func expectFresh(
        size: Int, sourceLocation: SourceLocation = #_sourceLocation,
        _ change: (_ root: String, _ path: String, _ next: [UInt8]) throws -> Void
    ) throws {
        let one = textLike(size, seed: 101)
        let two = textLike(size, seed: 202)
        #expect(one != two)
        let server = try TestServer(files: ["a.txt": one])
        defer { server.shutdown() }
        let path = server.root + "/a.txt"
        setFixedTime(path)
        try TestServer.waitUntilSettled(path)
        let before = try fetchBoth(server.port, "/a.txt", expecting: one, sourceLocation: sourceLocation)
        // Served again from the caches (the gzip body is a hit now).
        let cached = try fetchBoth(server.port, "/a.txt", expecting: one, sourceLocation: sourceLocation)
        #expect(cached.gzip.header("Server-Timing") == "cache;desc=\"hit\"", sourceLocation: sourceLocation)
        try change(server.root, path, two)
        let immediate = try fetch(server.port, get("/a.txt", "Accept-Encoding: gzip\r\n"))
        let immediateBody = immediate.header("Content-Encoding") == "gzip" ? gunzip(immediate.body) : immediate.body
        #expect(immediateBody == two, "the first answer after the change", sourceLocation: sourceLocation)
        try TestServer.waitUntilSettled(path)
        let after = try fetchBoth(server.port, "/a.txt", expecting: two, sourceLocation: sourceLocation)
        #expect(after.identityTag != nil && after.identityTag != before.identityTag, sourceLocation: sourceLocation)
        #expect(after.gzipTag != nil && after.gzipTag != before.gzipTag, sourceLocation: sourceLocation)
        // A client holding the old tag gets the new bytes, not a 304.
        if let old = before.gzipTag {
            let revalidation = try fetch(server.port, get("/a.txt", "Accept-Encoding: gzip\r\nIf-None-Match: \(old)\r\n"))
            #expect(revalidation.status == 200, sourceLocation: sourceLocation)
            #expect(gunzip(revalidation.body) == two, sourceLocation: sourceLocation)
        }
        if let old = before.identityTag {
            #expect(try fetch(server.port, get("/a.txt", "If-None-Match: \(old)\r\n")).status == 200, sourceLocation: sourceLocation)
        }
    }

    @Test("in-place rewrite with the old mtime put back, to the nanosecond (cp -p, rsync --inplace -t, touch -r)", arguments: sizes)
    func inPlaceRewriteRestoredMtime(size: Int) throws {
        try Self.expectFresh(size: size) { _, path, next in
            let inode = try #require(FileIdentity.of(path: path)).inode
            try TestServer.write(path, next)  // O_TRUNC: the same inode
            Self.setFixedTime(path)
            let now = try #require(FileIdentity.of(path: path))
            #expect(now.inode == inode && now.size == next.count)
            #expect(now.modified == FileTime(seconds: Int64(Self.fixedTime.tv_sec), nanoseconds: Int32(Self.fixedTime.tv_nsec)))
        }
    }

    @Test("rename over the old file (rsync's default), same size and mtime", arguments: sizes)
    func renameOver(size: Int) throws {
        try Self.expectFresh(size: size) { root, path, next in
            try TestServer.write(root + "/.a.txt.tmp", next)
            Self.setFixedTime(root + "/.a.txt.tmp")
            #expect(rename(root + "/.a.txt.tmp", path) == 0)
        }
    }

    @Test("unlink and recreate with the same size and mtime (tar), whatever inode number comes back", arguments: sizes)
    func unlinkAndRecreate(size: Int) throws {
        try Self.expectFresh(size: size) { _, path, next in
            #expect(unlink(path) == 0)
            try TestServer.write(path, next)
            Self.setFixedTime(path)
        }
    }

    @Test("rename over while the old inode is still hard-linked elsewhere (a backup link): fresh at once", arguments: sizes)
    func renameOverHardLinked(size: Int) throws {
        let one = textLike(size, seed: 303)
        let two = textLike(size, seed: 404)
        let server = try TestServer(files: ["a.txt": one])
        defer { server.shutdown() }
        let path = server.root + "/a.txt"
        Self.setFixedTime(path)
        try TestServer.waitUntilSettled(path)
        let before = try Self.fetchBoth(server.port, "/a.txt", expecting: one)
        // A backup link keeps the old inode alive after the rename. Its link count still drops (2 → 1), which moves
        // its ctime: the statx of the cached fd sees that at the next wake-up.
        #expect(link(path, server.directory + "/backup.txt") == 0)
        try TestServer.write(server.root + "/.a.txt.tmp", two)
        Self.setFixedTime(server.root + "/.a.txt.tmp")
        #expect(rename(server.root + "/.a.txt.tmp", path) == 0)
        let changedAt = monotonicSeconds()
        try TestServer.waitUntilSettled(path)
        // Every answer is one whole version, old or new, and the new one comes at once.
        let freshAfter = try Self.secondsUntilServed(server.port, "/a.txt", old: one, new: two, since: changedAt)
        let elapsed = try #require(freshAfter, "the new file was never served")
        #expect(elapsed < 0.5, "fresh after \(elapsed) s")
        let after = try Self.fetchBoth(server.port, "/a.txt", expecting: two)
        #expect(after.identityTag != before.identityTag)
        #expect(after.gzipTag != before.gzipTag)
        removeTree(server.directory + "/backup.txt")
    }

    @Test("a directory replaced by rename under the same name (the file's own inode untouched): fresh within a second", arguments: sizes)
    func parentDirectorySwapped(size: Int) throws {
        let one = textLike(size, seed: 505)
        let two = textLike(size, seed: 606)
        let server = try TestServer(files: ["assets/a.txt": one, "assets.new/a.txt": two])
        defer { server.shutdown() }
        for name in ["assets/a.txt", "assets.new/a.txt"] {
            Self.setFixedTime(server.root + "/" + name)
            try TestServer.waitUntilSettled(server.root + "/" + name)
        }
        let before = try Self.fetchBoth(server.port, "/assets/a.txt", expecting: one)
        // The old directory moves aside and the new one takes its name: no inode of either file changes, so only
        // the open-file cache's age (OpenFileCache.maximumAgeMilliseconds) can tell the path names another file.
        #expect(rename(server.root + "/assets", server.root + "/assets.old") == 0)
        #expect(rename(server.root + "/assets.new", server.root + "/assets") == 0)
        let changedAt = monotonicSeconds()
        let freshAfter = try Self.secondsUntilServed(server.port, "/assets/a.txt", old: one, new: two, since: changedAt)
        let elapsed = try #require(freshAfter, "the new file was never served")
        #expect(elapsed < 2.5, "fresh after \(elapsed) s")
        let after = try Self.fetchBoth(server.port, "/assets/a.txt", expecting: two)
        #expect(after.identityTag != before.identityTag)
        #expect(after.gzipTag != before.gzipTag)
    }

    @Test("a file created at a path that was just answered 404 (remembered as missing): served within a second")
    func createdAfterNotFound() throws {
        let server = try TestServer(files: ["keep.txt": Array("k".utf8)])
        defer { server.shutdown() }
        // Twice, so the second 404 comes from the loop's memory of the failed open, not from another openat2.
        for _ in 0..<2 { #expect(try fetch(server.port, get("/late.txt", "")).status == 404) }
        let contents = textLike(3_000, seed: 77)
        try TestServer.write(server.root + "/late.txt", contents)
        let createdAt = monotonicSeconds()
        var servedAfter: Double?
        while monotonicSeconds() - createdAt < 5 {
            let response = try fetch(server.port, get("/late.txt", ""))
            if response.status == 200 {
                #expect(response.body == contents)
                servedAfter = monotonicSeconds() - createdAt
                break
            }
            #expect(response.status == 404)
            usleep(20_000)
        }
        let elapsed = try #require(servedAfter, "the new file was never served")
        #expect(elapsed < 2.5, "served after \(elapsed) s")
    }

    @Test("delete, 404, then another path handed the freed inode with the same size and mtime: never the old bytes", arguments: sizes)
    func freedInodeReusedByAnotherPath(size: Int) throws {
        let server = try TestServer(files: ["keep.txt": Array("k".utf8)])
        defer { server.shutdown() }
        var reused = 0
        var round: UInt64 = 0
        while reused < 3 && round < 200 {
            round += 1
            let old = textLike(size, seed: 1000 + round)
            let new = textLike(size, seed: 5000 + round)
            let a = server.root + "/a\(round).txt"
            let b = server.root + "/b\(round).txt"
            try TestServer.write(a, old)
            Self.setFixedTime(a)
            try TestServer.waitUntilSettled(a)
            let inode = try #require(FileIdentity.of(path: a)).inode
            _ = try Self.fetchBoth(server.port, "/a\(round).txt", expecting: old)
            #expect(unlink(a) == 0)
            #expect(try fetch(server.port, get("/a\(round).txt", "Accept-Encoding: gzip\r\n")).status == 404)
            try TestServer.write(b, new)
            Self.setFixedTime(b)
            try TestServer.waitUntilSettled(b)
            if try #require(FileIdentity.of(path: b)).inode == inode { reused += 1 }
            _ = try Self.fetchBoth(server.port, "/b\(round).txt", expecting: new)
            #expect(unlink(b) == 0)
        }
        // ext4 hands a freed inode number to the next file created in the directory: the hazard did occur.
        #expect(reused >= 3, "the filesystem reused the inode \(reused) times in \(round) rounds")
    }

    @Test("files dated 0 and 1 (Nix, reproducible builds): content ETags, new bytes and a new tag after a rewrite that keeps the date",
          arguments: [0, 1])
    func epochDatedFiles(seconds: Int) throws {
        let one = textLike(30_000, seed: 7)
        let two = textLike(30_000, seed: 8)
        let server = try TestServer(files: ["n.js": one])
        defer { server.shutdown() }
        let path = server.root + "/n.js"
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
        try TestServer.waitUntilSettled(path)
        let before = try Self.fetchBoth(server.port, "/n.js", expecting: one)
        #expect(before.identity.header("Last-Modified") == nil)
        #expect(before.identityTag?.hasPrefix("\"sha256-") == true)
        #expect(before.gzipTag == before.identityTag.map { String($0.dropLast()) + "-gz\"" })
        try TestServer.write(path, two)
        utimensat(AT_FDCWD, path, &times, 0)
        try TestServer.waitUntilSettled(path)
        let after = try Self.fetchBoth(server.port, "/n.js", expecting: two)
        #expect(after.identityTag?.hasPrefix("\"sha256-") == true)
        #expect(after.identityTag != before.identityTag)
        #expect(after.gzipTag != before.gzipTag)
        #expect(try fetch(server.port, get("/n.js", "If-None-Match: \(before.identityTag!)\r\n")).status == 200)
    }

    @Test("--etag content: an in-place rewrite that restores the mtime gets the new content's tag")
    func contentTagsFollowTheBytes() throws {
        let one = textLike(30_000, seed: 17)
        let two = textLike(30_000, seed: 18)
        let server = try TestServer(files: ["c.js": one]) { $0.contentETags = true }
        defer { server.shutdown() }
        let path = server.root + "/c.js"
        Self.setFixedTime(path)
        try TestServer.waitUntilSettled(path)
        let before = try Self.fetchBoth(server.port, "/c.js", expecting: one)
        #expect(before.identityTag == "\"sha256-" + SHA256.hex(one).prefix(32) + "\"")
        try TestServer.write(path, two)
        Self.setFixedTime(path)
        try TestServer.waitUntilSettled(path)
        let after = try Self.fetchBoth(server.port, "/c.js", expecting: two)
        #expect(after.identityTag == "\"sha256-" + SHA256.hex(two).prefix(32) + "\"")
        #expect(after.gzipTag != before.gzipTag)
    }

    @Test("a root symlink swapped to another release: new requests see it within a second, a download from the old one completes intact")
    func rootSymlinkSwap() throws {
        var template = Array("/tmp/swerve-deploy-XXXXXX".utf8CString)
        let base = String(cString: try #require(mkdtemp(&template)))
        defer { removeTree(base) }
        let big = pseudoRandomBytes(8 << 20, seed: 41)
        try TestServer.write(base + "/releases/41/index.html", Array("release 41\n".utf8))
        try TestServer.write(base + "/releases/41/big.bin", big)
        try TestServer.write(base + "/releases/42/index.html", Array("release 42\n".utf8))
        #expect(symlink("releases/41", base + "/current") == 0)
        let server = try TestServer { $0.root = base + "/current" }
        defer { server.shutdown() }
        #expect(try fetch(server.port, get("/index.html")).bodyText == "release 41\n")

        // A large download from release 41, read slowly: the server has sent only part of it when the swap comes.
        let download = try RawClient(port: server.port, timeoutSeconds: 30)
        var receiveBuffer = Int32(64 << 10)
        setsockopt(download.fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        try download.send(get("/big.bin"))
        // Its first bytes are here: the response is under way.
        #expect(download.fill())

        // Capistrano's swap: a new symlink renamed over the old one, atomically.
        #expect(symlink("releases/42", base + "/current.new") == 0)
        #expect(rename(base + "/current.new", base + "/current") == 0)
        let swappedAt = monotonicSeconds()
        let seenAfter = try Self.secondsUntilServed(
            server.port, "/index.html", old: Array("release 41\n".utf8), new: Array("release 42\n".utf8), since: swappedAt)
        let elapsed = try #require(seenAfter, "the new release was never served")
        #expect(elapsed < 2.5, "new root served after \(elapsed) s")
        // Release 41 is gone from the new root; its files are deleted while the download is still running.
        #expect(try fetch(server.port, get("/big.bin")).status == 404)
        removeTree(base + "/releases/41")
        let response = try download.readResponse()
        #expect(response.status == 200)
        #expect(response.body.count == big.count)
        #expect(SHA256.hex(response.body) == SHA256.hex(big))
    }
}
