import Glibc
import SwerveEngine
import SwerveHTTP
import SwerveTestSupport
import Testing

@testable import SwerveFiles
@testable import SwerveServer

/// The loop's memo of whole answers (`AnswerMemo`): replayed only for the same request head, Connection field, body
/// and second, and only while the open-file cache would serve the file it came from, which it never keeps open. Every
/// clock is injected (the second, the monotonic milliseconds, the cache's pass).
@Suite("AnswerMemo")
struct AnswerMemoTests {
    /// A small file in a temporary directory, in an open-file cache with its bytes in memory.
    final class Fixture {
        let directory: String
        let path: String
        let cache = OpenFileCache()
        let memo = AnswerMemo()

        init(_ body: [UInt8]) throws {
            directory = try makeTemporaryDirectory()
            path = directory + "/a.html"
            try TestServer.write(path, body)
            cache.pass = 1
        }

        deinit { removeTree(directory) }

        func open(now: Int64 = 0) throws -> OpenFileCache.Entry {
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0, let identity = FileIdentity.of(fd: fd) else { throw TestFailure("cannot open \(path)") }
            let file = Array("a.html".utf8).withUnsafeBytes {
                cache.insert($0, OpenFile(fd: fd, owned: true, identity: identity), now: now,
                             clock: FileTime(seconds: Int64(Int32.max), nanoseconds: 0), bodyLimit: 1 << 20)
            }
            guard let entry = file.cached, entry.body != nil else { throw TestFailure("no cached body for \(path)") }
            return entry
        }
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/swerve-answers-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        return String(cString: made)
    }

    static let request = Array("GET /a.html HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n".utf8)
    static let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n".utf8)
    static let outcome = AnswerMemo.Outcome(status: 200, headBytes: head.count, coding: .identity, cache: .none)

    static func store(
        _ fixture: Fixture, _ entry: OpenFileCache.Entry, request: [UInt8] = request, connection: ResponseHead.ConnectionField = .none,
        hasBody: Bool = false, second: Int = 100, body: Range<Int> = 0..<11
    ) {
        request.withUnsafeBytes { request in
            head.withUnsafeBytes { head in
                fixture.memo.store(request, connection: connection, hasBody: hasBody, second: second, head: head, entry: entry,
                                   body: body, outcome: outcome)
            }
        }
    }

    /// The bytes a replay queues, or nil when it finds no answer.
    static func replay(
        _ fixture: Fixture, request: [UInt8] = request, connection: ResponseHead.ConnectionField = .none,
        hasBody: Bool = false, second: Int = 100, now: Int64 = 1
    ) -> [UInt8]? {
        let staged = StagedOutput()
        let outcome = staged.write { output in
            request.withUnsafeBytes { request in
                fixture.memo.replay(request, connection: connection, hasBody: hasBody, second: second, files: fixture.cache,
                                    now: now, output: &output)
            }
        }
        guard let outcome else {
            #expect(staged.count == 0, "a miss queued bytes")
            return nil
        }
        #expect(outcome.status == 200 && outcome.headBytes == head.count)
        return staged.consumeBytes(staged.count) { Array($0) }
    }

    @Test("a replay is the stored head, then the file's own bytes from memory")
    func replaysHeadAndBody() throws {
        let fixture = try Fixture(Array("hello world".utf8))
        let entry = try fixture.open()
        #expect(Self.replay(fixture) == nil)
        Self.store(fixture, entry)
        #expect(Self.replay(fixture) == Self.head + Array("hello world".utf8))
        #expect(Self.replay(fixture) == Self.head + Array("hello world".utf8))
        // A HEAD's answer has no body.
        var headRequest = Self.request
        headRequest.replaceSubrange(0..<3, with: Array("HEAD".utf8))
        Self.store(fixture, entry, request: headRequest, body: 0..<0)
        #expect(Self.replay(fixture, request: headRequest) == Self.head)
    }

    @Test("any other request byte, Connection field, body or second is not the stored answer")
    func keyIsTheWholeRequest() throws {
        let fixture = try Fixture(Array("hello world".utf8))
        let entry = try fixture.open()
        Self.store(fixture, entry)
        for index in Self.request.indices {
            var other = Self.request
            other[index] ^= 0x20
            #expect(Self.replay(fixture, request: other) == nil, "byte \(index) changed")
        }
        #expect(Self.replay(fixture, request: Array(Self.request.dropLast())) == nil)
        #expect(Self.replay(fixture, request: Self.request + [0x0A]) == nil)
        #expect(Self.replay(fixture, connection: .close) == nil)
        #expect(Self.replay(fixture, connection: .keepAlive) == nil)
        #expect(Self.replay(fixture, hasBody: true) == nil)
        #expect(Self.replay(fixture, second: 101) == nil)
        #expect(Self.replay(fixture, second: 99) == nil)
        #expect(Self.replay(fixture) != nil)
    }

    @Test("a file the open-file cache would not serve now is not replayed: changed (next pass), aged, replaced")
    func onlyWhileTheFileIsFresh() throws {
        let fixture = try Fixture(Array("hello world".utf8))
        let entry = try fixture.open()
        Self.store(fixture, entry)
        // Rewritten after pass 1 checked it: under pass 2 the entry's statx sees the change.
        try TestServer.write(fixture.path, Array("HELLO WORLD".utf8))
        fixture.cache.pass = 2
        #expect(Self.replay(fixture) == nil)

        let fresh = try fixture.open(now: 10)
        Self.store(fixture, fresh)
        #expect(Self.replay(fixture, now: 10) == Self.head + Array("HELLO WORLD".utf8))
        #expect(Self.replay(fixture, now: 10 + OpenFileCache.maximumAgeMilliseconds) == nil)

        // Replaced in the cache (reopened): the old entry's answer is never replayed again.
        let old = try fixture.open(now: 20)
        Self.store(fixture, old)
        _ = try fixture.open(now: 21)
        #expect(Self.replay(fixture, now: 21) == nil)
    }

    @Test("a slot does not keep its file open: once the cache lets go of the entry, its descriptor is closed")
    func slotsHoldFilesWeakly() throws {
        let fixture = try Fixture(Array("hello world".utf8))
        weak var held: OpenFileCache.Entry?
        var fd: Int32 = -1
        do {
            let entry = try fixture.open()
            held = entry
            fd = entry.fd
            Self.store(fixture, entry)
        }
        #expect(Self.replay(fixture) != nil)
        // A deleted file: the cache drops its entry, and with it go the descriptor and the answer.
        fixture.cache.clear()
        #expect(held == nil)
        #expect(fcntl(fd, F_GETFD) == -1 && errno == EBADF)
        #expect(Self.replay(fixture) == nil)
    }
}
