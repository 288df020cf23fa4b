import CSwerveSys
import Glibc

/// Why the resolver could not be set up.
public struct PathResolverError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The root directory does not exist (ENOENT).
        case rootNotFound
        /// The root path names something that is not a directory (ENOTDIR).
        case rootNotADirectory
        /// The root could not be opened or read for another reason (`errno` says which).
        case rootUnusable
        /// The kernel has no openat2(2) (before Linux 5.6, or filtered by seccomp): the resolver cannot
        /// guarantee containment without it, so it refuses to start.
        case openat2Unavailable
    }

    public var kind: Kind
    public var path: String
    public var errno: Int32

    public init(kind: Kind, path: String, errno: Int32) {
        self.kind = kind
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        switch kind {
        case .rootNotFound:
            return "root directory '\(path)' does not exist"
        case .rootNotADirectory:
            return "root directory '\(path)' is not a directory"
        case .rootUnusable:
            return "root directory '\(path)' cannot be opened: \(reason)"
        case .openat2Unavailable:
            return "openat2(2) is not available (\(reason)); Swerve needs Linux 5.6 or later to serve files safely"
        }
    }
}


/// One opened document root: an `O_PATH` descriptor every request's `openat2` resolves beneath, closed when the last
/// resolver (and the last response being resolved against it) lets go. Immutable.
public final class RootDirectory: Sendable {
    public let fd: Int32
    /// The configured path it was opened through (a symlink such as `current` is followed when opening).
    public let path: String
    /// What that path resolved to when it was opened (`realpath`, for logs: `/srv/site/releases/42`); the configured
    /// path if that fails.
    public let resolvedPath: String
    /// The directory's own identity, to tell whether the configured path now names another one.
    public let device: UInt64
    public let inode: UInt64

    /// O_PATH (fcntl.h hides it behind _GNU_SOURCE, which Swift's Glibc module does not define).
    static let oPath: Int32 = 0o10000000

    private init(fd: Int32, path: String, resolvedPath: String, device: UInt64, inode: UInt64) {
        self.fd = fd
        self.path = path
        self.resolvedPath = resolvedPath
        self.device = device
        self.inode = inode
    }

    deinit { _ = Glibc.close(fd) }

    /// Opens `path` (O_PATH | O_DIRECTORY | O_CLOEXEC, following symlinks: a root may be a release symlink) and
    /// checks that openat2(2) works with `resolveFlags`, the flags every request will use.
    public static func open(_ path: String, resolveFlags: UInt64) throws(PathResolverError) -> RootDirectory {
        let fd = path.withCString { Glibc.open($0, oPath | O_DIRECTORY | O_CLOEXEC) }
        if fd < 0 {
            let e = Glibc.errno
            let kind: PathResolverError.Kind
            switch e {
            case ENOENT: kind = .rootNotFound
            case ENOTDIR: kind = .rootNotADirectory
            default: kind = .rootUnusable
            }
            throw PathResolverError(kind: kind, path: path, errno: e)
        }
        guard let status = FileStatus.of(fd: fd) else {
            let e = Glibc.errno
            _ = Glibc.close(fd)
            throw PathResolverError(kind: .rootUnusable, path: path, errno: e)
        }
        // From here on the object owns fd and closes it if the probe below throws.
        // Resolved through /proc/self/fd: the directory this very descriptor names, even if the path moved since.
        let resolved = readLink("/proc/self/fd/\(fd)") ?? path
        let root = RootDirectory(
            fd: fd, path: path, resolvedPath: resolved, device: status.identity.device, inode: status.identity.inode)
        // Probe: open the root itself through openat2 with the flags every request will use.
        let probe = swerve_openat2(fd, ".", UInt64(O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0, resolveFlags)
        if probe < 0 {
            let e = Glibc.errno
            let kind: PathResolverError.Kind = (e == ENOSYS || e == EPERM) ? .openat2Unavailable : .rootUnusable
            throw PathResolverError(kind: kind, path: path, errno: e)
        }
        _ = Glibc.close(probe)
        return root
    }

    /// The target of a symbolic link, or nil.
    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = path.withCString { readlink($0, &buffer, buffer.count - 1) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `status` (of the configured path, now) is this very directory.
    func isSameDirectory(as status: FileStatus) -> Bool {
        status.identity.device == device && status.identity.inode == inode
    }
}
