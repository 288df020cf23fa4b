import CSwerveSys
import Glibc
import SwerveHTTP

/// Reads a directory for a listing (`--list-dirs`): its entries with their size and modification time, leaving out
/// everything the site would not serve, so a listing never shows (or links to) a name a request could not get.
///
/// Blocking (one `readdir` pass and one `fstatat` per entry, plus an `openat2` per followed symlink): run it off the
/// event loops. Bounded by `limit` entries, so a directory of a million names costs a million-th of a second per
/// entry up to the limit and no more.
public enum DirectoryReader {
    /// Entries read at most for one listing: a page of 10,000 rows is ~1.5 MB of HTML, already more than a person
    /// scrolls; beyond it the listing says it was cut.
    public static let maximumEntries = 10_000

    /// What the site's policy lets a listing show.
    public struct Policy: Sendable {
        /// Names starting with `.` are listed (`--show-hidden`).
        public var showHidden: Bool
        /// Symbolic links are listed as what they point to, when that is inside the root (`--follow-symlinks`);
        /// otherwise they are left out, as they are not served.
        public var followSymlinks: Bool

        public init(showHidden: Bool, followSymlinks: Bool) {
            self.showHidden = showHidden
            self.followSymlinks = followSymlinks
        }
    }

    public struct Result: Sendable {
        public var entries: [DirectoryListing.Entry]
        /// More servable entries exist than were read.
        public var truncated: Bool
    }

    /// Reads the directory open on `fd` (which this takes over and closes), whose path relative to `root` is
    /// `relativePath` (empty for the root itself). nil if the descriptor is not a readable directory.
    public static func read(
        _ fd: Int32, relativePath: [UInt8], root: RootDirectory, policy: Policy, limit: Int = maximumEntries
    ) -> Result? {
        guard let directory = fdopendir(fd) else {
            Glibc.close(fd)
            return nil
        }
        defer { closedir(directory) }
        let resolveFlags = PathResolver.resolveFlags(followSymlinks: true)
        var entries: [DirectoryListing.Entry] = []
        var truncated = false
        while let entry = readdir(directory) {
            let name: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            guard isListable(name, showHidden: policy.showHidden) else { continue }
            var st = stat()
            // AT_SYMLINK_NOFOLLOW (0x100): the entry itself; a link is looked through below, by the site's rules.
            let found = (name + [0]).withUnsafeBufferPointer {
                $0.withMemoryRebound(to: CChar.self) { fstatat(fd, $0.baseAddress!, &st, 0x100) }
            }
            guard found == 0 else { continue }  // gone since readdir
            // S_IFMT, S_IFLNK, S_IFREG, S_IFDIR (sys/stat.h; spelled out: Glibc and CSwerveSys both export them).
            var kind = st.st_mode & 0o170000
            if kind == 0o120000 {
                guard policy.followSymlinks,
                      let target = linkTarget(root: root, directory: relativePath, name: name, flags: resolveFlags)
                else { continue }
                st = target
                kind = st.st_mode & 0o170000
            }
            // FIFOs, sockets and devices are refused when asked for (403): not listed.
            guard kind == 0o100000 || kind == 0o040000 else { continue }
            if entries.count == limit {
                truncated = true
                break
            }
            entries.append(DirectoryListing.Entry(
                name: name, isDirectory: kind == 0o040000, size: Int(st.st_size), modified: Int64(st.st_mtim.tv_sec)))
        }
        return Result(entries: entries, truncated: truncated)
    }

    /// Whether a name may appear: not `.` or `..`, not hidden unless allowed, and servable as a request path (no
    /// control byte, no backslash, valid UTF-8: `PathSanitizer` refuses those, so a link to them could only fail).
    static func isListable(_ name: [UInt8], showHidden: Bool) -> Bool {
        guard !name.isEmpty, name != [0x2E], name != [0x2E, 0x2E] else { return false }
        if name[0] == 0x2E && !showHidden { return false }
        for byte in name where byte < 0x20 || byte == 0x7F || byte == 0x5C { return false }
        return String(validating: name, as: UTF8.self) != nil
    }

    /// What a symlink in the listed directory points to, resolved from the root with the rules every request is
    /// opened with (never outside the root, never through /proc magic links); nil if that refuses it.
    private static func linkTarget(root: RootDirectory, directory: [UInt8], name: [UInt8], flags: UInt64) -> stat? {
        var path = directory
        if !path.isEmpty { path.append(0x2F) }
        path += name
        path.append(0)
        let fd = path.withUnsafeBufferPointer {
            $0.withMemoryRebound(to: CChar.self) {
                swerve_openat2(root.fd, $0.baseAddress!, UInt64(RootDirectory.oPath | O_CLOEXEC), 0, flags)
            }
        }
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var st = stat()
        return fstat(fd, &st) == 0 ? st : nil
    }
}

extension PathResolver {
    /// For `/dir/` without an index: the directory itself, opened for reading beneath the root by the rules every
    /// request is opened with, when it is one. `prepared` is the `dir/index.html` path in `scratch` (the index name
    /// is cut off for the open and put back). Returns the descriptor and the directory's path relative to the root.
    public func openDirectory(_ prepared: PreparedPath, scratch: UnsafeMutableRawBufferPointer) -> (fd: Int32, path: [UInt8])? {
        let index = Self.indexName.utf8CodeUnitCount
        guard prepared.hasTrailingSlash, prepared.length >= index else { return nil }
        // `dir/index.html` → `dir`; `index.html` (the root) → `.`.
        let length = prepared.length > index ? prepared.length - index - 1 : 0
        let saved = scratch[length]
        let savedNext = scratch[length + 1]
        if length == 0 {
            scratch[0] = 0x2E
            scratch[1] = 0
        } else {
            scratch[length] = 0
        }
        defer {
            scratch[length] = saved
            scratch[length + 1] = savedNext
        }
        let fd = openBeneath(scratch, flags: UInt64(O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC))
        guard fd >= 0 else { return nil }
        let path = length == 0 ? [] : Array(UnsafeRawBufferPointer(rebasing: scratch[0..<length]))
        return (fd, path)
    }
}
