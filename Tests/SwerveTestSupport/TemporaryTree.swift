import Glibc

/// rm -rf for the trees tests make under /tmp, without shelling out. Works on the names' bytes (`openat`,
/// `unlinkat`), never on a `String` of them: a test tree may hold a name that is not UTF-8, which a decoded
/// `String` would turn into U+FFFD and then fail to unlink, leaving the tree behind. Symlinks are removed, never
/// followed. Returns false if anything is left (the caller may `#expect` it).
@discardableResult
public func removeTree(_ path: String) -> Bool {
    removeEntry(at: AT_FDCWD, Array(path.utf8CString))
    var st = stat()
    return lstat(path, &st) != 0
}

/// Removes `name` (NUL-terminated) under the directory `parent`, a directory's contents first.
private func removeEntry(at parent: Int32, _ name: [CChar]) {
    var st = stat()
    guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
    guard st.st_mode & S_IFMT == S_IFDIR else {
        _ = unlinkat(parent, name, 0)
        return
    }
    let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd >= 0, let dir = fdopendir(fd) {   // the stream owns fd from here; closedir closes it
        var children: [[CChar]] = []
        while let entry = readdir(dir) {
            let child = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw.prefix(while: { $0 != 0 }).map { CChar(bitPattern: $0) } + [0]
            }
            if child != [46, 0] && child != [46, 46, 0] { children.append(child) }   // "." and ".."
        }
        for child in children { removeEntry(at: dirfd(dir), child) }
        _ = closedir(dir)
    } else if fd >= 0 {
        _ = close(fd)
    }
    _ = unlinkat(parent, name, AT_REMOVEDIR)
}
