import Glibc
import SwerveHTTP
import Synchronization

/// Remembers, per file version, which precompressed sidecars (`x.js.gz`, `x.js.br`) exist, so a missing sidecar
/// does not cost a failed `open()` on every request (nginx's gzip_static pays one unless open_file_cache is set).
///
/// Keyed by the source's version: editing `x.js` changes the key and forces a fresh look. A sidecar added or
/// removed later without touching the source is noticed within `recheckSeconds`. Bounded: when full it is
/// cleared wholesale – a cold entry costs one failed open, nothing worse.
final class SidecarIndex: Sendable {
    struct Entry {
        var gzip: Bool
        var brotli: Bool
        var checkedAt: Int
    }

    /// How long an answer is trusted. Deploys that add sidecars next to unchanged files are seen this fast.
    static let recheckSeconds = 5
    static let capacity = 16384

    private let entries = Mutex<[FileVersion: Entry]>([:])

    func lookup(_ version: FileVersion, now: Int) -> Entry? {
        entries.withLock { entries in
            guard let entry = entries[version], now - entry.checkedAt < Self.recheckSeconds else { return nil }
            return entry
        }
    }

    func record(_ version: FileVersion, _ entry: Entry) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[version] = entry
        }
    }
}

