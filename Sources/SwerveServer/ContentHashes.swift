import Glibc
import SwerveEngine
import SwerveHTTP
import Synchronization

/// Content-derived ETags (`--etag content`, and files whose mtime is 0 or 1): the first 128 bits of the file's
/// SHA-256, computed once per file version off the event loops and remembered.
///
/// Like the compressed-body cache, the key is the exact file version, so a changed file gets a new hash on the
/// next request; the job re-checks the version after reading so a file rewritten mid-hash is never recorded.
final class ContentHashes: Sendable {
    struct Digest: Sendable {
        var high: UInt64
        var low: UInt64
    }

    /// Remembered versions at most; cleared wholesale when full (a cold entry costs one re-hash).
    static let capacity = 65536
    /// Read size per `pread` while hashing.
    static let readSize = 256 * 1024

    private let known = Mutex<[FileVersion: Digest]>([:])
    private let inflight = SingleFlight<FileVersion>()
    private let pool: WorkerPool

    init(pool: WorkerPool) { self.pool = pool }

    /// The digest if known; otherwise starts (or joins) a hashing job that resumes the connection, and returns nil.
    func digest(for facts: FileFacts, fd: Int32, resumer: ConnectionResumer) -> Digest? {
        let version = facts.version
        if let digest = known.withLock({ $0[version] }) { return digest }
        guard inflight.join(version, resumer) else { return nil }
        if known.withLock({ $0[version] }) != nil {
            inflight.finish(version)
            return nil
        }
        let own = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard own >= 0 else {
            inflight.finish(version)
            return nil
        }
        pool.submit { [self] in
            if let digest = Self.hash(fd: own, version: version) {
                known.withLock { known in
                    if known.count >= Self.capacity { known.removeAll(keepingCapacity: true) }
                    known[version] = digest
                }
            }
            Glibc.close(own)
            inflight.finish(version)
        }
        return nil
    }

    /// Runs on a worker.
    private static func hash(fd: Int32, version: FileVersion) -> Digest? {
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readSize, alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < version.size {
            let n = pread(fd, buffer.baseAddress!, min(readSize, version.size - offset), off_t(offset))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += n
        }
        guard FileFacts.version(of: fd) == version else { return nil }
        let digest = hasher.finish()
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<8 {
            high = high << 8 | UInt64(digest[i])
            low = low << 8 | UInt64(digest[8 + i])
        }
        return Digest(high: high, low: low)
    }
}
