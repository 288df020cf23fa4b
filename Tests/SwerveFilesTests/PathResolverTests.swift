import CSwerveSys
import Glibc
import SwerveHTTP
import SwerveTestSupport
import Testing
@testable import SwerveFiles

// MARK: - A temporary tree
//
//   base/                       (mkdtemp; removed in deinit, whatever the test did)
//     outside/secret.txt        the file no request may ever reach
//     root/                     the served root
//       index.html  style.css  README  archive.tar.gz  "a b.txt"  café.txt
//       nested/index.html  nested/deeper/page.txt
//       noindex/file.txt
//       evil.com/dir/           for the open-redirect checks
//       .env  .git/config
//       link-in       -> style.css                     (inside → inside)
//       linkidx/index.html -> ../index.html            (an index that is a symlink, inside → inside)
//       link-out      -> ../outside/secret.txt         (relative, escapes)
//       link-out-abs  -> <base>/outside/secret.txt     (absolute, escapes)
//       dirlink       -> ../outside                    (directory, escapes)
//       dirlink-abs   -> <base>/outside
//       proc-link     -> /proc/self/root               (absolute, through /proc)
//       fifo          (mkfifo)
//       socket        (a bound AF_UNIX socket)

private final class TempTree {
    let base: String
    var root: String { base + "/root" }
    var outside: String { base + "/outside" }

    init() throws {
        var template = Array("/tmp/swerve-resolver-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw TreeError(what: "mkdtemp") }
        base = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // From here on deinit cleans up whatever was made, even if a later step throws.
        try build()
    }

    deinit { removeTree(base) }

    private func build() throws {
        try mkdir("outside")
        try file("outside/secret.txt", "SECRET\n")
        try mkdir("root")
        try file("root/index.html", "<h1>root</h1>\n")
        try file("root/style.css", "body{}\n")
        try file("root/README", "readme\n")
        try file("root/archive.tar.gz", "gz")
        try file("root/a b.txt", "space\n")
        try file("root/café.txt", "cafe\n")
        try mkdir("root/nested")
        try file("root/nested/index.html", "<h1>nested</h1>\n")
        try mkdir("root/nested/deeper")
        try file("root/nested/deeper/page.txt", "page\n")
        try mkdir("root/noindex")
        try file("root/noindex/file.txt", "f\n")
        try mkdir("root/evil.com")
        try mkdir("root/evil.com/dir")
        try file("root/.env", "SECRET=1\n")
        try mkdir("root/.git")
        try file("root/.git/config", "[core]\n")
        try symlink("style.css", "root/link-in")
        try mkdir("root/linkidx")
        try symlink("../index.html", "root/linkidx/index.html")
        try symlink("../outside/secret.txt", "root/link-out")
        try symlink(outside + "/secret.txt", "root/link-out-abs")
        try symlink("../outside", "root/dirlink")
        try symlink(outside, "root/dirlink-abs")
        try symlink("/proc/self/root", "root/proc-link")
        guard mkfifo(root + "/fifo", 0o644) == 0 else { throw TreeError(what: "mkfifo") }
        try bindSocket(root + "/socket")
    }

    func path(_ relative: String) -> String { base + "/" + relative }

    private func mkdir(_ relative: String) throws {
        guard Glibc.mkdir(path(relative), 0o755) == 0 else { throw TreeError(what: "mkdir \(relative)") }
    }

    private func file(_ relative: String, _ contents: String) throws {
        let fd = Glibc.open(path(relative), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TreeError(what: "create \(relative)") }
        defer { _ = Glibc.close(fd) }
        let bytes = Array(contents.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw TreeError(what: "write \(relative)")
        }
    }

    private func symlink(_ target: String, _ relative: String) throws {
        guard Glibc.symlink(target, path(relative)) == 0 else { throw TreeError(what: "symlink \(relative)") }
    }

    private func bindSocket(_ socketPath: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TreeError(what: "socket") }
        defer { _ = Glibc.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw TreeError(what: "socket path") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard ok == 0 else { throw TreeError(what: "bind") }
    }

    /// inode and device of a path (without following a final symlink).
    func identity(_ relative: String) -> (inode: UInt64, device: UInt64) {
        var st = stat()
        precondition(lstat(path(relative), &st) == 0, "lstat \(relative)")
        return (UInt64(st.st_ino), UInt64(st.st_dev))
    }
}

private struct TreeError: Error { let what: String }

/// `rm -rf` without following symlinks (lstat, children first). Swift's Glibc module has no nftw.

// MARK: - Resolving in tests

/// A resolution in comparable form; a `.file`'s fd is read and closed here.
private enum Got: Equatable, CustomStringConvertible {
    case file(inode: UInt64, device: UInt64, size: Int, extension: String, path: String, contents: String)
    case redirect(String)
    case failure(HTTPStatus)

