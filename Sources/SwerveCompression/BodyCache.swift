import SwerveFiles
import SwerveHTTP
import Synchronization

/// A snapshot of a `BodyCache`'s counters, taken under its lock (so the fields are consistent with each other).
///
/// Identities that hold in every snapshot:
/// - `insertions == entries + evictions + removals`
/// - `bytesHeld == (sum of the held bodies' counts) + entries * BodyCache.entryOverheadBytes <= capacityBytes`
public struct BodyCacheStatistics: Sendable, Equatable {
    /// `get` calls that returned a body.
    public var hits: Int
    /// `get` calls that returned nil (including every `get` on a disabled cache).
    public var misses: Int
    /// `insert` calls that stored their body (including those that replaced an entry for the same key).
    public var insertions: Int
    /// Entries dropped to make room (least-recently-used first).
    public var evictions: Int
    /// Entries dropped for any other reason: `remove`, `removeOtherVersions`, or replaced by an `insert` for the
    /// same key.
    public var removals: Int
    /// `insert` calls refused: body larger than `maxEntryBytes`, or cache disabled.
    public var rejected: Int
    /// Entries held now.
    public var entries: Int
    /// Accounted bytes held now: each entry counts its compressed length plus `BodyCache.entryOverheadBytes`.
    public var bytesHeld: Int
    /// Sum over held entries of `identityLength - count` (negative for a body that grew when compressed).
    public var bytesSaved: Int
    public var capacityBytes: Int
    public var maxEntryBytes: Int

    public init(
        hits: Int = 0, misses: Int = 0, insertions: Int = 0, evictions: Int = 0, removals: Int = 0,
        rejected: Int = 0, entries: Int = 0, bytesHeld: Int = 0, bytesSaved: Int = 0, capacityBytes: Int = 0,
        maxEntryBytes: Int = 0
    ) {
        self.hits = hits
        self.misses = misses
        self.insertions = insertions
        self.evictions = evictions
        self.removals = removals
        self.rejected = rejected
        self.entries = entries
        self.bytesHeld = bytesHeld
        self.bytesSaved = bytesSaved
        self.capacityBytes = capacityBytes
        self.maxEntryBytes = maxEntryBytes
    }
}

/// An in-memory LRU of compressed response bodies, bounded in bytes, shared by all event loops.
///
/// Entries are keyed by a file's `FileIdentity` and a coding. An identity names one exact version of one file
/// (device, inode, size, mtime and ctime with nanoseconds, birth time), so a changed file – rewritten in place with
/// its old mtime put back, replaced by rename, or a new file handed a freed inode number – simply misses: entries
/// never need invalidating. Old versions leave through LRU eviction, or at once through `removeOtherVersions(of:)`.
/// Callers insert only bodies of settled identities (`FileIdentity.isSettled(before:)`).
///
/// Threading: every operation takes one `Mutex` (a futex: ~4 ns uncontended) for a few dozen nanoseconds. Bodies
/// that an operation drops are released *after* the lock is released, so freeing (possibly `munmap` of a large
/// block) never stalls another event loop's lookup.
///
/// Invariant (asserted in debug builds after every insertion, and checked by the tests after every operation):
/// `bytesHeld <= capacityBytes`, where each entry is accounted as `body.count + entryOverheadBytes`.
public final class BodyCache: Sendable {
    /// Bytes accounted per entry on top of its compressed length, so that many tiny bodies cannot hold many times
    /// `capacityBytes` in bookkeeping (it also bounds the entry count at `capacityBytes / 256`). What an entry
    /// costs besides its bytes on 64-bit Linux: the `CompressedBody` object (64 B with malloc's header), the
    /// block's malloc header (16 B), its node and body reference (72 B, up to twice that just after the arrays
    /// grew), 2–4 buckets of the key index (8–16 B) and a share of the per-file index (~30–60 B): 190–310 B.
    public static let entryOverheadBytes = 256

    /// The accounting bound: `bytesHeld` never exceeds it. 0 disables the cache.
    public let capacityBytes: Int
    /// The largest body `insert` accepts: the requested maximum (default `capacityBytes / 8`, so one large file
    /// cannot flush most of the cache), clamped so that one entry with its overhead fits in `capacityBytes`.
    public let maxEntryBytes: Int

