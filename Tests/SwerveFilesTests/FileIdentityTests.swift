import Glibc
import SwerveHTTP
import SwerveTestSupport
import Testing

@testable import SwerveFiles

/// `FileIdentity`: what it is made of, what changes it, and the settled rule.
@Suite("FileIdentity")
struct FileIdentityTests {
    static func time(_ seconds: Int64, _ nanoseconds: Int32) -> FileTime { FileTime(seconds: seconds, nanoseconds: nanoseconds) }

    static let base = FileIdentity(
        device: 0x801, inode: 42, size: 1000, modified: time(1_700_000_000, 5), changed: time(1_700_000_001, 7),
        born: time(1_600_000_000, 9))

    @Test("FileTime orders by seconds, then nanoseconds; wrapping nanoseconds are exact inside ±292 years")
    func fileTime() {
        #expect(Self.time(1, 999_999_999) < Self.time(2, 0))
        #expect(Self.time(2, 0) < Self.time(2, 1))
        #expect(!(Self.time(2, 1) < Self.time(2, 1)))
        #expect(Self.time(-1, 0) < .zero)
        #expect(Self.time(1_700_000_000, 5).wrappingNanoseconds == 1_700_000_000_000_000_005)
        // Far outside the range it wraps, deterministically, without trapping.
        #expect(Self.time(.max, 999_999_999).wrappingNanoseconds == Self.time(.max, 999_999_999).wrappingNanoseconds)
    }

    @Test("every field is part of the identity: any one of them changed is another version")
    func everyFieldCounts() {
        var variants: [FileIdentity] = []
        var v = Self.base; v.device += 1; variants.append(v)
        v = Self.base; v.inode += 1; variants.append(v)
        v = Self.base; v.size += 1; variants.append(v)
        v = Self.base; v.modified.nanoseconds += 1; variants.append(v)
        v = Self.base; v.changed.nanoseconds += 1; variants.append(v)
        v = Self.base; v.changed.seconds += 1; variants.append(v)
        v = Self.base; v.born.nanoseconds += 1; variants.append(v)
        for variant in variants {
            #expect(variant != Self.base)
            #expect(variant.fileWord != Self.base.fileWord || variant.versionWord != Self.base.versionWord)
        }
        #expect(Set(variants + [Self.base]).count == variants.count + 1)
        #expect(variants[3].isSameFile(as: Self.base) && !variants[1].isSameFile(as: Self.base))
    }

    @Test("settled: the ctime strictly before the clock reading; within the same instant or later, not")
    func settled() {
        let ctime = Self.base.changed
        #expect(Self.base.isSettled(before: Self.time(ctime.seconds, ctime.nanoseconds + 1)))
        #expect(Self.base.isSettled(before: Self.time(ctime.seconds + 1, 0)))
        #expect(!Self.base.isSettled(before: ctime))
        #expect(!Self.base.isSettled(before: Self.time(ctime.seconds, ctime.nanoseconds - 1)))
    }

    @Test("the metadata ETag is 16 hex digits folded from inode, size, mtime and ctime (nanoseconds), the same in every run; each changing alone changes it, a restored mtime too")
    func metadataTag() {
        func rendered(_ identity: FileIdentity) -> String {
            ETag(metadataOf: identity).withRendered { String(decoding: $0, as: UTF8.self) }
        }
        // Pinned: a different digest would change every tag a client holds (one full download each after an upgrade),
        // so it changes only on purpose.
        #expect(rendered(Self.base) == "\"bbeae5618a412353\"")
        var rewritten = Self.base
        rewritten.changed = Self.time(1_700_000_100, 0)  // same inode, size and mtime: cp -p
        var resized = Self.base
        resized.size += 1
        var touched = Self.base
        touched.modified = Self.time(1_700_000_000, 6)
        var replaced = Self.base
        replaced.inode += 1
        let tags = [Self.base, rewritten, resized, touched, replaced].map(rendered)
        #expect(Set(tags).count == tags.count)
        #expect(tags.allSatisfy { $0.count == 18 && $0.count <= ETag.maximumLength })
    }

    /// A temporary file, removed when the value dies.
    final class TempFile {
        let directory: String
        var path: String { directory + "/f" }
        init() throws {
            directory = try makeTemporaryDirectory("swerve-identity")
        }
        deinit { removeTree(directory) }
    }

    @Test("statx of a file agrees with stat(2); a birth time, where reported, is not after the ctime")
    func statxAgreesWithStat() throws {
        let file = try TempFile()
        try writeFile(file.path, Array("hello".utf8))
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        let status = try #require(FileStatus.of(fd: fd))
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        #expect(status.kind == .regular && status.links == 1)
        #expect(status.identity.device == UInt64(st.st_dev) && status.identity.inode == UInt64(st.st_ino))
        #expect(status.identity.size == 5)
        #expect(status.identity.changed == Self.time(Int64(st.st_ctim.tv_sec), Int32(st.st_ctim.tv_nsec)))
        if status.identity.born != .zero { #expect(!(status.identity.changed < status.identity.born)) }
        #expect(FileStatus.of(path: file.directory)?.kind == .directory)
        #expect(FileStatus.of(path: file.directory + "/missing") == nil && errno == ENOENT)
    }

    @Test("a rewrite in place with the old size and mtime put back is another identity (the ctime moved)")
    func restoredMtimeIsAnotherIdentity() throws {
        let file = try TempFile()
        try writeFile(file.path, Array("aaaa".utf8))
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 1), timespec(tv_sec: 1_000_000_000, tv_nsec: 1)]
        utimensat(AT_FDCWD, file.path, &times, 0)
        let before = try #require(FileIdentity.of(path: file.path))
        try waitUntilSettled(before)
        try writeFile(file.path, Array("bbbb".utf8))
        utimensat(AT_FDCWD, file.path, &times, 0)
        let after = try #require(FileIdentity.of(path: file.path))
        #expect(after.inode == before.inode && after.size == before.size && after.modified == before.modified)
        #expect(after != before)
        #expect(before.changed < after.changed)
    }

    @Test("a new file handed a freed inode number with the old size and mtime is another identity")
    func reusedInodeIsAnotherIdentity() throws {
        let file = try TempFile()
        var reused = false
        for round in 0..<100 {
            let a = file.directory + "/a\(round)"
            let b = file.directory + "/b\(round)"
            try writeFile(a, Array("same size".utf8))
            var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 1), timespec(tv_sec: 1_000_000_000, tv_nsec: 1)]
            utimensat(AT_FDCWD, a, &times, 0)
            let old = try #require(FileIdentity.of(path: a))
            try waitUntilSettled(old)
            unlink(a)
            try writeFile(b, Array("same SIZE".utf8))
            utimensat(AT_FDCWD, b, &times, 0)
            let new = try #require(FileIdentity.of(path: b))
            unlink(b)
            #expect(new != old)
            if new.inode == old.inode {
                reused = true
                #expect(new.size == old.size && new.modified == old.modified && new.changed != old.changed)
                break
            }
        }
        #expect(reused, "the filesystem never reused the inode: the case was not exercised")
    }
}