    var description: String {
        switch self {
        case .file(let inode, _, let size, let ext, let path, _): "file(\(path), inode \(inode), \(size) B, ext \(ext))"
        case .redirect(let location): "redirect(\(location))"
        case .failure(let status): "failure(\(status))"
        }
    }

    var isFailure: Bool { if case .failure = self { true } else { false } }
    var status: HTTPStatus? { if case .failure(let status) = self { status } else { nil } }
    var inode: UInt64? { if case .file(let inode, _, _, _, _, _) = self { inode } else { nil } }
}

private func resolve(_ resolver: PathResolver, _ target: [UInt8], scratchSize: Int = PathResolver.scratchCapacity) -> Got {
    withUnsafeTemporaryAllocation(byteCount: scratchSize, alignment: 1) { scratch in
        let resolution = target.withUnsafeBytes { resolver.resolve($0, scratch: scratch) }
        switch resolution {
        case .file(let fd, let identity, let path):
            defer { _ = Glibc.close(fd) }
            // The path lives in the scratch buffer, NUL-terminated there.
            #expect(path.baseAddress == UnsafeRawPointer(scratch.baseAddress))
            #expect(scratch[path.count] == 0)
            let ext = PathResolver.fileExtension(path)
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            return .file(
                inode: identity.inode, device: identity.device, size: identity.size,
                extension: String(decoding: ext, as: UTF8.self), path: String(decoding: path, as: UTF8.self),
                contents: String(decoding: buffer[0..<max(n, 0)], as: UTF8.self))
        case .redirect(let location):
            return .redirect(String(decoding: location, as: UTF8.self))
        case .failure(let status):
            return .failure(status)
        }
    }
}

private func resolve(_ resolver: PathResolver, _ target: String, scratchSize: Int = PathResolver.scratchCapacity) -> Got {
    resolve(resolver, Array(target.utf8), scratchSize: scratchSize)
}

private func makeResolver(_ tree: TempTree, showHidden: Bool = false, followSymlinks: Bool = false) throws -> PathResolver {
    try PathResolver(rootDirectory: tree.root, showHidden: showHidden, followSymlinks: followSymlinks)
}

// MARK: - Traversal: none of these may ever reach outside/secret.txt

/// `{ABS}` is replaced by the tree's absolute base path.
private let traversalVectors: [String] = [
    "/../outside/secret.txt",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2E/outside/secret.txt",
    "/..%2foutside%2fsecret.txt",
    "/%2e%2e%2foutside%2fsecret.txt",
    "/%2e%2e%2f..",
    "/..\\..\\outside\\secret.txt",
    "/..%5c..%5coutside%5csecret.txt",
    "/%c0%ae%c0%ae/outside/secret.txt",
    "/%c0%ae%c0%ae%c0%afoutside%c0%afsecret.txt",
    "/%e0%80%ae%e0%80%ae/outside/secret.txt",
    "/%f0%80%80%ae%f0%80%80%ae/outside/secret.txt",
    "/..%c0%af..%c0%afoutside%c0%afsecret.txt",
    "/%252e%252e/outside/secret.txt",
    "/%25252e%25252e/outside/secret.txt",
    "/..%252f..%252foutside%252fsecret.txt",
    "/./../outside/secret.txt",
    "//..//..//outside/secret.txt",
    "/a/../../outside/secret.txt",
    "/nested/../../outside/secret.txt",
    "/nested/./../.././outside/secret.txt",
    "/nested/..%2f..%2foutside/secret.txt",
    "/.%2e/outside/secret.txt",
    "/%2e./outside/secret.txt",
    "/..;/outside/secret.txt",
    "/..%u2216outside%u2216secret.txt",
    "/%uff0e%uff0e/outside/secret.txt",
    "/%ef%bc%8e%ef%bc%8e/outside/secret.txt",             // fullwidth dots: just a name
    "/....//outside/secret.txt",
    "/../../../../../../../..{ABS}/outside/secret.txt",
    "/{ABS}/outside/secret.txt",
    "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/link-out",
    "/link-out/",
    "/link-out-abs",
    "/link-out%00.html",
    "/nested/../link-out",
    "/nested/deeper/../../link-out-abs",
    "/dirlink/secret.txt",
    "/dirlink%2fsecret.txt",
    "/%2fdirlink/secret.txt",
    "/dirlink/",
    "/dirlink",
    "/dirlink/./secret.txt",
    "/dirlink-abs/secret.txt",
    "/dirlink-abs",
    "/proc-link{ABS}/outside/secret.txt",
    "/proc-link/",
    "/%00../outside/secret.txt",
    "/index.html%00/../../outside/secret.txt",
    "/.%00./outside/secret.txt",
    "/outside/secret.txt",                                  // exists, but not under the root
    "/..%2F..%2F..%2Foutside%2Fsecret.txt",
    "/%2e%2e%5coutside%5csecret.txt",
]

@Test("Traversal vectors never reach the outside secret", arguments: traversalVectors, [false, true])
func pathResolverTraversal(_ vector: String, followSymlinks: Bool) throws {
    let tree = try TempTree()
    let secret = tree.identity("outside/secret.txt")
    let target = vector.replacingAll("{ABS}", with: tree.base)
    for showHidden in [false, true] {
        let resolver = try makeResolver(tree, showHidden: showHidden, followSymlinks: followSymlinks)
        let got = resolve(resolver, target)
        if case .file(let inode, let device, _, _, _, _) = got {
            #expect(!(inode == secret.inode && device == secret.device), "\(target) served the secret")
        }
        #expect(got.isFailure, "\(target) (follow \(followSymlinks), hidden \(showHidden)) → \(got)")
        if case .file(_, _, _, _, _, let contents) = got { #expect(contents != "SECRET\n") }
    }
}

@Test func pathResolverTraversalVectorCount() {
    #expect(traversalVectors.count >= 40)
}

// MARK: - Positive cases

@Test func pathResolverServesFile() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    let style = tree.identity("root/style.css")
    #expect(resolve(resolver, "/style.css") == .file(
        inode: style.inode, device: style.device, size: 7, extension: "css", path: "style.css", contents: "body{}\n"))
    #expect(resolve(resolver, "/style.css?v=3").inode == style.inode)
    #expect(resolve(resolver, "/nested/../style.css").inode == style.inode)
    #expect(resolve(resolver, "//style.css").inode == style.inode)
    #expect(resolve(resolver, "/%73tyle.css").inode == style.inode)
    #expect(resolve(resolver, "/a%20b.txt").inode == tree.identity("root/a b.txt").inode)
    #expect(resolve(resolver, "/caf%C3%A9.txt").inode == tree.identity("root/café.txt").inode)
    #expect(resolve(resolver, "/nested/deeper/page.txt").inode == tree.identity("root/nested/deeper/page.txt").inode)
}