    let state: Mutex<LRU>

    /// `capacityBytes` 0 disables the cache: every `get` misses, every `insert` is rejected (both still counted).
    /// A capacity below `entryOverheadBytes + 1` has the same effect, since no body would fit.
    public init(capacityBytes: Int, maxEntryBytes: Int? = nil) {
        precondition(capacityBytes >= 0, "BodyCache capacity must not be negative")
        precondition((maxEntryBytes ?? 0) >= 0, "BodyCache maxEntryBytes must not be negative")
        let fitting = max(0, capacityBytes - Self.entryOverheadBytes)
        let maxEntry = min(maxEntryBytes ?? capacityBytes / 8, fitting)
        self.capacityBytes = capacityBytes
        self.maxEntryBytes = maxEntry
        self.state = Mutex(LRU(capacityBytes: capacityBytes, maxEntryBytes: maxEntry))
    }

    /// False if nothing can ever be stored (capacity 0, or too small for one entry). Callers may skip compressing
    /// for the cache then; `get` and `insert` still behave correctly (miss, reject).
    public var isEnabled: Bool { maxEntryBytes > 0 }

    /// The body of `identity` in `coding`, marking it most-recently used; counts a hit or a miss.
    ///
    /// Hot path of every compressed request. Cost: one lock, one hash lookup, an O(1) relink of the LRU list
    /// (a few array stores) and one retain of the returned body. No allocation.
    public func get(_ identity: FileIdentity, coding: ContentCoding) -> CompressedBody? {
        state.withLock { $0.get(Key(identity: identity, coding: coding)) }
    }

    /// Stores `body` for `identity` in `coding` as the most-recently-used entry, replacing any entry for the same
    /// identity and coding and evicting
    /// least-recently-used entries until it fits. Returns false (counted as `rejected`) if `body.count` exceeds
    /// `maxEntryBytes` or the cache is disabled; an existing entry for `key` then stays.
    ///
    /// Cost: a lookup and an insertion in the key index (the index and node array grow geometrically, so
    /// allocation is amortised), O(1) per evicted entry; allocates one small array only if entries are dropped.
    @discardableResult
    public func insert(_ body: CompressedBody, for identity: FileIdentity, coding: ContentCoding) -> Bool {
        // The dropped bodies travel out in the result and are released when it dies: after the unlock.
        state.withLock { $0.insert(body, for: Key(identity: identity, coding: coding)) }.accepted
    }

    /// Replaces the entry for `identity` in `coding` with `body` only if that entry is still `current` (the very object): a
    /// recompression that finishes after its entry was evicted, or after a newer version or a newer body took the
    /// key, changes nothing. Returns whether it replaced. Counted like an `insert` that replaces (one insertion, one
    /// removal); the entry becomes the most recently used.
    ///
    /// Cost: as `insert`, plus the identity check; the old body is released after the unlock.
    @discardableResult
    public func replace(_ current: CompressedBody, with body: CompressedBody, for identity: FileIdentity, coding: ContentCoding) -> Bool {
        let key = Key(identity: identity, coding: coding)
        return state.withLock { lru -> (accepted: Bool, dropped: [CompressedBody]) in
            guard let slot = lru.slot(for: key), lru.bodies[Int(slot)] === current else { return (false, []) }
            return lru.insert(body, for: key)
        }.accepted
    }

    /// Drops the entry for `identity` in `coding`, if any. Returns whether there was one. Cost: as `get`, plus the
    /// body's release after the unlock.
    @discardableResult
    public func remove(_ identity: FileIdentity, coding: ContentCoding) -> Bool {
        state.withLock { lru -> CompressedBody? in lru.remove(Key(identity: identity, coding: coding)) } != nil
    }

    /// Drops every entry of this file (same device and inode) whose identity differs from `identity`, in any
    /// coding. Entries of `identity` itself – in every coding – stay.
    /// Used when a newer version of a file is seen, so old versions don't linger until evicted.
    ///
    /// Cost: one hash lookup in the per-file index, then O(entries of that file) through an intrusive chain.
    /// Allocates one small array only if entries are dropped.
    public func removeOtherVersions(of identity: FileIdentity) {
        _ = state.withLock { $0.removeOtherVersions(of: identity) }
    }

