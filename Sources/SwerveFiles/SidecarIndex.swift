import Synchronization

/// Remembers, per file version, which precompressed sidecars (`x.js.gz`, `x.js.br`, `x.js.zst`) exist, so a missing sidecar
/// does not cost a failed `open()` on every request (nginx's gzip_static pays one unless open_file_cache is set).
///
/// Keyed by the source's `FileIdentity`: editing `x.js` changes the key and forces a fresh look. A sidecar added or
/// removed later without touching the source is noticed within `recheckMilliseconds`. Bounded: when full, the
/// answers past their age go first, and if that frees nothing the index starts over – a cold entry costs one
/// failed open, nothing worse. Shared by the loops (one lock per look-up, only when the open-file cache has no
/// answer of its own).
public final class SidecarIndex: Sendable {
    public struct Entry: Sendable {
        public var gzip: Bool
        public var brotli: Bool
        public var zstd: Bool
        /// Monotonic milliseconds of the look.
        public var checkedAt: Int64

        public init(gzip: Bool, brotli: Bool, zstd: Bool, checkedAt: Int64) {
            self.gzip = gzip
            self.brotli = brotli
            self.zstd = zstd
            self.checkedAt = checkedAt
        }
    }

    /// How long an answer is trusted. Deploys that add sidecars next to unchanged files are seen this fast.
    public static let recheckMilliseconds: Int64 = 5000
    public static let capacity = 16384

    private let entries = Mutex<[FileIdentity: Entry]>([:])

    public init() {}

    public func lookup(_ identity: FileIdentity, now: Int64) -> Entry? {
        entries.withLock { entries in
            guard let entry = entries[identity], now - entry.checkedAt < Self.recheckMilliseconds else { return nil }
            return entry
        }
    }

    public func record(_ identity: FileIdentity, _ entry: Entry) {
        entries.withLock { entries in
            if entries.count >= Self.capacity {
                entries = entries.filter { entry.checkedAt - $0.value.checkedAt < Self.recheckMilliseconds }
                if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[identity] = entry
        }
    }
}
