import CSwerveSys
import Glibc
import SwerveHTTP

// The traversal-safe path resolver: request target → open file descriptor, redirect, or error status.
//
// Two lines of defence, and only the second is the guarantee:
//   1. PathSanitizer normalises the path lexically and refuses `..` above the root, hidden names, bad bytes.
//   2. Every open is `openat2(rootFD, relativePath, …, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
//      [| RESOLVE_NO_SYMLINKS])`: the kernel refuses (EXDEV / ELOOP) any resolution – `..`, absolute symlink,
//      symlink chain, /proc magic link – that would leave the root, whatever the sanitiser let through. There
//      are no string-prefix checks anywhere.
//
// Syscalls per request: a file is openat2 + statx; `/dir/` is openat2("dir/index.html") + statx, never an open
// of the directory itself (`/file/` then fails with ENOTDIR → 404, `/dir-without-index/` with ENOENT → 404);
// `/dir` is openat2 + statx + close and a redirect. O_NONBLOCK keeps the open of a FIFO from blocking.
//
// Statuses:
//   sanitiser refusals – see PathSanitizer (400, 404 for hidden names, 414);
//   open errors        – `status(forOpenErrno:)`, the one errno → status switch;
//   a directory with a trailing slash but no index.html – 404 (no directory listings);
//   a regular file requested with a trailing slash (`/style.css/`) – 404 (ENOTDIR);
//   a FIFO, socket, device, or an index.html that is not a regular file – 403, like darkhttpd ("not a regular
//     file"): the name exists but will never be served.

/// What a request path resolves to.
public enum Resolution {
    /// A regular file, opened `O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY`; the caller owns and closes `fd`.
    ///
    /// `path` is the served file's path relative to the root (`style.css`, `nested/index.html` for `/nested/`),
    /// decoded and normalised, for the MIME lookup (`MIMETable.contentType(forPath:)` finds the extension) and
    /// logs. It points into the caller's scratch buffer – no allocation – and is valid until that buffer is
    /// reused; a NUL follows it there. For a symlink it is the requested name, not the target's (as nginx).
    /// `PathResolver.fileExtension(_:)` gives the extension bytes if a caller wants them alone.
    case file(fd: Int32, identity: FileIdentity, path: UnsafeRawBufferPointer)
    /// A directory asked for without its trailing slash: answer 301 with this Location – the original,
    /// still-encoded path + `/` + the original `?query` if any. Leading slashes are collapsed to one, so the
    /// Location never starts with `//` (which a browser would read as another host).
    case redirect(location: [UInt8])
    /// Answer with this status (and no body from the file system).
    case failure(HTTPStatus)
}

/// Resolves request targets against one root directory. Immutable and cheap to copy: a loop holds one, and makes a
/// new one (`init(root:…)`) when its `DocumentRoot` moved to another directory.
public struct PathResolver: Sendable {
    /// The name served for a directory requested with a trailing slash.
    static let indexName: StaticString = "index.html"

    /// Scratch bytes `resolve` keeps free after the sanitised path: `/index.html` and the NUL the kernel needs.
    static let scratchReserve = 1 + indexName.utf8CodeUnitCount + 1
    /// `scratchReserve`, for callers that put a path into the scratch themselves.
    public static var scratchReserveBytes: Int { scratchReserve }

    /// The scratch size that accepts every path up to `PathSanitizer.maximumDecodedPathLength` (4108 bytes).
    /// A smaller buffer works but lowers the longest accepted path to `scratch.count - 12` (longer → 414).
    public static let scratchCapacity = PathSanitizer.maximumDecodedPathLength + scratchReserve

    public let showHidden: Bool
    public let followSymlinks: Bool
    /// The directory requests are resolved in; it stays open while this resolver (or a copy) lives.
    public let root: RootDirectory
    private let resolveFlags: UInt64

    /// The RESOLVE_* flags of every open: beneath the root, never through a /proc magic link, and through no
    /// symlink at all unless `followSymlinks`.
    static func resolveFlags(followSymlinks: Bool) -> UInt64 {
        var flags = UInt64(SWERVE_RESOLVE_BENEATH | SWERVE_RESOLVE_NO_MAGICLINKS)
        if !followSymlinks { flags |= UInt64(SWERVE_RESOLVE_NO_SYMLINKS) }
        return flags
    }

    /// Opens `rootDirectory` (see `RootDirectory.open`) and resolves beneath it.
    /// Throws `PathResolverError` if the root is missing, not a directory, unusable, or openat2 is unavailable.
    public init(rootDirectory: String, showHidden: Bool = false, followSymlinks: Bool = false) throws(PathResolverError) {
        let root = try RootDirectory.open(rootDirectory, resolveFlags: Self.resolveFlags(followSymlinks: followSymlinks))
        self.init(root: root, showHidden: showHidden, followSymlinks: followSymlinks)
    }

