import CSwerveSys
import Glibc
import SwerveHTTP

/// A point in time as a file system records it: seconds since the epoch and nanoseconds within the second.
public struct FileTime: Hashable, Comparable, Sendable, BitwiseCopyable {
    public var seconds: Int64
    /// 0 ..< 1,000,000,000.
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public static let zero = FileTime(seconds: 0, nanoseconds: 0)

    @inlinable
    public static func < (a: FileTime, b: FileTime) -> Bool {
        a.seconds != b.seconds ? a.seconds < b.seconds : a.nanoseconds < b.nanoseconds
    }

    /// Nanoseconds since the epoch as 64 bits, wrapping outside ±292 years: deterministic for any time (a tag or a
    /// hash word, never arithmetic).
    @inlinable
    public var wrappingNanoseconds: UInt64 {
        UInt64(bitPattern: seconds) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: nanoseconds)
    }

    /// The real-time clock as the kernel stamps files with it: `CLOCK_REALTIME_COARSE`, the clock behind
    /// `current_time()`, one vDSO read and no system call. A change made after this reading gets a ctime no earlier
    /// than it (see `FileIdentity.isSettled(before:)`).
    public static func coarseNow() -> FileTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return FileTime(seconds: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec))
    }
}

/// One version of one file: the single identity from which every cache key, every validator and every "did it
/// change" check in Swerve is derived (compressed-body cache, open-file cache, sidecar index, content hashes,
/// metadata ETags).
///
/// What each field catches:
/// - `device`, `inode`: another file (a replace by rename, a path re-pointed).
/// - `size`, `modified`: an ordinary rewrite.
/// - `changed` (ctime): every change of the inode, which no user can set back: a rewrite that restores the old
///   mtime (`cp -p`, `rsync --inplace -t`, `touch -r`, `tar`), and a new file that was handed a freed inode number
///   with the old file's size and mtime — its ctime is its creation, later than anything seen of the old file.
/// - `born` (statx birth time, `.zero` where the filesystem keeps none): a reused inode number, once more.
///
/// The ctime is only as fine as the kernel's timestamp clock: on kernels without multigrain timestamps (before
/// 6.13, or filesystems without them) it advances once per tick (`CONFIG_HZ`, typically 4 ms), so two changes within
/// one tick can leave identical identities. `isSettled(before:)` closes that gap: bytes derived from a file (a
/// compressed body, a hash, a copy in memory) are kept only for an identity whose ctime is older than a clock
/// reading taken before the bytes were read, and validators are sent only for such an identity.
///
/// Plain bits: hashing or comparing one touches no reference count.
public struct FileIdentity: Hashable, Sendable, BitwiseCopyable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int
    /// mtime.
    public var modified: FileTime
    /// ctime: the last change of content or metadata.
    public var changed: FileTime
    /// Birth time, `.zero` when the filesystem does not report one.
    public var born: FileTime

    public init(device: UInt64, inode: UInt64, size: Int, modified: FileTime, changed: FileTime, born: FileTime = .zero) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modified = modified
        self.changed = changed
        self.born = born
    }

    /// True when no change of the file can have happened since `clock` without giving it a new identity: its ctime
    /// is strictly before `clock`, a reading of `FileTime.coarseNow()` taken *before* the identity was read. Any
    /// change after that reading is stamped with a ctime at or after it, so it can never look like this identity.
    /// An unsettled file (changed within the current clock tick) may still be changing under the same identity:
    /// serve its bytes live, and keep nothing derived from them.
    @inlinable
    public func isSettled(before clock: FileTime) -> Bool { changed < clock }

    /// Two words that fold every field (the file, and its version), for hash tables that do not use `Hasher`.
    @inlinable
    public var fileWord: UInt64 { inode ^ (device &* 0x9E37_79B9_7F4A_7C15) }

    @inlinable
    public var versionWord: UInt64 {
        (UInt64(truncatingIfNeeded: size) &* 0xBF58_476D_1CE4_E5B9) ^ modified.wrappingNanoseconds
            ^ (changed.wrappingNanoseconds &* 0x94D0_49BB_1331_11EB) ^ born.wrappingNanoseconds &<< 1
    }

    /// The same file (device and inode), whatever its version.
    @inlinable
    public func isSameFile(as other: FileIdentity) -> Bool { inode == other.inode && device == other.device }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(fileWord)
        hasher.combine(versionWord)
    }
}

/// `FileIdentity` plus what a caller decides with but is not part of a version: the kind of file and its link count.
public struct FileStatus: Sendable, BitwiseCopyable {
    public enum Kind: Sendable, BitwiseCopyable { case regular, directory, other }

    public var identity: FileIdentity
    public var kind: Kind
    /// 0 once the file was deleted (or replaced by a rename) while open.
    public var links: UInt32

    init(_ raw: swerve_file_status) {
        identity = FileIdentity(
            device: raw.device, inode: raw.inode, size: Int(raw.size),
            modified: FileTime(seconds: raw.mtime_sec, nanoseconds: Int32(bitPattern: raw.mtime_nsec)),
            changed: FileTime(seconds: raw.ctime_sec, nanoseconds: Int32(bitPattern: raw.ctime_nsec)),
            born: raw.has_btime != 0 ? FileTime(seconds: raw.btime_sec, nanoseconds: Int32(bitPattern: raw.btime_nsec)) : .zero)
        // S_IFMT, S_IFREG, S_IFDIR (sys/stat.h; spelled out: Glibc and CSwerveSys both export the macros).
        switch raw.mode & 0o170000 {
        case 0o100000: kind = .regular
        case 0o040000: kind = .directory
        default: kind = .other
        }
        links = raw.links
    }

    /// statx of an open file; nil with `errno` set if it fails. Cost: one system call.
    public static func of(fd: Int32) -> FileStatus? {
        var raw = swerve_file_status()
        guard swerve_fstatx(fd, &raw) == 0 else { return nil }
        return FileStatus(raw)
    }

    /// statx of a path, following symbolic links; nil with `errno` set if it fails.
    public static func of(path: String) -> FileStatus? {
        var raw = swerve_file_status()
        guard path.withCString({ swerve_statx_path($0, &raw) }) == 0 else { return nil }
        return FileStatus(raw)
    }
}

extension FileIdentity {
    /// The current identity of an open file, or nil if statx fails.
    public static func of(fd: Int32) -> FileIdentity? { FileStatus.of(fd: fd)?.identity }

    /// The current identity of the file at `path` (symbolic links followed), or nil if statx fails.
    public static func of(path: String) -> FileIdentity? { FileStatus.of(path: path)?.identity }
}

extension ETag {
    /// The metadata tag of one file version (`"inode-size-mtime-ctime"`): it changes whenever the identity's
    /// content-bearing fields do, the ctime included, so a rewrite that restores the old mtime gets a new tag.
    /// Send it only for a settled identity (`FileIdentity.isSettled(before:)`): within the clock tick of a change,
    /// two versions can share every field.
    public init(metadataOf identity: FileIdentity) {
        self.init(source: .metadata(
            inode: identity.inode, size: UInt64(max(0, identity.size)),
            modified: identity.modified.wrappingNanoseconds, changed: identity.changed.wrappingNanoseconds))
    }
}
