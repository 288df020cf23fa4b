import Glibc
import SwerveFiles

struct FilesTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A new directory under /tmp (`mkdtemp`); the caller removes it (`removeTree`, SwerveTestSupport).
func makeTemporaryDirectory(_ prefix: String) throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw FilesTestFailure("mkdtemp failed") }
    return String(cString: made)
}

/// Writes `bytes` to `path` (created 0644; with `truncate`, rewritten in place: the same inode, as `cp -p` does).
func writeFile(_ path: String, _ bytes: [UInt8], truncate: Bool = true) throws {
    let fd = open(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0) | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FilesTestFailure("cannot create \(path)") }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        guard n > 0 else { throw FilesTestFailure("short write to \(path)") }
        done += n
    }
}

/// Waits until the kernel's coarse clock has passed `identity`'s ctime, so a change made from now on is stamped with
/// a later ctime (on kernels whose file timestamps advance once per tick, two changes within one tick share a
/// ctime). A wait for a condition that is checked, not a sleep that hopes: it returns as soon as the clock is past,
/// within a tick (~4 ms), and fails after 5 s.
func waitUntilSettled(_ identity: FileIdentity) throws {
    for _ in 0..<5000 {
        if identity.isSettled(before: FileTime.coarseNow()) { return }
        usleep(1000)
    }
    throw FilesTestFailure("the coarse clock never passed the file's ctime")
}