    /// Resolves beneath an already opened root (a `DocumentRoot`'s current directory).
    public init(root: RootDirectory, showHidden: Bool, followSymlinks: Bool) {
        self.root = root
        self.showHidden = showHidden
        self.followSymlinks = followSymlinks
        self.resolveFlags = Self.resolveFlags(followSymlinks: followSymlinks)
    }

    /// The ONE mapping from an open/fstat errno to a response status.
    ///
    /// - 404: ENOENT (no such name), ENOTDIR (a file used as a directory, `/style.css/`), ENAMETOOLONG (a
    ///   segment longer than NAME_MAX, or the whole path longer than PATH_MAX): the name does not exist.
    /// - 403: EACCES / EPERM (permissions), ELOOP (a symlink with RESOLVE_NO_SYMLINKS, a magic link, or too many
    ///   levels), EXDEV (RESOLVE_BENEATH refused a resolution leaving the root), ENXIO (a socket or a device
    ///   without a driver), ENODEV: the name exists but will not be served.
    /// - 500 for everything else (EMFILE, ENFILE, ENOMEM, EIO, …): the server's problem, not the client's.
    public static func status(forOpenErrno e: Int32) -> HTTPStatus {
        switch e {
        case ENOENT, ENOTDIR, ENAMETOOLONG:
            return .notFound
        case EACCES, EPERM, ELOOP, EXDEV, ENXIO, ENODEV:
            return .forbidden
        default:
            return .internalServerError
        }
    }

    /// Resolves `pathAndQuery` (the request target as received: `/path` optionally followed by `?query`).
    ///
    /// `scratch` receives the decoded path; give it `scratchCapacity` bytes (see there for smaller buffers). After
    /// a `.file` result it holds the served file's relative path (see `Resolution.file`). No heap allocation
    /// except for a redirect's Location. Safe to call from any thread, each with its own scratch buffer.
    public func resolve(_ pathAndQuery: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer) -> Resolution {
        switch prepare(pathAndQuery, scratch: scratch) {
        case .failure(let status): return .failure(status)
        case .path(let prepared): return open(prepared, pathAndQuery, scratch: scratch)
        }
    }

    /// A sanitised request path, ready to open: `scratch[0..<length]` holds the relative path to open (with
    /// `index.html` appended for a trailing slash), NUL-terminated.
    public struct PreparedPath: Sendable {
        public var length: Int
        public var hasTrailingSlash: Bool
        public var rawPathEnd: Int

        public init(length: Int, hasTrailingSlash: Bool, rawPathEnd: Int) {
            self.length = length
            self.hasTrailingSlash = hasTrailingSlash
            self.rawPathEnd = rawPathEnd
        }
    }

    public enum Preparation {
        case path(PreparedPath)
        case failure(HTTPStatus)
    }

    /// The pure first half of `resolve`: sanitise into `scratch` and append the index name. No I/O, so a caller can
    /// consult its own cache of open files by the prepared path before opening anything.
    public func prepare(_ pathAndQuery: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer) -> Preparation {
        Self.prepare(pathAndQuery, showHidden: showHidden, scratch: scratch)
    }

