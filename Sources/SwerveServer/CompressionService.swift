import CSwerveSys
import Glibc
import SwerveCompression
import SwerveEngine
import SwerveFiles
import SwerveHTTP
import Synchronization

/// Compresses files off the event loops and keeps the results in the shared `BodyCache`, one entry per file version
/// and coding (gzip, br, zstd).
///
/// Single flight: the first request for a cold (version, coding) starts one job; concurrent requests for the same
/// one wait on that job instead of compressing it again. A waiting connection is suspended in its loop (other
/// connections keep being served) and resumed when the body is in the cache.
///
/// Never stale: the key is the `FileIdentity` (device, inode, size, mtime and ctime with nanoseconds, birth time)
/// seen by statx on the request's own open fd, the caller only asks for settled identities
/// (`FileIdentity.isSettled(before:)`), and the job re-checks the identity after reading, so bytes of a file
/// rewritten mid-compression are never cached under the old identity. The recompression works on the very bytes
/// the first pass read, and swaps only the entry it was made for (`BodyCache.replace`), so it cannot bring back an
/// old version either.
///
/// Recompression: once the first pass's body is cached (and being served), a copy of the file's bytes goes to one
/// idle-priority thread that compresses them again at the coding's smallest setting (zopfli, brotli 11, zstd 19,
/// `CompressionLevels.recompress`) and, if the result is smaller, swaps it in for the same key – only if the entry
/// still holds the first body. Cached bodies are sent many times and compressed once, so spending 10–100× the first
/// pass's CPU once for smaller bytes on every response pays; the thread runs only when a core would otherwise
/// idle, so it never competes with serving. The first responses are never delayed for it.
final class CompressionService: Sendable {
    let cache: BodyCache
    let levels: CompressionLevels
    private let pool: WorkerPool
    /// One idle-priority thread for recompression; nil when recompression is off.
    private let recompressor: WorkerPool?
    /// Input bytes waiting for (or in) recompression. A job is skipped, not queued, when it would pass
    /// `recompressQueueLimit`: recompression is an optimisation, and a burst of cold files must not pile up memory.
    private let recompressPendingBytes = Atomic<Int>(0)
    /// At most this many input bytes queued for recompression (16 MiB: a few hundred typical assets, and never more
    /// memory than the default cache itself holds in a quarter).
    static let recompressQueueLimit = 16 << 20
    /// Files larger than this keep the first pass's body: zopfli costs ~7 µs per byte here (at 15 iterations), so
    /// 1 MiB at 5 iterations is ~3–4 s of an otherwise idle core, and its working memory grows with the input (~30
    /// bytes per input byte); brotli 11 runs at about 1 MB/s.
    static let recompressMaxInput = 1 << 20
    private let recompressionCount = Atomic<Int>(0)
    private let inflight = SingleFlight<BodyCache.Key>()
    /// Entries that cannot be cached: the compressed body came out larger than the cache's entry limit.
    /// Bounded; cleared wholesale when full (it only saves repeated futile work).
    private let futile = Mutex<Set<BodyCache.Key>>([])
    private static let futileLimit = 4096
    private let compressionCount = Atomic<Int>(0)
    private let compressedBytesIn = Atomic<Int>(0)
    private let compressionNanoseconds = Atomic<Int>(0)

    init(cache: BodyCache, levels: CompressionLevels, pool: WorkerPool, recompressor: WorkerPool?) {
        self.cache = cache
        self.levels = levels
        self.pool = pool
        self.recompressor = recompressor
    }

    /// Runs other off-loop work (stream pieces, listings) on the same workers.
    func run(_ job: @escaping @Sendable () -> Void) { pool.submit(job) }

    var compressions: Int { compressionCount.load(ordering: .relaxed) }
    var compressionInputBytes: Int { compressedBytesIn.load(ordering: .relaxed) }
    var compressionTimeNanoseconds: Int { compressionNanoseconds.load(ordering: .relaxed) }
    /// Cached bodies replaced by a smaller recompressed body.
    var recompressions: Int { recompressionCount.load(ordering: .relaxed) }

    enum Miss {
        /// A job is running (or was just started) for this entry; `resumer` is called when it is done.
        case pending
        /// No body will come for this request: the entry cannot be cached (its body exceeds the entry limit), or the
        /// job could not be started (no descriptor for it). Send something else.
        case futile
    }

    /// On the loop: the cached body of `identity` in `coding` (counted as a hit or a miss). Which pass made it
    /// decides the ETag, so the caller asks before evaluating preconditions.
    func cachedBody(_ identity: FileIdentity, coding: ContentCoding) -> CompressedBody? { cache.get(identity, coding: coding) }

