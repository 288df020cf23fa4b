import Glibc
import SwerveHTTP
import SwerveTestSupport
import Testing

@testable import SwerveFiles

/// `DirectoryReader`: what a listing may show of a real directory, and its cap.
@Suite("DirectoryReader")
struct DirectoryReaderTests {
    final class Tree {
        let base: String
        var root: String { base + "/root" }
        init() throws {
            base = try makeTemporaryDirectory("swerve-dirs")
            mkdir(root, 0o755)
            mkdir(root + "/sub", 0o755)
            mkdir(base + "/outside", 0o755)
            try writeFile(root + "/a.txt", Array("aaaa".utf8))
            try writeFile(root + "/sub/inner.txt", Array("i".utf8))
            try writeFile(root + "/.env", Array("SECRET".utf8))
            try writeFile(base + "/outside/secret.txt", Array("SECRET".utf8))
            try writeFile(root + "/back\\slash.txt", [0x78])
            try writeFile(root + "/esc\u{1B}.txt", [0x78])
            // A name that is not UTF-8: made from raw bytes (a Swift String cannot hold it).
            let raw = Array((root + "/bad").utf8) + [0xFF, 0]
            let fd = raw.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644) } }
            close(fd)
            symlink("a.txt", root + "/inside-link")
            symlink("../outside/secret.txt", root + "/outside-link")
            symlink(base + "/outside", root + "/outside-dir")
            mkfifo(root + "/fifo", 0o644)
        }
        deinit { removeTree(base) }
    }

    @Test("the tree, its name that is not UTF-8 included, is removed whole (a String-based rm -rf left one per run)")
    func treeRemoved() throws {
        let tree = try Tree()
        #expect(removeTree(tree.base))
    }

    static func read(_ tree: Tree, _ relative: String = "", showHidden: Bool = false, follow: Bool = false,
                     limit: Int = DirectoryReader.maximumEntries) throws -> DirectoryReader.Result {
        let root = try RootDirectory.open(tree.root, resolveFlags: PathResolver.resolveFlags(followSymlinks: follow))
        let path = relative.isEmpty ? tree.root : tree.root + "/" + relative
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(fd >= 0)
        return try #require(DirectoryReader.read(
            fd, relativePath: Array(relative.utf8), root: root,
            policy: DirectoryReader.Policy(showHidden: showHidden, followSymlinks: follow), limit: limit))
    }

    static func names(_ result: DirectoryReader.Result) -> Set<String> {
        Set(result.entries.map { String(decoding: $0.name, as: UTF8.self) + ($0.isDirectory ? "/" : "") })
    }

    @Test("by default: files and directories only; no hidden name, no symlink, no FIFO, nothing a request could not name")
    func defaults() throws {
        let tree = try Tree()
        let result = try Self.read(tree)
        #expect(Self.names(result) == ["a.txt", "sub/"])
        #expect(!result.truncated)
        let a = try #require(result.entries.first { $0.name == Array("a.txt".utf8) })
        #expect(a.size == 4 && !a.isDirectory && a.modified > 1_600_000_000)
    }

    @Test("--show-hidden lists dot-names; --follow-symlinks lists links as their targets, only those inside the root")
    func policy() throws {
        let tree = try Tree()
        #expect(Self.names(try Self.read(tree, showHidden: true)) == ["a.txt", "sub/", ".env"])
        let followed = try Self.read(tree, follow: true)
        #expect(Self.names(followed) == ["a.txt", "sub/", "inside-link"])
        #expect(followed.entries.first { $0.name == Array("inside-link".utf8) }?.size == 4)
        #expect(Self.names(try Self.read(tree, "sub")) == ["inner.txt"])
    }

    @Test("the cap: at most `limit` entries, and the result says it was cut")
    func cap() throws {
        let tree = try Tree()
        for k in 0..<30 { try writeFile(tree.root + "/sub/f\(k)", []) }
        let cut = try Self.read(tree, "sub", limit: 10)
        #expect(cut.entries.count == 10 && cut.truncated)
        let whole = try Self.read(tree, "sub", limit: 31)
        #expect(whole.entries.count == 31 && !whole.truncated)
    }
}