    /// `prepare` without a resolver: it needs no root, only the hidden-names policy (a cache hit never opens one).
    public static func prepare(
        _ pathAndQuery: UnsafeRawBufferPointer, showHidden: Bool, scratch: UnsafeMutableRawBufferPointer
    ) -> Preparation {
        guard scratch.count > Self.scratchReserve else { return .failure(.internalServerError) }
        let sanitized: SanitizedPath
        let pathRoom = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<(scratch.count - Self.scratchReserve)])
        switch PathSanitizer.sanitize(pathAndQuery, showHidden: showHidden, into: pathRoom) {
        case .rejected(let rejection): return .failure(rejection.status)
        case .accepted(let path): sanitized = path
        }
        var length = sanitized.length

        if sanitized.hasTrailingSlash {
            // `/dir/`: open `dir/index.html` straight away (relative to the root, so an index.html symlink to a
            // sibling inside the root works when symlinks are followed).
            if length > 0 {
                scratch[length] = UInt8(ascii: "/")
                length += 1
            }
            Self.indexName.withUTF8Buffer { name in
                UnsafeMutableRawBufferPointer(rebasing: scratch[length..<(length + name.count)])
                    .copyMemory(from: UnsafeRawBufferPointer(name))
            }
            length += Self.indexName.utf8CodeUnitCount
        } else if length == 0 {
            // Unreachable (an empty path always ends as a directory), but never hand the kernel "".
            scratch[0] = UInt8(ascii: ".")
            length = 1
        }
        scratch[length] = 0
        return .path(PreparedPath(length: length, hasTrailingSlash: sanitized.hasTrailingSlash, rawPathEnd: sanitized.rawPathEnd))
    }

    /// The I/O half of `resolve`: opens a prepared path (in `scratch`) beneath the root.
    public func open(
        _ prepared: PreparedPath, _ pathAndQuery: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer
    ) -> Resolution {
        let length = prepared.length
        let fd = openBeneath(scratch)
        if fd < 0 { return .failure(Self.status(forOpenErrno: Glibc.errno)) }

        guard let status = FileStatus.of(fd: fd) else {
            let status = Self.status(forOpenErrno: Glibc.errno)
            _ = Glibc.close(fd)
            return .failure(status)
        }

        switch status.kind {
        case .regular:
            return .file(fd: fd, identity: status.identity, path: UnsafeRawBufferPointer(rebasing: scratch[0..<length]))
        case .directory:
            _ = Glibc.close(fd)
            // `dir/index.html/` being a directory: still no index to serve.
            if prepared.hasTrailingSlash { return .failure(.notFound) }
            return .redirect(location: TrailingSlashRedirect.location(pathAndQuery, rawPathEnd: prepared.rawPathEnd))
        default:
            _ = Glibc.close(fd)
            return .failure(.forbidden)
        }
    }

    /// The extension of a path's last segment: the bytes after its last `.`; empty when the name has no `.` or
    /// only a leading one (`.profile` is a hidden name, not an extension). A view into `path`, no allocation.
    public static func fileExtension(_ path: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var i = path.count
        while i > 0 {
            let b = path[i - 1]
            if b == UInt8(ascii: "/") { break }
            if b == UInt8(ascii: ".") {
                let atSegmentStart = i == 1 || path[i - 2] == UInt8(ascii: "/")
                if atSegmentStart { break }
                return UnsafeRawBufferPointer(rebasing: path[i...])
            }
            i -= 1
        }
        return UnsafeRawBufferPointer(rebasing: path[path.count...])
    }

    // MARK: - Internals

    /// openat2 relative to the root with this resolver's RESOLVE flags; retries EINTR. `flags`: the open(2) flags
    /// (a file to read, by default).
    @inline(__always)
    func openBeneath(_ path: UnsafeMutableRawBufferPointer, flags: UInt64 = UInt64(O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) -> Int32 {
        let cPath = UnsafeRawPointer(path.baseAddress!).assumingMemoryBound(to: CChar.self)
        while true {
            let fd = swerve_openat2(root.fd, cPath, flags, 0, resolveFlags)
            if fd >= 0 || Glibc.errno != EINTR { return fd }
        }
    }
}

extension PathResolver {
    /// Whether `path` (relative, sanitised: `PathSanitizer`'s output) names a regular file beneath the root, by the
    /// rules every request is opened with. For checking configured files at startup.
    public func isRegularFile(_ path: [UInt8]) -> Bool {
        var scratch = [UInt8](repeating: 0, count: path.count + 1)
        scratch.replaceSubrange(0..<path.count, with: path)
        return scratch.withUnsafeMutableBytes { scratch in
            let fd = openBeneath(scratch)
            guard fd >= 0 else { return false }
            defer { _ = Glibc.close(fd) }
            return FileStatus.of(fd: fd)?.kind == .regular
        }
    }

    /// Opens `path` + `suffix` (a precompressed sidecar such as `app.js.gz`) under the root with exactly the rules
    /// `resolve` applies – RESOLVE_BENEATH, symlink policy, O_NONBLOCK – and returns it only if it is a regular file.
    ///
    /// `path` must be the `.file` result's path, which lies at the start of `scratch` (the resolver left room for
    /// the longest suffix it allows, `scratchReserve`); the suffix and a NUL are written after it.
    public func openSibling(
        of path: UnsafeRawBufferPointer, suffix: StaticString, scratch: UnsafeMutableRawBufferPointer
    ) -> (fd: Int32, identity: FileIdentity)? {
        let length = path.count
        let suffixLength = suffix.utf8CodeUnitCount
        guard path.baseAddress == UnsafeRawPointer(scratch.baseAddress), suffixLength + 1 <= Self.scratchReserve,
              length + suffixLength + 1 <= scratch.count else { return nil }
        suffix.withUTF8Buffer { bytes in
            UnsafeMutableRawBufferPointer(rebasing: scratch[length..<(length + suffixLength)]).copyMemory(from: UnsafeRawBufferPointer(bytes))
        }
        scratch[length + suffixLength] = 0
        defer { scratch[length] = 0 }  // the caller's path stays NUL-terminated and unchanged
        let fd = openBeneath(scratch)
        guard fd >= 0 else { return nil }
        guard let status = FileStatus.of(fd: fd), status.kind == .regular else {
            _ = Glibc.close(fd)
            return nil
        }
        return (fd, status.identity)
    }
}
