import Glibc
import Synchronization

/// The configured document root, re-resolved while serving. Deploys that swap a release symlink atomically
/// (`current -> releases/42`: Capistrano, Ansible, most CI) are served from the new directory within a second,
/// without a restart; responses already under way finish from the old directory, whose descriptor is closed once
/// the last loop has moved on.
///
/// The check is one statx of the configured path (following symlinks), at most every `checkIntervalMilliseconds`,
/// by whichever loop asks first; the other loops take the result. Loops ask at the same interval (the handler's
/// `rootCheckDue`), so a swap reaches every loop within twice the interval: 1 s.
///
/// If the path stops naming a usable directory (a dangling symlink mid-deploy, a typo), the directory already open
/// keeps being served and the problem is reported once; it is reported again when the path resolves.
public final class DocumentRoot: Sendable {
    /// How often the configured path is re-checked. Half of the 1 s promise: the loops' own polling adds the other half.
    public static let checkIntervalMilliseconds: Int64 = 500

    /// What a check found, for the server's log. Reported outside the lock, once per change.
    public enum Event: Sendable {
        /// The path names another directory now, which is what new requests are served from.
        case swapped(from: RootDirectory, to: RootDirectory)
        /// The path cannot be opened as a directory any more; the previous one is still served.
        case unavailable(PathResolverError)
        /// The path resolves again, to the directory that was being served all along.
        case restored
    }

    public let path: String
    private let resolveFlags: UInt64
    private let report: @Sendable (Event) -> Void

    private struct State {
        var current: RootDirectory
        /// Monotonic milliseconds of the last check.
        var checkedAt: Int64
        /// The last check failed (reported once).
        var unavailable: Bool
    }

    private let state: Mutex<State>

    /// Opens the root (`RootDirectory.open`); throws when it is missing, not a directory, or openat2 is unavailable.
    public init(
        path: String, followSymlinks: Bool, now: Int64, report: @escaping @Sendable (Event) -> Void = { _ in }
    ) throws(PathResolverError) {
        self.path = path
        resolveFlags = PathResolver.resolveFlags(followSymlinks: followSymlinks)
        self.report = report
        let root = try RootDirectory.open(path, resolveFlags: resolveFlags)
        state = Mutex(State(current: root, checkedAt: now, unavailable: false))
    }

    /// The directory the configured path names now (`now`: monotonic milliseconds). Re-checks the path when the
    /// last check is `checkIntervalMilliseconds` old; otherwise one uncontended lock.
    public func current(at now: Int64) -> RootDirectory {
        let (root, event) = state.withLock { state -> (RootDirectory, Event?) in
            guard now - state.checkedAt >= Self.checkIntervalMilliseconds else { return (state.current, nil) }
            state.checkedAt = now
            let event = recheck(&state)
            return (state.current, event)
        }
        if let event { report(event) }
        return root
    }

    /// Under the lock: one statx of the path; a new directory is opened (and probed) only when it differs.
    private func recheck(_ state: inout State) -> Event? {
        if let status = FileStatus.of(path: path), state.current.isSameDirectory(as: status) {
            defer { state.unavailable = false }
            return state.unavailable ? .restored : nil
        }
        // Moved, or the statx failed: opening tells which (and gives the error to report).
        do {
            let next = try RootDirectory.open(path, resolveFlags: resolveFlags)
            let previous = state.current
            state.unavailable = false
            // Opened through a path that was swapped again between the statx and the open: still the newest.
            if next.device == previous.device && next.inode == previous.inode { return nil }
            state.current = next
            return .swapped(from: previous, to: next)
        } catch {
            if state.unavailable { return nil }
            state.unavailable = true
            return .unavailable(error)
        }
    }
}