@Test("the resolved file's identity is what stat(2) says of it: device, inode, size, mtime and ctime to the nanosecond")
func pathResolverFileIdentity() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    var st = stat()
    #expect(stat(tree.path("root/index.html"), &st) == 0)
    withUnsafeTemporaryAllocation(byteCount: PathResolver.scratchCapacity, alignment: 1) { scratch in
        let target = Array("/index.html".utf8)
        guard case .file(let fd, let identity, _) = target.withUnsafeBytes({ resolver.resolve($0, scratch: scratch) }) else {
            Issue.record("not a file")
            return
        }
        defer { _ = Glibc.close(fd) }
        #expect(identity.device == UInt64(st.st_dev))
        #expect(identity.inode == UInt64(st.st_ino))
        #expect(identity.size == 14)
        #expect(identity.modified == FileTime(seconds: Int64(st.st_mtim.tv_sec), nanoseconds: Int32(st.st_mtim.tv_nsec)))
        #expect(identity.changed == FileTime(seconds: Int64(st.st_ctim.tv_sec), nanoseconds: Int32(st.st_ctim.tv_nsec)))
        #expect(identity.modified.seconds > 1_600_000_000)
        let flags = fcntl(fd, F_GETFL)
        #expect(flags & O_ACCMODE == O_RDONLY)
        #expect(flags & O_NONBLOCK != 0)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
    }
}

@Test func pathResolverExtensions() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree, showHidden: true)
    func ext(_ target: String) -> String? {
        if case .file(_, _, _, let ext, _, _) = resolve(resolver, target) { return ext }
        return nil
    }
    #expect(ext("/style.css") == "css")
    #expect(ext("/archive.tar.gz") == "gz")
    #expect(ext("/README") == "")
    #expect(ext("/.env") == "")                 // a leading dot is not an extension
    #expect(ext("/.git/config") == "")
    #expect(ext("/") == "html")
    #expect(ext("/nested/") == "html")
}