    /// A consistent snapshot of the counters. Cost: one lock and a copy of eleven integers.
    public var statistics: BodyCacheStatistics {
        state.withLock { $0.statistics }
    }

    /// Walks every structure and returns a description of the first inconsistency, or nil. O(entries); for tests.
    func consistencyProblem() -> String? {
        state.withLock { $0.consistencyProblem() }
    }
}

extension BodyCache {
    /// One entry's name: a file version and a coding, compared as plain bits. Also what the compression jobs are
    /// keyed by (one job per entry).
    public struct Key: Hashable, Sendable, BitwiseCopyable {
        public var identity: FileIdentity
        public var coding: ContentCoding

        public init(identity: FileIdentity, coding: ContentCoding) {
            self.identity = identity
            self.coding = coding
        }
    }

    /// One slot of the node array. A held entry is on two intrusive doubly linked lists: the LRU list and its
    /// file's chain. A free slot links the free list through `older`.
    ///
    /// Plain bits (`BitwiseCopyable`): the body lives in the parallel `bodies` array, so reading or relinking a
    /// node never retains or releases anything.
    struct Node: BitwiseCopyable {
        var key: Key
        /// `LRU.hash(key)`, kept so probing compares one word before the key, and so the index can move entries
        /// (growth, deletion) without rehashing.
        var hash: UInt32
        /// LRU list: towards the least-recently-used end. On a free slot: the next free slot.
        var older: Int32
        /// LRU list: towards the most-recently-used end.
        var newer: Int32
        /// The file chain (entries whose identities share `fileWord`: the same device and inode, or rarely another
        /// file that folds to the same word), in no particular order.
        var fileNext: Int32
        var filePrev: Int32
    }

    /// The cache proper, only ever touched under `state`'s lock.
    ///
    /// Layout: every entry lives in one slot of `nodes` (plain bits) and of `bodies` (its reference), linked by
    /// `Int32` slot indices – no object per entry besides the body itself, no `removeFirst`. Freed slots are
    /// reused through a free list; the arrays never shrink and hold at most `capacityBytes / entryOverheadBytes`
    /// slots.
    ///
    /// The key index is an open-addressing table of slot indices (linear probing, load ≤ 1/2, deletion by
    /// backward shift, so no tombstones). It replaces `Dictionary<Key, Int32>` on the hot path: with it a
    /// `get` cost ~470 instructions, ~190 of them in `Hasher` (seeding, SipHash rounds, finalisation); with this
    /// table ~180, of which the hash is one 64×64-bit multiply. The hash is seeded per cache, and the keys come
    /// from `fstat`, not from clients, so probe sequences cannot be steered. The per-file index, used only off
    /// the hot path, is a plain `Dictionary`.
    ///
    /// `~Copyable` so that no accidental copy can fork the state (and so every mutation is in place).
    struct LRU: ~Copyable {
        /// "No slot": the end of a list, an empty bucket.
        static let none: Int32 = -1
        /// Smallest bucket count (a power of two).
        static let minimumBuckets = 16

        let capacityBytes: Int
        let maxEntryBytes: Int
        /// Mixed into every hash, from the system RNG: another process cannot predict bucket positions.
        let seed: UInt64
        /// Bucket → slot, or `none`. Count is a power of two, at least twice `statistics.entries`.
        var buckets: ContiguousArray<Int32>
        /// `FileIdentity.fileWord` → head of its file chain.
        var files: [UInt64: Int32] = [:]
        var nodes: ContiguousArray<Node> = []
        /// The body of each slot; nil exactly on free slots.
        var bodies: ContiguousArray<CompressedBody?> = []
        var freeHead: Int32 = none
        /// Most-recently-used end of the LRU list.
        var newest: Int32 = none
        /// Least-recently-used end: the next eviction.
        var oldest: Int32 = none
        var statistics: BodyCacheStatistics

        init(capacityBytes: Int, maxEntryBytes: Int) {
            self.capacityBytes = capacityBytes
            self.maxEntryBytes = maxEntryBytes
            seed = UInt64.random(in: .min ... .max)
            buckets = ContiguousArray(repeating: Self.none, count: Self.minimumBuckets)
            statistics = BodyCacheStatistics(capacityBytes: capacityBytes, maxEntryBytes: maxEntryBytes)
        }

