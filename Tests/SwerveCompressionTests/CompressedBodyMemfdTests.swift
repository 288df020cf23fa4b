import CSwerveSys
import Glibc
import SwerveTestSupport
import Testing

@testable import SwerveCompression

/// `count` bytes from a seeded generator (content does not matter, exactness does).
private func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var random = SplitMix64(state: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
}

/// The inode behind `fd`, or nil if `fd` is not open.
private func inode(of fd: Int32) -> UInt64? {
    var st = stat()
    guard fstat(fd, &st) == 0 else { return nil }
    return UInt64(st.st_ino)
}

/// The line of /proc/self/maps whose address range contains `address`, if any.
private func mappingLine(containing address: UnsafeRawPointer) -> String? {
    let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var text: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n <= 0 { break }
        text += chunk[0..<n]
    }
    let target = UInt(bitPattern: address)
    for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
        let range = line.prefix { $0 != " " }.split(separator: "-")
        guard range.count == 2, let low = UInt(range[0], radix: 16), let high = UInt(range[1], radix: 16) else { continue }
        if low <= target && target < high { return String(line) }
    }
    return nil
}

@Suite("BodyCache: CompressedBody in a sealed memfd")
struct CompressedBodyMemfdTests {
    @Test("a cache body ≥ memfdThreshold is a sealed memfd: exact bytes, all four seals, close-on-exec, writes refused")
    func largeBodyIsSealedMemfd() throws {
        let source = pattern(CompressedBody.memfdThreshold + 1234, seed: 21)
        let body = CompressedBody.cacheEntry(taking: source, identityLength: 99_000, compressNanoseconds: 7)
        #expect(body.fd >= 0)
        #expect(body.count == source.count)
        #expect(Array(body.bytes) == source)
        #expect(body.identityLength == 99_000)
        #expect(body.compressNanoseconds == 7)

        let seals = fcntl(body.fd, SWERVE_F_GET_SEALS)
        #expect(seals == SWERVE_F_SEAL_SHRINK | SWERVE_F_SEAL_GROW | SWERVE_F_SEAL_WRITE | SWERVE_F_SEAL_SEAL)
        #expect(fcntl(body.fd, F_GETFD) & FD_CLOEXEC != 0)
        // The kernel enforces immutability: no write at any offset, no resize, no lifting the seals.
        var byte: UInt8 = 0
        let written = pwrite(body.fd, &byte, 1, 0)
        let writeError = errno
        #expect(written == -1 && writeError == EPERM)
        let truncated = ftruncate(body.fd, 0)
        let truncateError = errno
        #expect(truncated == -1 && truncateError == EPERM)
        let resealed = fcntl(body.fd, SWERVE_F_ADD_SEALS, SWERVE_F_SEAL_SEAL)
        let resealError = errno
        #expect(resealed == -1 && resealError == EPERM)
        // The file holds exactly the bytes (what sendfile will send).
        var readBack = [UInt8](repeating: 0, count: source.count + 1)
        let n = readBack.withUnsafeMutableBytes { pread(body.fd, $0.baseAddress!, $0.count, 0) }
        #expect(n == source.count)
        #expect(Array(readBack[0..<source.count]) == source)
        // `bytes` is a mapping of the memfd itself, not a second (malloc'd) copy.
        let line = try #require(mappingLine(containing: body.bytes.baseAddress!))
        #expect(line.contains("/memfd:swerve-body"), "\(line)")
        #expect(line.split(separator: " ")[1].hasPrefix("r-"), "\(line)")
    }

    @Test("small cache bodies and the plain initializers stay malloc'd (fd -1)")
    func smallBodyIsMalloced() {
        let small = CompressedBody.cacheEntry(taking: pattern(CompressedBody.memfdThreshold - 1, seed: 22),
                                              identityLength: 1, compressNanoseconds: 0)
        #expect(small.fd == -1)
        #expect(Array(small.bytes) == pattern(CompressedBody.memfdThreshold - 1, seed: 22))
        #expect(CompressedBody.cacheEntry(taking: [], identityLength: 0, compressNanoseconds: 0).fd == -1)
        let large = pattern(CompressedBody.memfdThreshold * 2, seed: 23)
        #expect(CompressedBody(taking: large, identityLength: 0, compressNanoseconds: 0).fd == -1)
        #expect(large.withUnsafeBytes { CompressedBody(copying: $0, identityLength: 0, compressNanoseconds: 0) }.fd == -1)
    }

    @Test("the memfd stays open while a reference is held and is closed when the last one goes")
    func fdClosedWithLastReference() throws {
        weak var weakBody: CompressedBody?
        var fd: Int32 = -1
        var memfdInode: UInt64 = 0
        do {
            let body = CompressedBody.cacheEntry(taking: pattern(64 * 1024, seed: 24), identityLength: 1,
                                                 compressNanoseconds: 0)
            weakBody = body
            fd = body.fd
            #expect(fd >= 0)
            memfdInode = try #require(inode(of: fd))
            let other = body  // a second holder (the engine's segment, say)
            withExtendedLifetime(other) { #expect(fcntl(fd, F_GETFD) >= 0) }
        }
        #expect(weakBody == nil)
        // Closed: the number is free (EBADF). Tests run in parallel in this process, so another test may already
        // have been given the same number for a different file; that too proves the memfd's descriptor was closed.
        let flags = fcntl(fd, F_GETFD)
        let error = errno
        if flags == -1 {
            #expect(error == EBADF)
        } else {
            #expect(inode(of: fd) != memfdInode, "the memfd is still open after its body was released")
        }
    }
}
