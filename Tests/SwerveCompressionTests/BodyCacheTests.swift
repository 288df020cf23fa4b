import Glibc
import Synchronization
import SwerveFiles
import SwerveHTTP
import SwerveTestSupport
import Testing

@testable import SwerveCompression

// MARK: Helpers

private let overhead = BodyCache.entryOverheadBytes

/// A body of `count` bytes, each `fill`.
private func body(_ count: Int, fill: UInt8 = 0xAB, identity: Int? = nil) -> CompressedBody {
    CompressedBody(taking: [UInt8](repeating: fill, count: count), identityLength: identity ?? count * 4,
                   compressNanoseconds: 0)
}

/// The key of file `inode` (device 1) at version `version` (its mtime and ctime nanoseconds), in `coding`
/// (1 = gzip).
private func key(_ inode: UInt64, version: Int64 = 0, coding: UInt8 = 1, device: UInt64 = 1) -> BodyCache.Key {
    let time = FileTime(seconds: 1_700_000_000, nanoseconds: Int32(version))
    return BodyCache.Key(
        identity: FileIdentity(device: device, inode: inode, size: 1000, modified: time, changed: time),
        coding: ContentCoding(rawValue: coding)!)
}

/// The cache's API spelled with one key value, for the tables of cases below.
extension BodyCache {
    fileprivate func get(_ key: Key) -> CompressedBody? { get(key.identity, coding: key.coding) }
    @discardableResult
    fileprivate func insert(_ body: CompressedBody, for key: Key) -> Bool { insert(body, for: key.identity, coding: key.coding) }
    @discardableResult
    fileprivate func replace(_ current: CompressedBody, with body: CompressedBody, for key: Key) -> Bool {
        replace(current, with: body, for: key.identity, coding: key.coding)
    }
    @discardableResult
    fileprivate func remove(_ key: Key) -> Bool { remove(key.identity, coding: key.coding) }
    fileprivate func removeOtherVersions(of key: Key) { removeOtherVersions(of: key.identity) }
    fileprivate func contains(_ key: Key) -> Bool { contains(key.identity, coding: key.coding) }
}

private func expectConsistent(_ cache: BodyCache, sourceLocation: SourceLocation = #_sourceLocation) {
    let stats = cache.statistics
    #expect(stats.bytesHeld <= stats.capacityBytes, sourceLocation: sourceLocation)
    #expect(cache.consistencyProblem() == nil, sourceLocation: sourceLocation)
}

// MARK: CompressedBody

@Suite("BodyCache: CompressedBody")
struct CompressedBodyTests {
    @Test("init(taking:) and init(copying:) hold an exact copy; an empty body has count 0")
    func copiesBytes() {
        let source: [UInt8] = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let taken = CompressedBody(taking: source, identityLength: 5000, compressNanoseconds: 42)
        #expect(taken.count == 1000)
        #expect(Array(taken.bytes) == source)
        #expect(taken.identityLength == 5000)
        #expect(taken.compressNanoseconds == 42)

        let copied = source.withUnsafeBytes { CompressedBody(copying: $0, identityLength: 5000, compressNanoseconds: 1) }
        #expect(Array(copied.bytes) == source)
        #expect(copied.bytes.baseAddress != taken.bytes.baseAddress)

        let empty = CompressedBody(taking: [], identityLength: 0, compressNanoseconds: 0)
        #expect(empty.count == 0)
        #expect(empty.bytes.baseAddress != nil)
    }

    @Test("a body evicted while a reference is held stays readable, and is freed when the last reference goes")
    func evictedBodyStaysReadable() {
        let cache = BodyCache(capacityBytes: 4 * (1000 + overhead), maxEntryBytes: 1000)
        weak var weakBody: CompressedBody?
        do {
            let pattern: [UInt8] = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }
            let held = CompressedBody(taking: pattern, identityLength: 4000, compressNanoseconds: 0)
            weakBody = held
            #expect(cache.insert(held, for: key(1)))
            // Four more entries of the same size push entry 1 out.
            for inode in 2...5 { #expect(cache.insert(body(1000, fill: 0), for: key(UInt64(inode)))) }
            #expect(cache.get(key(1)) == nil)
            #expect(cache.statistics.evictions == 1)
            // Churn the allocator so freed memory would be reused and overwritten.
            for inode in 6...40 { cache.insert(body(1000, fill: 0xEE), for: key(UInt64(inode))) }
            withExtendedLifetime(held) {
                #expect(Array(held.bytes) == pattern)
            }
        }
        #expect(weakBody == nil, "the cache kept a reference to an evicted body")
    }
}