@Test func pathResolverDirectoryIndex() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    let rootIndex = tree.identity("root/index.html")
    let nestedIndex = tree.identity("root/nested/index.html")
    if case .file(let inode, _, _, _, let path, let contents) = resolve(resolver, "/") {
        #expect(inode == rootIndex.inode)
        #expect(path == "index.html")
        #expect(contents == "<h1>root</h1>\n")
    } else {
        Issue.record("/ did not serve index.html")
    }
    #expect(resolve(resolver, "/?x=1").inode == rootIndex.inode)
    #expect(resolve(resolver, "/nested/").inode == nestedIndex.inode)
    #expect(resolve(resolver, "/nested//").inode == nestedIndex.inode)
    #expect(resolve(resolver, "/nested/.").inode == nestedIndex.inode)
    #expect(resolve(resolver, "/nested/deeper/..").inode == nestedIndex.inode)
    #expect(resolve(resolver, "/nested%2f").inode == nestedIndex.inode)
    if case .file(_, _, _, _, let path, _) = resolve(resolver, "/nested/") { #expect(path == "nested/index.html") }
    // No listings: a directory without index.html is 404, with or without a trailing slash's redirect first.
    #expect(resolve(resolver, "/noindex/") == .failure(.notFound))
    #expect(resolve(resolver, "/noindex") == .redirect("/noindex/"))
    // A file asked for as a directory.
    #expect(resolve(resolver, "/style.css/") == .failure(.notFound))
    #expect(resolve(resolver, "/nested/index.html/") == .failure(.notFound))
}

@Test func pathResolverRedirects() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    #expect(resolve(resolver, "/nested") == .redirect("/nested/"))
    #expect(resolve(resolver, "/nested?x=1&y=%2F") == .redirect("/nested/?x=1&y=%2F"))
    #expect(resolve(resolver, "/nested?") == .redirect("/nested/?"))
    #expect(resolve(resolver, "/nested/deeper") == .redirect("/nested/deeper/"))
    #expect(resolve(resolver, "/%6eested") == .redirect("/%6eested/"))       // the original, still-encoded path
    #expect(resolve(resolver, "/nested/deeper/../deeper") == .redirect("/nested/deeper/../deeper/"))
}

// RFC 9110 §10.2.2: Location is a URI-reference. Bytes the parser tolerates in a target but RFC 3986 does not allow
// in a path or query are percent-encoded; what is allowed, including complete %XX triplets, is passed on unchanged.
@Test func pathResolverRedirectLocationIsAURI() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    #expect(resolve(resolver, "/nested?<script>alert(1)</script>") == .redirect("/nested/?%3Cscript%3Ealert(1)%3C/script%3E"))
    #expect(resolve(resolver, "/nested?q=\"a\"{|}^`[]\\") == .redirect("/nested/?q=%22a%22%7B%7C%7D%5E%60%5B%5D%5C"))
    #expect(resolve(resolver, "/nested?a=%zz&b=%4&c=%") == .redirect("/nested/?a=%25zz&b=%254&c=%25"))
    #expect(resolve(resolver, "/nested?k=v;w=x:y@z/?!$&'()*+,-._~%2F") == .redirect("/nested/?k=v;w=x:y@z/?!$&'()*+,-._~%2F"))
}

@Test(arguments: [
    "//evil.com/dir", "///evil.com/dir", "//evil.com/dir?q=1", "////evil.com//dir", "/%2fevil.com/dir",
    "/./evil.com/dir", "//evil.com/dir/..//dir",
])
func pathResolverNoOpenRedirect(_ target: String) throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    guard case .redirect(let location) = resolve(resolver, target) else {
        Issue.record("\(target) did not redirect")
        return
    }
    #expect(location.hasPrefix("/"))
    #expect(!location.hasPrefix("//"), "\(target) → \(location)")
    #expect(!location.hasPrefix("/\\"))
}

@Test func pathResolverOpenRedirectLocationBytes() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    #expect(resolve(resolver, "//evil.com/dir") == .redirect("/evil.com/dir/"))
    #expect(resolve(resolver, "///evil.com/dir?q=1") == .redirect("/evil.com/dir/?q=1"))
}