    /// On the loop, after `cachedBody` missed: a registration to be resumed when the body is ready (the request is
    /// then handled again and hits). `fd` is the request's open file (the job works on its own duplicate, so the
    /// caller keeps ownership of `fd`).
    func compress(_ identity: FileIdentity, coding: ContentCoding, fd: Int32, resumer: ConnectionResumer) -> Miss {
        let key = BodyCache.Key(identity: identity, coding: coding)
        if futile.withLock({ $0.contains(key) }) { return .futile }
        guard inflight.join(key, resumer) else { return .pending }
        // The job may have finished between the cache miss above and joining: look once more (without
        // counting a second miss) before starting another compression.
        if cache.contains(identity, coding: coding) {
            inflight.finish(key)
            return .pending
        }
        let own = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard own >= 0 else {
            // Out of descriptors: this request goes without, and whoever joined meanwhile is resumed to decide for
            // itself.
            finish(key, body: nil)
            return .futile
        }
        pool.submit { [self] in
            let compressed = compressFile(key, fd: own)
            Glibc.close(own)
            finish(key, body: compressed?.body)
            if let compressed { recompress(key, input: compressed.input, current: compressed.body) }
        }
        return .pending
    }

    /// Runs on a worker: the first pass's body, and the input it was made from (for `recompress`).
    private func compressFile(_ key: BodyCache.Key, fd: Int32) -> (body: CompressedBody, input: [UInt8])? {
        let identity = key.identity
        let started = monotonicNanoseconds()
        // Read the whole file (it is at most the cache's entry limit).
        var input = [UInt8](repeating: 0, count: identity.size)
        let ok = input.withUnsafeMutableBytes { readFully(fd, into: $0, at: 0) }
        // The identity must still be the one asked for, or the bytes could mix two versions: any change after the
        // caller's settled identity was read has a later ctime.
        guard ok, FileIdentity.of(fd: fd) == identity,
              let compressed = try? input.withUnsafeBytes({ bytes throws(CompressionError) in
                  try levels.compress(bytes, coding: key.coding)
              })
        else { return nil }
        let elapsed = monotonicNanoseconds() - started
        compressionCount.add(1, ordering: .relaxed)
        compressedBytesIn.add(identity.size, ordering: .relaxed)
        compressionNanoseconds.add(Int(elapsed), ordering: .relaxed)
        // A body that grew (tiny or incompressible files) is still sent: the client asked for the coding, and the
        // type and --gzip-min-size filters already keep such files rare.
        guard compressed.count <= cache.maxEntryBytes else {
            futile.withLock { futile in
                if futile.count >= Self.futileLimit { futile.removeAll() }
                futile.insert(key)
            }
            return nil
        }
        // Large bodies go into a sealed memfd (sent with sendfile); the rest, or when that fails, a malloc'd block.
        return (CompressedBody.cacheEntry(taking: compressed, identityLength: identity.size, compressNanoseconds: elapsed), input)
    }

    /// Runs on a worker, after `current` (the first pass's body for `key`) was published: queues the recompression
    /// unless it is off, the coding has none beyond its first pass, the input is too large, or the queue is full.
    private func recompress(_ key: BodyCache.Key, input: [UInt8], current: CompressedBody) {
        guard let recompressor, levels.recompresses(key.coding), input.count <= Self.recompressMaxInput,
              cache.contains(key.identity, coding: key.coding) else { return }
        let queued = recompressPendingBytes.add(input.count, ordering: .relaxed).newValue
        guard queued <= Self.recompressQueueLimit else {
            recompressPendingBytes.subtract(input.count, ordering: .relaxed)
            return
        }
        recompressor.submit { [self] in
            defer { recompressPendingBytes.subtract(input.count, ordering: .relaxed) }
            // Evicted, or replaced by a newer version, while queued: not worth the CPU.
            guard cache.contains(key.identity, coding: key.coding) else { return }
            let smaller = try? input.withUnsafeBytes { bytes throws(CompressionError) in
                try levels.recompress(bytes, coding: key.coding)
            }
            // Its smaller blocks (below the mmap threshold, see `Server.init`) are free now too: give their pages
            // back rather than keep them in this thread's arena. Cost: a walk of malloc's free lists.
            malloc_trim(0)
            // "Smaller" is the only reason to swap.
            guard let smaller, smaller.count < current.count else { return }
            // compressNanoseconds stays the first pass's: it is what the miss's Server-Timing reported.
            let body = CompressedBody.cacheEntry(
                taking: smaller, identityLength: key.identity.size, compressNanoseconds: current.compressNanoseconds,
                recompressed: true)
            if cache.replace(current, with: body, for: key.identity, coding: key.coding) {
                recompressionCount.add(1, ordering: .relaxed)
            }
        }
    }

    /// Publishes the body (cache first, then waiters – so a waiter that looks again always finds it) and resumes
    /// every connection that waited.
    private func finish(_ key: BodyCache.Key, body: CompressedBody?) {
        if let body {
            cache.insert(body, for: key.identity, coding: key.coding)
            cache.removeOtherVersions(of: key.identity)
        }
        inflight.finish(key)
    }
}

@inline(__always) func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
