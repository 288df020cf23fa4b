import Glibc
import SwerveHTTP
import Testing

@testable import SwerveServer

/// The loop's open-file cache re-checks a hit with `fstat` once per loop wake-up (`ProcessContext.wakeup`).
@Suite("OpenFileCache")
struct OpenFileCacheTests {
    static let key: [UInt8] = Array("a.txt".utf8)

    /// A temp file `a.txt` with `contents`, inserted into a fresh cache under `wakeup` at `now`.
    static func cachedTemp(_ contents: [UInt8], wakeup: UInt64, now: Int) throws -> (cache: OpenFileCache, path: String, directory: String) {
        var template = Array("/tmp/swerve-ofc-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        let directory = String(cString: made)
        let path = directory + "/a.txt"
        try TestServer.write(path, contents)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TestFailure("cannot open \(path)") }
        var st = stat()
        fstat(fd, &st)
        let cache = OpenFileCache()
        cache.wakeup = wakeup
        let inserted = key.withUnsafeBytes { cache.insert($0, OpenFile(fd: fd, owned: true, facts: FileFacts(&st)), now: now, bodyLimit: 0) }
        #expect(inserted.owned == false)   // the cache took the fd over
        return (cache, path, directory)
    }

    static func append(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    @Test("a change is seen under the next wake-up; within the one that checked, the check stands")
    func checkedOncePerWakeup() throws {
        let (cache, path, directory) = try Self.cachedTemp(Array(repeating: 0x61, count: 100), wakeup: 7, now: 0)
        defer { TestServer.removeTree(directory) }
        Self.key.withUnsafeBytes { key in
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
        let (cache, _, directory) = try Self.cachedTemp(Array(repeating: 0x61, count: 10), wakeup: 1, now: 100)
        defer { TestServer.removeTree(directory) }
        Self.key.withUnsafeBytes { key in
            #expect(cache.lookup(key, now: 100 + OpenFileCache.maximumAge) != nil)
            #expect(cache.lookup(key, now: 101 + OpenFileCache.maximumAge) == nil)
        }
    }
}