@Test func pathResolverSpecialFiles() throws {
    let tree = try TempTree()
    for follow in [false, true] {
        let resolver = try makeResolver(tree, followSymlinks: follow)
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        #expect(resolve(resolver, "/fifo") == .failure(.forbidden))   // O_NONBLOCK: the open does not wait
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &end)
        #expect(end.tv_sec - start.tv_sec < 2)
        #expect(resolve(resolver, "/fifo/") == .failure(.notFound))
        #expect(resolve(resolver, "/socket") == .failure(.forbidden))  // ENXIO
        #expect(resolve(resolver, "/missing.txt") == .failure(.notFound))
        #expect(resolve(resolver, "/missing/") == .failure(.notFound))
        #expect(resolve(resolver, "/missing/x") == .failure(.notFound))
    }
}

@Test func pathResolverHiddenFiles() throws {
    let tree = try TempTree()
    let hiding = try makeResolver(tree)
    #expect(resolve(hiding, "/.env") == .failure(.notFound))
    #expect(resolve(hiding, "/.git/config") == .failure(.notFound))
    #expect(resolve(hiding, "/.git/") == .failure(.notFound))
    #expect(resolve(hiding, "/.git") == .failure(.notFound))
    #expect(resolve(hiding, "/%2eenv") == .failure(.notFound))
    #expect(resolve(hiding, "/.well-known/x") == .failure(.notFound))

    let showing = try makeResolver(tree, showHidden: true)
    #expect(resolve(showing, "/.env").inode == tree.identity("root/.env").inode)
    #expect(resolve(showing, "/.git/config").inode == tree.identity("root/.git/config").inode)
    #expect(resolve(showing, "/.git") == .redirect("/.git/"))
    #expect(resolve(showing, "/.git/") == .failure(.notFound))
}

@Test func pathResolverSymlinksInside() throws {
    let tree = try TempTree()
    let style = tree.identity("root/style.css")
    let index = tree.identity("root/index.html")

    let strict = try makeResolver(tree, followSymlinks: false)
    #expect(resolve(strict, "/link-in") == .failure(.forbidden))       // ELOOP under RESOLVE_NO_SYMLINKS
    #expect(resolve(strict, "/linkidx/") == .failure(.forbidden))

    let following = try makeResolver(tree, followSymlinks: true)
    if case .file(let inode, _, _, let ext, _, _) = resolve(following, "/link-in") {
        #expect(inode == style.inode)
        #expect(ext == "")                                              // the requested name's extension
    } else {
        Issue.record("/link-in not served with followSymlinks")
    }
    // index.html is opened relative to the root, so a symlinked index pointing to a sibling directory works.
    #expect(resolve(following, "/linkidx/").inode == index.inode)
    // Escaping symlinks are refused by the kernel (RESOLVE_BENEATH → EXDEV).
    #expect(resolve(following, "/link-out") == .failure(.forbidden))
    #expect(resolve(following, "/link-out-abs") == .failure(.forbidden))
    #expect(resolve(following, "/dirlink/secret.txt") == .failure(.forbidden))
}

@Test func pathResolverLongNames() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    let longSegment = "/" + String(repeating: "a", count: 300)           // > NAME_MAX: ENAMETOOLONG
    #expect(resolve(resolver, longSegment) == .failure(.notFound))
    let longPath = "/" + String(repeating: "abcdefg/", count: 600)       // > maximumDecodedPathLength
    #expect(resolve(resolver, longPath) == .failure(.uriTooLong))
    let nearLimit = "/" + String(repeating: "abcdefg/", count: 511)      // fits the sanitiser; ENOENT
    #expect(resolve(resolver, nearLimit) == .failure(.notFound))
    let atLimit = "/" + String(repeating: "a", count: PathSanitizer.maximumDecodedPathLength - 1) + "/"
    #expect(resolve(resolver, atLimit) == .failure(.notFound))         // + "/index.html" still fits scratch
}

@Test func pathResolverSmallerScratch() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    // A 4096-byte scratch works; the longest accepted path shrinks by the 12 reserved bytes.
    #expect(resolve(resolver, "/nested/", scratchSize: 4096).inode == tree.identity("root/nested/index.html").inode)
    #expect(resolve(resolver, "/" + String(repeating: "a", count: 4084), scratchSize: 4096) == .failure(.notFound))
    #expect(resolve(resolver, "/" + String(repeating: "a", count: 4085), scratchSize: 4096) == .failure(.uriTooLong))
    // Just big enough for `index.html` at the root.
    #expect(resolve(resolver, "/", scratchSize: 13).inode == tree.identity("root/index.html").inode)
    #expect(resolve(resolver, "/a", scratchSize: 13) == .failure(.notFound))
    #expect(resolve(resolver, "/ab", scratchSize: 13) == .failure(.uriTooLong))
    // Too small for anything: the server's bug, not the client's.
    #expect(resolve(resolver, "/", scratchSize: 12) == .failure(.internalServerError))
}

