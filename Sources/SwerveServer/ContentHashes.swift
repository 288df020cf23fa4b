import Glibc
import SwerveEngine
import SwerveFiles
import SwerveHTTP
import Synchronization

/// Content-derived ETags (`--etag content`, and files whose mtime is 0 or 1): the first 128 bits of the file's
/// SHA-256, computed once per file version off the event loops and remembered.
///
/// Like the compressed-body cache, the key is the file's `FileIdentity`, so a changed file – even one rewritten with
/// its old mtime put back – gets a new hash on the next request. Callers ask only for settled identities
/// (`FileIdentity.isSettled(before:)`), and the job re-checks the identity after reading, so a file rewritten
/// mid-hash is never recorded.
final class ContentHashes: Sendable {
    struct Digest: Sendable {
        var high: UInt64
        var low: UInt64

        /// The first 128 bits of a SHA-256 digest, as two big-endian words (the content ETag's two halves).
        init(sha256 digest: [UInt8]) {
            high = 0
            low = 0
            for i in 0..<8 {
                high = high << 8 | UInt64(digest[i])
                low = low << 8 | UInt64(digest[8 + i])
            }
        }
    }

    /// What asking for a digest came to.
    enum Lookup {
        case known(Digest)
        /// A job is running (or was just joined); the connection is resumed when it ends.
        case pending
        /// No job could be started (no descriptor for it): answer without a content tag this time.
        case unavailable
    }

    /// Remembered versions at most; cleared wholesale when full (a cold entry costs one re-hash).
    static let capacity = 65536
    /// Read size per `pread` while hashing.
    static let readSize = 256 * 1024

    private let known = Mutex<[FileIdentity: Digest]>([:])
    private let inflight = SingleFlight<FileIdentity>()
    private let pool: WorkerPool

    init(pool: WorkerPool) { self.pool = pool }

    /// The digest if known, without starting anything (for a request that may not wait any more).
    func known(_ identity: FileIdentity) -> Digest? { known.withLock { $0[identity] } }

    /// The digest if known; otherwise starts (or joins) a hashing job that resumes the connection.
    func digest(for identity: FileIdentity, fd: Int32, resumer: ConnectionResumer) -> Lookup {
        if let digest = known(identity) { return .known(digest) }
        guard inflight.join(identity, resumer) else { return .pending }
        if let digest = known(identity) {
            inflight.finish(identity)
            return .known(digest)
        }
        let own = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard own >= 0 else {
            // Out of descriptors: whoever joined meanwhile is resumed to decide for itself; this request goes on
            // without the hash (suspending would only be resumed at once, and loop).
            inflight.finish(identity)
            return .unavailable
        }
        pool.submit { [self] in
            if let digest = Self.hash(fd: own, identity: identity) {
                known.withLock { known in
                    if known.count >= Self.capacity { known.removeAll(keepingCapacity: true) }
                    known[identity] = digest
                }
            }
            Glibc.close(own)
            inflight.finish(identity)
        }
        return .pending
    }

    /// Runs on a worker.
    private static func hash(fd: Int32, identity: FileIdentity) -> Digest? {
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readSize, alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < identity.size {
            let n = pread(fd, buffer.baseAddress!, min(readSize, identity.size - offset), off_t(offset))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += n
        }
        guard FileIdentity.of(fd: fd) == identity else { return nil }
        return Digest(sha256: hasher.finish())
    }
}