        mutating func get(_ key: Key) -> CompressedBody? {
            guard let slot = slot(for: key) else {
                statistics.misses &+= 1
                return nil
            }
            statistics.hits &+= 1
            if slot != newest {
                unlinkLRU(slot)
                pushNewest(slot)
            }
            return bodies[Int(slot)]
        }

        /// Returns whether the body was stored, and the bodies dropped (to be released after the unlock).
        mutating func insert(_ body: CompressedBody, for key: Key) -> (accepted: Bool, dropped: [CompressedBody]) {
            guard maxEntryBytes > 0, body.count <= maxEntryBytes else {
                statistics.rejected &+= 1
                return (false, [])
            }
            var dropped: [CompressedBody] = []
            let hash = hash(key)
            if let old = slot(for: key, hash: hash) {
                dropped.append(removeSlot(old))
                statistics.removals &+= 1
            }
            let cost = Self.cost(of: body)
            // Terminates: cost <= capacityBytes (maxEntryBytes is clamped), so while the sum exceeds the capacity
            // bytesHeld > 0, and a positive bytesHeld means the list is not empty.
            while statistics.bytesHeld + cost > capacityBytes {
                precondition(oldest != Self.none, "BodyCache: bytes accounted with no entries")
                dropped.append(removeSlot(oldest))
                statistics.evictions &+= 1
            }
            let slot = allocateSlot(Node(key: key, hash: hash, older: Self.none, newer: Self.none,
                                         fileNext: Self.none, filePrev: Self.none), body)
            pushNewest(slot)
            linkFile(slot, key.identity.fileWord)
            addToIndex(slot, hash: hash)
            statistics.entries += 1
            statistics.bytesHeld += cost
            statistics.bytesSaved += body.identityLength - body.count
            statistics.insertions &+= 1
            assert(statistics.bytesHeld <= capacityBytes, "BodyCache: bytesHeld exceeds capacityBytes")
            return (true, dropped)
        }

        mutating func remove(_ key: Key) -> CompressedBody? {
            guard let slot = slot(for: key) else { return nil }
            statistics.removals &+= 1
            return removeSlot(slot)
        }

        mutating func removeOtherVersions(of identity: FileIdentity) -> [CompressedBody] {
            guard var slot = files[identity.fileWord] else { return [] }
            var dropped: [CompressedBody] = []
            while slot != Self.none {
                // Read the successor first: removing `slot` unlinks it, but leaves `next` where it is.
                let next = nodes[Int(slot)].fileNext
                let held = nodes[Int(slot)].key.identity
                if held.isSameFile(as: identity) && held != identity {
                    dropped.append(removeSlot(slot))
                    statistics.removals &+= 1
                }
                slot = next
            }
            return dropped
        }

        // MARK: Key index

        /// The bucket hash of a key: the identity folded into two words (`fileWord`, `versionWord`) and the coding
        /// into the top byte, then one 64×64→128-bit multiply whose halves are folded (wyhash's "mum"), then folded
        /// to 32 bits. ~20 instructions.
        @inline(__always)
        func hash(_ key: Key) -> UInt32 {
            let file = key.identity.fileWord
            let version = key.identity.versionWord ^ (UInt64(key.coding.rawValue) &<< 56)
            let product = (file ^ seed ^ 0xA076_1D64_78BD_642F).multipliedFullWidth(by: version ^ 0xE703_7ED1_A0B4_28DB)
            let mixed = product.high ^ product.low
            return UInt32(truncatingIfNeeded: mixed ^ (mixed &>> 32))
        }

        /// The slot holding `key`, or nil. Probes from the key's home bucket to the first empty one (at load ≤ 1/2
        /// that is 1.5 buckets on average for a hit, 2.5 for a miss).
        @inline(__always)
        func slot(for key: Key, hash: UInt32) -> Int32? {
            let mask = buckets.count - 1
            var bucket = Int(hash) & mask
            while true {
                let slot = buckets[bucket]
                if slot == Self.none { return nil }
                if nodes[Int(slot)].hash == hash && nodes[Int(slot)].key == key { return slot }
                bucket = (bucket + 1) & mask
            }
        }

        @inline(__always)
        func slot(for key: Key) -> Int32? { slot(for: key, hash: hash(key)) }