@Test func pathResolverFileExtension() {
    func ext(_ path: String) -> String {
        Array(path.utf8).withUnsafeBytes { String(decoding: PathResolver.fileExtension($0), as: UTF8.self) }
    }
    #expect(ext("style.css") == "css")
    #expect(ext("a/archive.tar.gz") == "gz")
    #expect(ext("a.d/README") == "")
    #expect(ext(".env") == "")
    #expect(ext("a/.profile") == "")
    #expect(ext("a/..x") == "x")
    #expect(ext("name.") == "")
    #expect(ext("") == "")
}

@Test func pathResolverBadRequests() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree)
    #expect(resolve(resolver, "/..") == .failure(.badRequest))
    #expect(resolve(resolver, "/%zz") == .failure(.badRequest))
    #expect(resolve(resolver, "/a%00") == .failure(.badRequest))
    #expect(resolve(resolver, "/a\\b") == .failure(.badRequest))
    #expect(resolve(resolver, "/%c0%ae") == .failure(.badRequest))
    #expect(resolve(resolver, "") == .failure(.badRequest))
    #expect(resolve(resolver, "index.html") == .failure(.badRequest))
}

@Test func pathResolverErrnoMapping() {
    #expect(PathResolver.status(forOpenErrno: ENOENT) == .notFound)
    #expect(PathResolver.status(forOpenErrno: ENOTDIR) == .notFound)
    #expect(PathResolver.status(forOpenErrno: ENAMETOOLONG) == .notFound)
    #expect(PathResolver.status(forOpenErrno: EACCES) == .forbidden)
    #expect(PathResolver.status(forOpenErrno: ELOOP) == .forbidden)
    #expect(PathResolver.status(forOpenErrno: EXDEV) == .forbidden)
    #expect(PathResolver.status(forOpenErrno: ENXIO) == .forbidden)
    #expect(PathResolver.status(forOpenErrno: EMFILE) == .internalServerError)
    #expect(PathResolver.status(forOpenErrno: EIO) == .internalServerError)
}

@Test(.enabled(if: geteuid() != 0, "root ignores file permissions"))
func pathResolverUnreadableFile() throws {
    let tree = try TempTree()
    #expect(chmod(tree.path("root/README"), 0) == 0)
    let resolver = try makeResolver(tree)
    #expect(resolve(resolver, "/README") == .failure(.forbidden))
}

/// The error a root path gives, or nil if it opens. (A function: a `catch` pattern on the typed-throwing
/// initializer inside the test crashed the Swift 6.3.1 compiler's ownership verifier.)
private func rootError(_ path: String) -> PathResolverError? {
    do {
        _ = try PathResolver(rootDirectory: path)
        return nil
    } catch {
        return error
    }
}

@Test func pathResolverInitErrors() throws {
    let tree = try TempTree()
    let missing = try #require(rootError(tree.path("nope")))
    #expect(missing.kind == .rootNotFound)
    #expect(missing.description.contains("does not exist"))
    #expect(rootError(tree.path("root/style.css"))?.kind == .rootNotADirectory)
    // A root given through a symlink is fine: only paths below it are checked.
    _ = try PathResolver(rootDirectory: tree.path("root/dirlink"))
}

@Test func pathResolverDoesNotLeakDescriptors() throws {
    let tree = try TempTree()
    let resolver = try makeResolver(tree, followSymlinks: true)
    // Every non-file outcome must have closed what it opened: the next fd number stays the same.
    let before = dup(0)
    _ = Glibc.close(before)
    for target in ["/nested", "/fifo", "/socket", "/noindex/", "/missing", "/link-out", "/.env", "/nested/index.html/"] {
        for _ in 0..<20 { _ = resolve(resolver, target) }
    }
    let after = dup(0)
    _ = Glibc.close(after)
    // Tests run in parallel, so other tests' fds move the number; a leak of 160 fds would not hide.
    #expect(after < before + 100)
}

private extension String {
    func replacingAll(_ needle: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: needle) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