// MARK: BodyCache

@Suite("BodyCache")
struct BodyCacheTests {
    @Test("eviction order is least-recently-used: a get refreshes an entry")
    func evictionOrderIsLeastRecentlyUsed() {
        let cache = BodyCache(capacityBytes: 3 * (100 + overhead))  // room for exactly three 100-byte entries
        let a = key(1), b = key(2), c = key(3), d = key(4), e = key(5)
        cache.insert(body(100), for: a)
        cache.insert(body(100), for: b)
        cache.insert(body(100), for: c)  // newest → oldest: c b a
        #expect(cache.get(a) != nil)  // a c b
        cache.insert(body(100), for: d)  // evicts b → d a c
        #expect(cache.statistics.evictions == 1)
        #expect(cache.state.withLock { $0.slot(for: b) } == nil)
        #expect(cache.get(c) != nil)  // c d a
        cache.insert(body(100), for: e)  // evicts a → e c d
        #expect(cache.statistics.evictions == 2)
        #expect(cache.get(a) == nil)
        #expect(cache.get(b) == nil)
        #expect(cache.get(c) != nil)
        #expect(cache.get(d) != nil)
        #expect(cache.get(e) != nil)
        // The LRU order itself, newest first: e d c (each get above moved its key to the front).
        let order: [UInt64] = cache.state.withLock { lru in
            var inodes: [UInt64] = []
            var slot = lru.newest
            while slot != BodyCache.LRU.none {
                inodes.append(lru.nodes[Int(slot)].key.identity.inode)
                slot = lru.nodes[Int(slot)].older
            }
            return inodes
        }
        #expect(order == [5, 4, 3])
        expectConsistent(cache)
    }

    @Test("contains neither counts a hit or miss nor refreshes recency")
    func containsIsSideEffectFree() {
        let cache = BodyCache(capacityBytes: 2 * (100 + overhead), maxEntryBytes: 100)
        cache.insert(body(100), for: key(1))
        cache.insert(body(100), for: key(2))  // newest → oldest: 2 1
        #expect(cache.contains(key(1)))
        #expect(!cache.contains(key(3)))
        cache.insert(body(100), for: key(3))  // evicts 1: contains did not refresh it
        #expect(!cache.contains(key(1)))
        #expect(cache.contains(key(2)))
        let stats = cache.statistics
        #expect(stats.hits == 0 && stats.misses == 0)
        #expect(stats.evictions == 1)
    }

    @Test("an LRU node is plain bits: the identity, the coding, the stored hash and four links (96 bytes)")
    func nodeLayout() {
        #expect(MemoryLayout<FileIdentity>.size == 68)
        #expect(MemoryLayout<BodyCache.Key>.size == 69)
        #expect(MemoryLayout<BodyCache.Node>.stride == 96)
    }

