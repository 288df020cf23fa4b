import Glibc
import Synchronization
import SwerveTestSupport
import Testing

@testable import SwerveFiles

/// `DocumentRoot`: the configured path re-resolved on an injected millisecond clock.
@Suite("DocumentRoot")
struct DocumentRootTests {
    /// base/releases/41, base/releases/42 and base/current -> releases/41.
    final class Releases {
        let base: String
        var current: String { base + "/current" }
        init() throws {
            base = try makeTemporaryDirectory("swerve-root")
            mkdir(base + "/releases", 0o755)
            for release in ["41", "42"] {
                mkdir(base + "/releases/" + release, 0o755)
                try writeFile(base + "/releases/\(release)/index.html", Array("release \(release)\n".utf8))
            }
            symlink("releases/41", current)
        }
        deinit { removeTree(base) }

        /// Points `current` at `target` atomically (a new link renamed over the old one).
        func point(to target: String) {
            unlink(current + ".new")
            symlink(target, current + ".new")
            rename(current + ".new", current)
        }

        func identity(_ release: String) -> FileIdentity? { FileIdentity.of(path: base + "/releases/" + release) }
    }

    final class Events: Sendable {
        let log = Mutex<[String]>([])
        func record(_ event: DocumentRoot.Event) {
            let text: String
            switch event {
            case .swapped(_, let to): text = "swapped to \(to.inode)"
            case .unavailable(let error): text = "unavailable: \(error.kind)"
            case .restored: text = "restored"
            }
            log.withLock { $0.append(text) }
        }
        var all: [String] { log.withLock { $0 } }
    }

    @Test("a swapped symlink is followed at the next check, not before; each change is reported once")
    func swapFollowedAtTheNextCheck() throws {
        let releases = try Releases()
        let events = Events()
        let root = try DocumentRoot(path: releases.current, followSymlinks: false, now: 0) { events.record($0) }
        let first = root.current(at: 0)
        #expect(first.inode == releases.identity("41")?.inode)
        releases.point(to: "releases/42")
        // Checked at most every checkIntervalMilliseconds: until then the open directory is served.
        #expect(root.current(at: DocumentRoot.checkIntervalMilliseconds - 1) === first)
        let second = root.current(at: DocumentRoot.checkIntervalMilliseconds)
        #expect(second.inode == releases.identity("42")?.inode)
        #expect(root.current(at: 3 * DocumentRoot.checkIntervalMilliseconds) === second)
        #expect(events.all == ["swapped to \(second.inode)"])
    }

    @Test("a path that stops resolving keeps the open directory, reports once, and reports again when it resolves")
    func unavailableKeepsServing() throws {
        let releases = try Releases()
        let events = Events()
        let root = try DocumentRoot(path: releases.current, followSymlinks: false, now: 0) { events.record($0) }
        let first = root.current(at: 0)
        releases.point(to: "releases/missing")
        let step = DocumentRoot.checkIntervalMilliseconds
        #expect(root.current(at: step) === first)
        #expect(root.current(at: 2 * step) === first)
        #expect(events.all == ["unavailable: rootNotFound"])
        releases.point(to: "releases/41")
        #expect(root.current(at: 3 * step) === first)
        #expect(events.all == ["unavailable: rootNotFound", "restored"])
    }

    @Test("the directory handed out stays open and usable after a swap, until its last holder lets go")
    func oldRootStaysUsable() throws {
        let releases = try Releases()
        let root = try DocumentRoot(path: releases.current, followSymlinks: false, now: 0)
        let old = PathResolver(root: root.current(at: 0), showHidden: false, followSymlinks: false)
        releases.point(to: "releases/42")
        removeTree(releases.base + "/releases/41/index.html")
        _ = root.current(at: DocumentRoot.checkIntervalMilliseconds)
        // The old resolver still resolves beneath release 41 (now without its index), never into 42.
        let status = withUnsafeTemporaryAllocation(byteCount: PathResolver.scratchCapacity, alignment: 1) { scratch in
            Array("/index.html".utf8).withUnsafeBytes { target -> Int in
                if case .failure(let status) = old.resolve(target, scratch: scratch) { return status.code }
                return 200
            }
        }
        #expect(status == 404)
    }
}