        /// Adds a slot whose key is not in the index. Doubles the table first if it would pass load 1/2.
        /// Cost: O(1) amortised; a doubling rehashes nothing (hashes are stored) but moves every entry.
        private mutating func addToIndex(_ slot: Int32, hash: UInt32) {
            if (statistics.entries + 1) * 2 > buckets.count { growIndex() }
            let mask = buckets.count - 1
            var bucket = Int(hash) & mask
            while buckets[bucket] != Self.none { bucket = (bucket + 1) & mask }
            buckets[bucket] = slot
        }

        private mutating func growIndex() {
            let old = buckets
            buckets = ContiguousArray(repeating: Self.none, count: old.count * 2)
            let mask = buckets.count - 1
            for slot in old where slot != Self.none {
                var bucket = Int(nodes[Int(slot)].hash) & mask
                while buckets[bucket] != Self.none { bucket = (bucket + 1) & mask }
                buckets[bucket] = slot
            }
        }

        /// Removes a held slot from the index. Backward-shift deletion: each later entry of the probe run moves
        /// into the hole if the hole lies between its home bucket and its bucket, so lookups never need
        /// tombstones. Cost: O(length of the probe run).
        private mutating func removeFromIndex(_ slot: Int32) {
            let mask = buckets.count - 1
            var hole = Int(nodes[Int(slot)].hash) & mask
            while buckets[hole] != slot { hole = (hole + 1) & mask }
            var bucket = (hole + 1) & mask
            while buckets[bucket] != Self.none {
                let moving = buckets[bucket]
                let home = Int(nodes[Int(moving)].hash) & mask
                // Distance home→bucket >= distance hole→bucket: the hole is on this entry's probe path.
                if (bucket &- home) & mask >= (bucket &- hole) & mask {
                    buckets[hole] = moving
                    hole = bucket
                }
                bucket = (bucket + 1) & mask
            }
            buckets[hole] = Self.none
        }

        // MARK: Slots and lists

        /// Accounted size of an entry.
        @inline(__always)
        static func cost(of body: CompressedBody) -> Int { body.count + BodyCache.entryOverheadBytes }

        /// Unlinks a held slot from every structure, frees the slot, and hands back its body.
        private mutating func removeSlot(_ slot: Int32) -> CompressedBody {
            unlinkLRU(slot)
            unlinkFile(slot, nodes[Int(slot)].key.identity.fileWord)
            removeFromIndex(slot)
            let body = bodies[Int(slot)].take()!
            nodes[Int(slot)].older = freeHead
            freeHead = slot
            statistics.entries -= 1
            statistics.bytesHeld -= Self.cost(of: body)
            statistics.bytesSaved -= body.identityLength - body.count
            return body
        }

        private mutating func allocateSlot(_ node: Node, _ body: CompressedBody) -> Int32 {
            if freeHead != Self.none {
                let slot = freeHead
                freeHead = nodes[Int(slot)].older
                nodes[Int(slot)] = node
                bodies[Int(slot)] = body
                return slot
            }
            precondition(nodes.count < Int(Int32.max), "BodyCache: too many entries for Int32 slot indices")
            nodes.append(node)
            bodies.append(body)
            return Int32(nodes.count - 1)
        }

        @inline(__always)
        private mutating func unlinkLRU(_ slot: Int32) {
            let older = nodes[Int(slot)].older
            let newer = nodes[Int(slot)].newer
            if older != Self.none { nodes[Int(older)].newer = newer } else { oldest = newer }
            if newer != Self.none { nodes[Int(newer)].older = older } else { newest = older }
        }

        @inline(__always)
        private mutating func pushNewest(_ slot: Int32) {
            nodes[Int(slot)].older = newest
            nodes[Int(slot)].newer = Self.none
            if newest != Self.none { nodes[Int(newest)].newer = slot } else { oldest = slot }
            newest = slot
        }

        private mutating func linkFile(_ slot: Int32, _ file: UInt64) {
            let head = files[file] ?? Self.none
            nodes[Int(slot)].filePrev = Self.none
            nodes[Int(slot)].fileNext = head
            if head != Self.none { nodes[Int(head)].filePrev = slot }
            files[file] = slot
        }

