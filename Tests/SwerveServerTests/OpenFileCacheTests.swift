import Glibc
import SwerveHTTP
import Testing

@testable import SwerveServer

/// The loop's open-file cache re-checks a hit with `fstat` once per loop wake-up (`ProcessContext.wakeup`).
@Suite("OpenFileCache")
struct OpenFileCacheTests {
    /// A temp file with `contents`, opened read-only; the caller closes nothing (the cache owns the fd once inserted).
    static func openTemp(_ contents: [UInt8]) throws -> (path: String, file: OpenFile, directory: String) {
        var template = Array("/tmp/swerve-ofc-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        let directory = String(cString: made)
        let path = directory + "/a.txt"
        try TestServer.write(path, contents)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TestFailure("cannot open \(path)") }
        var st = stat()
        fstat(fd, &st)
        return (path, OpenFile(fd: fd, owned: true, facts: FileFacts(&st)), directory)
    }

    static func append(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    @Test("a change is seen under the next wake-up; within the one that checked, the check stands")
    func checkedOncePerWakeup() throws {
        let (path, file, directory) = try Self.openTemp(Array(repeating: 0x61, count: 100))
        defer { TestServer.removeTree(directory) }
        let key: [UInt8] = Array("a.txt".utf8)
        let cache = OpenFileCache()
        cache.wakeup = 7
        key.withUnsafeBytes { key in
            let inserted = cache.insert(key, file, now: 0, bodyLimit: 0)
            #expect(inserted.owned == false)
            // Unchanged: a hit under the same wake-up, and again under the next (re-checked, still fresh).
            #expect(cache.lookup(key, now: 0)?.facts.size == 100)
            cache.wakeup = 8
            #expect(cache.lookup(key, now: 0)?.facts.size == 100)
            // The file grows after wake-up 8 checked it: requests handled under 8 keep that check...
            Self.append(path, [0x62])
            #expect(cache.lookup(key, now: 0)?.facts.size == 100)
            // ...and the first lookup under wake-up 9 sees the change and drops the entry.
            cache.wakeup = 9
            #expect(cache.lookup(key, now: 0) == nil)
            #expect(cache.lookup(key, now: 0) == nil)
        }
    }

    @Test("an entry is reopened after maximumAge seconds even under one wake-up")
    func maximumAge() throws {
        let (_, file, directory) = try Self.openTemp(Array(repeating: 0x61, count: 10))
        defer { TestServer.removeTree(directory) }
        let key: [UInt8] = Array("a.txt".utf8)
        let cache = OpenFileCache()
        cache.wakeup = 1
        key.withUnsafeBytes { key in
            _ = cache.insert(key, file, now: 100, bodyLimit: 0)
            #expect(cache.lookup(key, now: 100 + OpenFileCache.maximumAge) != nil)
            #expect(cache.lookup(key, now: 101 + OpenFileCache.maximumAge) == nil)
        }
    }
}