    @Test("bytesHeld never exceeds capacity across 10k random inserts (seeded), checked after every operation")
    func byteBoundHoldsUnderRandomInserts() {
        let capacity = 64 * 1024
        let cache = BodyCache(capacityBytes: capacity)
        let maxEntry = cache.maxEntryBytes
        #expect(maxEntry == capacity / 8)
        let source = [UInt8](repeating: 0x5A, count: maxEntry + 2048)
        var rng = SplitMix64(state: 0x5EED_B0DC)
        var expectedRejected = 0, gets = 0
        for _ in 0..<10_000 {
            let size = Int.random(in: 0...(maxEntry + 2048), using: &rng)
            let k = key(UInt64.random(in: 1...300, using: &rng), version: Int64.random(in: 0...2, using: &rng),
                        coding: UInt8.random(in: 1...2, using: &rng))
            let b = source.withUnsafeBytes {
                CompressedBody(copying: UnsafeRawBufferPointer(rebasing: $0[0..<size]), identityLength: size * 3,
                               compressNanoseconds: 0)
            }
            let accepted = cache.insert(b, for: k)
            if size > maxEntry { expectedRejected += 1 }
            #expect(accepted == (size <= maxEntry))
            if accepted { #expect(cache.state.withLock { $0.newest == $0.slot(for: k) }) }
            expectConsistent(cache)
            // Interleave the other operations too, checking after each.
            switch UInt8.random(in: 0..<8, using: &rng) {
            case 0...3:
                gets += 1
                _ = cache.get(key(UInt64.random(in: 1...300, using: &rng), version: 1))
                expectConsistent(cache)
            case 4:
                cache.remove(k)
                expectConsistent(cache)
            case 5:
                cache.removeOtherVersions(of: key(UInt64.random(in: 1...300, using: &rng), version: 2))
                expectConsistent(cache)
            default:
                break
            }
        }
        let stats = cache.statistics
        #expect(stats.rejected == expectedRejected)
        #expect(stats.insertions + stats.rejected == 10_000)
        #expect(stats.hits + stats.misses == gets)
        #expect(stats.evictions > 0, "the sequence never filled the cache: the test exercises nothing")
        #expect(stats.insertions == stats.entries + stats.evictions + stats.removals)
    }

    @Test("the key index agrees with a model Set through 40k random inserts/removes of 4,000 keys (no evictions)")
    func indexMatchesModelUnderChurn() {
        let keyCount = 4000
        let cache = BodyCache(capacityBytes: keyCount * (16 + overhead), maxEntryBytes: 16)
        let small = body(16)
        var model = Set<BodyCache.Key>()
        var rng = SplitMix64(state: 0x1DE_C0DE)
        for op in 1...40_000 {
            // Dense inodes and versions: many keys share bits, so probe runs form and deletions shift entries.
            let k = key(UInt64.random(in: 1...1000, using: &rng), version: Int64.random(in: 0...1, using: &rng),
                        coding: UInt8.random(in: 1...2, using: &rng))
            switch UInt8.random(in: 0..<3, using: &rng) {
            case 0:
                #expect(cache.insert(small, for: k))
                model.insert(k)
            case 1:
                #expect(cache.remove(k) == model.contains(k))
                model.remove(k)
            default:
                #expect((cache.get(k) != nil) == model.contains(k))
            }
            if op % 2000 == 0 {
                #expect(cache.statistics.entries == model.count)
                expectConsistent(cache)
            }
        }
        #expect(cache.statistics.evictions == 0)
        #expect(model.count > 1000)
        for k in model { #expect(cache.get(k) === small) }
        expectConsistent(cache)
    }

    @Test("an entry larger than maxEntryBytes is refused and counted; an existing entry for the key stays")
    func oversizeEntriesRefused() {
        let cache = BodyCache(capacityBytes: 8192)  // default maxEntryBytes = 8192 / 8
        #expect(cache.maxEntryBytes == 1024)
        let small = body(10)
        #expect(cache.insert(small, for: key(1)))
        #expect(!cache.insert(body(1025), for: key(1)))
        #expect(!cache.insert(body(5000), for: key(2)))
        #expect(cache.insert(body(1024), for: key(3)))
        let stats = cache.statistics
        #expect(stats.rejected == 2)
        #expect(stats.insertions == 2)
        #expect(stats.entries == 2)
        #expect(stats.bytesHeld == 10 + 1024 + 2 * overhead)
        #expect(cache.get(key(1)) === small)
        #expect(cache.get(key(2)) == nil)

        // A requested maximum is clamped so that one entry with its overhead fits in the capacity.
        let clamped = BodyCache(capacityBytes: 4096, maxEntryBytes: 1_000_000)
        #expect(clamped.maxEntryBytes == 4096 - overhead)
        #expect(clamped.insert(body(4096 - overhead), for: key(1)))
        #expect(!clamped.insert(body(4096 - overhead + 1), for: key(2)))
        #expect(clamped.statistics.bytesHeld == 4096)
        expectConsistent(clamped)
    }

    @Test("capacity 0 disables the cache: every get misses, every insert is rejected")
    func zeroCapacityDisables() {
        let cache = BodyCache(capacityBytes: 0)
        #expect(!cache.isEnabled)
        #expect(cache.maxEntryBytes == 0)
        #expect(!cache.insert(body(1), for: key(1)))
        #expect(!cache.insert(body(0), for: key(2)))
        #expect(cache.get(key(1)) == nil)
        #expect(cache.get(key(2)) == nil)
        cache.remove(key(1))
        cache.removeOtherVersions(of: key(1))
        #expect(cache.statistics == BodyCacheStatistics(misses: 2, rejected: 2))

        // Too small for one entry's overhead: equally disabled.
        let tiny = BodyCache(capacityBytes: overhead)
        #expect(!tiny.isEnabled)
        #expect(!tiny.insert(body(0), for: key(1)))
        #expect(BodyCache(capacityBytes: 1 << 20).isEnabled)
    }

    @Test("replacing the entry for a key updates bytesHeld, bytesSaved and the entry count")
    func replacingSameKey() {
        let cache = BodyCache(capacityBytes: 1 << 20)
        let first = body(100, identity: 1000)
        let second = body(300, identity: 1000)
        cache.insert(first, for: key(1))
        cache.insert(body(50, identity: 60), for: key(2))
        cache.insert(second, for: key(1))
        var stats = cache.statistics
        #expect(stats.entries == 2)
        #expect(stats.bytesHeld == 300 + 50 + 2 * overhead)
        #expect(stats.bytesSaved == (1000 - 300) + (60 - 50))
        #expect(stats.insertions == 3)
        #expect(stats.removals == 1)
        #expect(stats.evictions == 0)
        #expect(cache.get(key(1)) === second)
        // Replaced by a smaller one, and by the very same object.
        cache.insert(first, for: key(1))
        cache.insert(first, for: key(1))
        stats = cache.statistics
        #expect(stats.entries == 2)
        #expect(stats.bytesHeld == 100 + 50 + 2 * overhead)
        #expect(stats.bytesSaved == (1000 - 100) + (60 - 50))
        #expect(cache.get(key(1)) === first)
        expectConsistent(cache)

        // A replacement that needs room evicts others, never the key's own new entry.
        let full = BodyCache(capacityBytes: 2 * (500 + overhead), maxEntryBytes: 1000)
        full.insert(body(500), for: key(1))
        full.insert(body(500), for: key(2))
        full.insert(body(900), for: key(1))  // 1 replaced (removal); 2 must go to make room (eviction)
        stats = full.statistics
        #expect(stats.entries == 1)
        #expect(stats.removals == 1)
        #expect(stats.evictions == 1)
        #expect(stats.bytesHeld == 900 + overhead)
        #expect(full.get(key(1))?.count == 900)
        expectConsistent(full)
    }

    @Test("replace(_:with:for:) swaps only while the entry is still the body it was made from")
    func replaceIfCurrent() {
        let cache = BodyCache(capacityBytes: 1 << 20)
        let zlib = body(300, identity: 1000)
        let smaller = body(250, fill: 1, identity: 1000)
        cache.insert(zlib, for: key(1))
        cache.insert(body(50, identity: 60), for: key(2))
        #expect(cache.replace(zlib, with: smaller, for: key(1)))
        var stats = cache.statistics
        #expect(stats.entries == 2)
        #expect(stats.bytesHeld == 250 + 50 + 2 * overhead)
        #expect(stats.bytesSaved == (1000 - 250) + (60 - 50))
        #expect(stats.insertions == 3)
        #expect(stats.removals == 1)
        #expect(cache.contains(key(1)))
        // The entry is no longer `zlib`: a second swap from it is refused and changes nothing.
        #expect(!cache.replace(zlib, with: body(10), for: key(1)))
        // Evicted or removed: nothing to swap, nothing inserted.
        #expect(cache.remove(key(1)))
        #expect(!cache.replace(smaller, with: body(10), for: key(1)))
        #expect(!cache.contains(key(1)))
        // Another key's body is not "current" for this key.
        let other = body(40)
        cache.insert(other, for: key(3))
        #expect(!cache.replace(other, with: body(10), for: key(2)))
        stats = cache.statistics
        #expect(stats.entries == 2)
        #expect(stats.insertions == 4)
        #expect(cache.get(key(2))?.count == 50)
        expectConsistent(cache)
    }

    @Test("removeOtherVersions drops other versions of that file in every coding, and nothing else")
    func removeOtherVersions() {
        let cache = BodyCache(capacityBytes: 1 << 20)
        let current = key(7, version: 3)
        var sizeDiffers = key(7, version: 3)
        sizeDiffers.identity.size = 999
        var ctimeDiffers = key(7, version: 3)
        ctimeDiffers.identity.changed.nanoseconds += 1
        let keys: [BodyCache.Key] = [
            key(7, version: 1), key(7, version: 1, coding: 2),  // old version, two codings
            key(7, version: 2),  // another old version
            current, key(7, version: 3, coding: 2),  // the current version, two codings: stay
            sizeDiffers, ctimeDiffers,  // same mtime, another size or ctime: other versions
            key(8, version: 1),  // another file
            key(7, version: 1, device: 2),  // same inode on another device: another file
        ]
        for k in keys { cache.insert(body(10), for: k) }
        #expect(cache.statistics.entries == keys.count)

        cache.removeOtherVersions(of: current)
        let held = Set(keys.filter { k in cache.state.withLock { lru in lru.slot(for: k) != nil } })
        #expect(held == [current, key(7, version: 3, coding: 2), key(8, version: 1), key(7, version: 1, device: 2)])
        var stats = cache.statistics
        #expect(stats.entries == 4)
        #expect(stats.removals == 5)
        #expect(stats.evictions == 0)
        #expect(stats.bytesHeld == 4 * (10 + overhead))
        expectConsistent(cache)

        // Idempotent; a key that is not in the cache works as well; unknown files are a no-op.
        cache.removeOtherVersions(of: current)
        cache.removeOtherVersions(of: key(99))
        #expect(cache.statistics.entries == 4)
        cache.removeOtherVersions(of: key(7, version: 4))  // a newer version seen before it was cached
        stats = cache.statistics
        #expect(stats.entries == 2)
        #expect(cache.state.withLock { $0.files[current.identity.fileWord] } == nil)
        expectConsistent(cache)
    }

    @Test("statistics are exact on a scripted sequence")
    func statisticsExact() {
        let cache = BodyCache(capacityBytes: 3000, maxEntryBytes: 1500)
        let a = key(1), b = key(2), c = key(3)
        #expect(cache.get(a) == nil)  // miss 1
        cache.insert(body(1000, identity: 5000), for: a)  // insertion 1: 1256 held
        #expect(cache.get(a) != nil)  // hit 1
        cache.insert(body(1000, identity: 2000), for: b)  // insertion 2: 2512 held; order b a
        cache.insert(body(1000, identity: 2500), for: c)  // insertion 3: evicts a; order c b
        #expect(cache.get(a) == nil)  // miss 2
        #expect(cache.get(b) != nil)  // hit 2
        #expect(cache.get(c) != nil)  // hit 3
        #expect(!cache.insert(body(1501), for: a))  // rejected 1
        #expect(cache.remove(b))  // removal 1
        #expect(!cache.remove(b))  // not there: not counted
        let expected = BodyCacheStatistics(
            hits: 3, misses: 2, insertions: 3, evictions: 1, removals: 1, rejected: 1, entries: 1,
            bytesHeld: 1000 + overhead, bytesSaved: 2500 - 1000, capacityBytes: 3000, maxEntryBytes: 1500)
        #expect(cache.statistics == expected)
        expectConsistent(cache)
    }

    @Test("four threads × 50k get/insert/remove on one cache: invariant holds and the counts add up")
    func fourThreadsHammering() {
        let cache = BodyCache(capacityBytes: 256 * 1024, maxEntryBytes: 8 * 1024)
        let bodies = (0..<64).map { body($0 * 160, identity: $0 * 500) }  // 0 … 10,080 bytes: some oversize
        let gate = StartGate(parties: HammerJob.threadCount)
        let jobs = (0..<HammerJob.threadCount).map {
            HammerJob(cache: cache, bodies: bodies, seed: 0xC0FFEE &+ UInt64($0), gate: gate)
        }
        var threads: [pthread_t] = []
        for job in jobs {
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, hammerThreadMain, Unmanaged.passRetained(job).toOpaque())
            #expect(rc == 0)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }

        let stats = cache.statistics
        let gets = jobs.reduce(0) { $0 + $1.gets }
        let hits = jobs.reduce(0) { $0 + $1.hits }
        let inserts = jobs.reduce(0) { $0 + $1.inserts }
        let accepted = jobs.reduce(0) { $0 + $1.accepted }
        let removed = jobs.reduce(0) { $0 + $1.removed }
        #expect(gets + inserts + jobs.reduce(0) { $0 + $1.removes } == HammerJob.threadCount * HammerJob.operations)
        #expect(stats.hits + stats.misses == gets)
        #expect(stats.hits == hits)
        #expect(stats.insertions == accepted)
        #expect(stats.insertions + stats.rejected == inserts)
        #expect(stats.removals >= removed)  // removals also count replacements
        #expect(stats.insertions == stats.entries + stats.evictions + stats.removals)
        #expect(stats.evictions > 0)
        #expect(stats.hits > 0)
        #expect(!jobs.contains { $0.sawViolation })
        expectConsistent(cache)
    }
}

// MARK: Threads for the hammer test

/// Holds threads until all have arrived, so they really run the loop at the same time.
final class StartGate: Sendable {
    private let arrived = Atomic<Int>(0)
    let parties: Int
    init(parties: Int) { self.parties = parties }
    func wait() {
        arrived.add(1, ordering: .acquiringAndReleasing)
        while arrived.load(ordering: .acquiring) < parties { sched_yield() }
    }
}

/// One thread's work and tallies. `@unchecked Sendable`: the counters are written only by the job's own thread
/// and read by the test only after `pthread_join`, which orders the accesses.
final class HammerJob: @unchecked Sendable {
    static let threadCount = 4
    static let operations = 50_000

    let cache: BodyCache
    let bodies: [CompressedBody]
    let gate: StartGate
    var rng: SplitMix64
    var gets = 0, hits = 0, inserts = 0, accepted = 0, removes = 0, removed = 0
    var sawViolation = false

    init(cache: BodyCache, bodies: [CompressedBody], seed: UInt64, gate: StartGate) {
        self.cache = cache
        self.bodies = bodies
        self.gate = gate
        rng = SplitMix64(state: seed)
    }

    func run() {
        gate.wait()
        for op in 0..<Self.operations {
            // 2,000 keys shared by all threads: 500 files × 2 versions × 2 codings.
            let k = key(UInt64.random(in: 1...500, using: &rng), version: Int64.random(in: 0...1, using: &rng),
                        coding: UInt8.random(in: 1...2, using: &rng))
            switch UInt8.random(in: 0..<10, using: &rng) {
            case 0...5:
                gets += 1
                if let body = cache.get(k) {
                    hits += 1
                    // A body handed out must be whole, whatever other threads evict meanwhile.
                    if body.count > 0 && body.bytes[body.count - 1] != 0xAB { sawViolation = true }
                }
            case 6...8:
                inserts += 1
                if cache.insert(bodies[Int.random(in: 0..<bodies.count, using: &rng)], for: k) { accepted += 1 }
            default:
                removes += 1
                if cache.remove(k) { removed += 1 }
            }
            if op % 1024 == 0 {
                let stats = cache.statistics
                if stats.bytesHeld > stats.capacityBytes { sawViolation = true }
            }
        }
    }
}

/// The thread entry point: a named global function, as pthread_create needs a C function pointer.
func hammerThreadMain(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let job = Unmanaged<HammerJob>.fromOpaque(argument!).takeRetainedValue()
    job.run()
    return nil
}