        private mutating func unlinkFile(_ slot: Int32, _ file: UInt64) {
            let prev = nodes[Int(slot)].filePrev
            let next = nodes[Int(slot)].fileNext
            if next != Self.none { nodes[Int(next)].filePrev = prev }
            if prev != Self.none {
                nodes[Int(prev)].fileNext = next
            } else if next != Self.none {
                files[file] = next
            } else {
                files[file] = nil
            }
        }

        // MARK: Verification (tests)

        func consistencyProblem() -> String? {
            if statistics.bytesHeld > capacityBytes { return "bytesHeld \(statistics.bytesHeld) > capacity \(capacityBytes)" }
            if statistics.insertions != statistics.entries + statistics.evictions + statistics.removals {
                return "insertions != entries + evictions + removals: \(statistics)"
            }
            // LRU list, both directions; every listed entry findable through the index.
            var count = 0, bytes = 0, saved = 0
            var slot = newest, previous = Self.none
            while slot != Self.none {
                let node = nodes[Int(slot)]
                guard let body = bodies[Int(slot)] else { return "free slot \(slot) on the LRU list" }
                if node.newer != previous { return "slot \(slot): newer link \(node.newer) != \(previous)" }
                if node.hash != hash(node.key) { return "slot \(slot): stale hash" }
                if self.slot(for: node.key) != slot { return "slot \(slot) not found through the index" }
                count += 1
                bytes += Self.cost(of: body)
                saved += body.identityLength - body.count
                if count > nodes.count { return "LRU list has a cycle" }
                previous = slot
                slot = node.older
            }
            if oldest != previous { return "oldest \(oldest) != last slot of the list \(previous)" }
            if count != statistics.entries { return "entries: list \(count), statistics \(statistics.entries)" }
            if bytes != statistics.bytesHeld { return "bytesHeld: list \(bytes), statistics \(statistics.bytesHeld)" }
            if saved != statistics.bytesSaved { return "bytesSaved: list \(saved), statistics \(statistics.bytesSaved)" }
            // Index: exactly the held slots, at load ≤ 1/2.
            let indexed = buckets.filter { $0 != Self.none }
            if indexed.count != count { return "index holds \(indexed.count) slots, the list \(count)" }
            if Set(indexed).count != count { return "a slot is indexed twice" }
            if buckets.count & (buckets.count - 1) != 0 || count * 2 > buckets.count {
                return "index: \(buckets.count) buckets for \(count) entries"
            }
            // File chains: together they hold every entry exactly once.
            var chained = 0
            for (file, head) in files {
                var slot = head, previous = Self.none
                if slot == Self.none { return "empty chain for \(file)" }
                while slot != Self.none {
                    let node = nodes[Int(slot)]
                    if bodies[Int(slot)] == nil { return "free slot \(slot) on a file chain" }
                    if node.key.identity.fileWord != file { return "slot \(slot) on the chain of another file" }
                    if node.filePrev != previous { return "slot \(slot): filePrev \(node.filePrev) != \(previous)" }
                    chained += 1
                    if chained > count { return "file chains longer than the entry count" }
                    previous = slot
                    slot = node.fileNext
                }
            }
            if chained != count { return "file chains hold \(chained) entries, the list \(count)" }
            // Free list: every remaining slot.
            var free = 0
            slot = freeHead
            while slot != Self.none {
                if bodies[Int(slot)] != nil { return "held slot \(slot) on the free list" }
                free += 1
                if free > nodes.count { return "free list has a cycle" }
                slot = nodes[Int(slot)].older
            }
            if nodes.count != bodies.count { return "\(nodes.count) nodes, \(bodies.count) bodies" }
            if free + count != nodes.count { return "slots: \(free) free + \(count) held != \(nodes.count)" }
            return nil
        }
    }
}

extension BodyCache {
    /// Whether `identity` in `coding` has an entry, without counting a hit or miss or refreshing its recency. For the
    /// single-flight re-check after a miss (a second `get` would count the same request's miss twice). Cost: one
    /// lock, one lookup.
    public func contains(_ identity: FileIdentity, coding: ContentCoding) -> Bool {
        state.withLock { $0.contains(Key(identity: identity, coding: coding)) }
    }
}

extension BodyCache.LRU {
    func contains(_ key: BodyCache.Key) -> Bool { slot(for: key) != nil }
}
