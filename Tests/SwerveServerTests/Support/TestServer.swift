import Glibc
import Logging
import SwerveFiles
import SwerveServer
import SwerveTestSupport
import Testing

/// A temporary document root with a real server on an ephemeral port (127.0.0.1:0). Everything it creates is
/// removed in `shutdown()`; tests call it in a `defer`.
final class TestServer: @unchecked Sendable {
    let directory: String
    let root: String
    let server: Server
    var port: UInt16 { server.port }

    /// `files`: relative path → contents, created under the root (directories made as needed).
    init(
        files: [String: [UInt8]] = [:],
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) throws {
        var template = Array("/tmp/swerve-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        directory = String(cString: made)
        root = directory + "/root"
        mkdir(root, 0o755)
        for (path, contents) in files {
            try TestServer.write(root + "/" + path, contents)
        }
        // Files are served with validators and cached bodies once settled (their ctime before the clock tick the
        // server reads): tests that expect them start after that.
        for path in files.keys { try TestServer.waitUntilSettled(root + "/" + path) }
        var configuration = ServerConfiguration()
        configuration.root = root
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.workers = 2
        configuration.shutdownGrace = 2
        // Off unless a test turns it on (RecompressionTests): the background swap changes a cached body's bytes and
        // ETag at a moment no test controls, between two requests that expect the same answer.
        configuration.recompress = false
        // Quiet unless a test asks for a log (AccessLogWireTests).
        configuration.accessLog = .off
        configure(&configuration)
        var logger = Logger(label: "swerve-test")
        logger.logLevel = .error
        do {
            server = try Server(configuration: configuration, logger: logger)
            try server.start()
        } catch {
            removeTree(directory)
            throw TestFailure("\(error)")
        }
    }

    func shutdown() {
        server.stop()
        removeTree(directory)
    }

    /// Writes a file, creating its parent directories.
    static func write(_ path: String, _ contents: [UInt8]) throws {
        var parent = ""
        for part in path.split(separator: "/").dropLast() {
            parent += "/" + part
            mkdir(parent, 0o755)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TestFailure("cannot create \(path)") }
        defer { close(fd) }
        var offset = 0
        try contents.withUnsafeBytes { bytes in
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                guard n > 0 else { throw TestFailure("short write to \(path)") }
                offset += n
            }
        }
    }

    /// Waits until the kernel's coarse clock has passed the ctime of `path`, so the server treats the file as
    /// settled (`FileIdentity.isSettled(before:)`): it sends validators and caches bodies only for such files, and a
    /// change made from now on gets a later ctime. A wait for a checked condition, at most one clock tick (~4 ms);
    /// fails after 5 s.
    static func waitUntilSettled(_ path: String) throws {
        guard let identity = FileIdentity.of(path: path) else { throw TestFailure("cannot stat \(path)") }
        for _ in 0..<5000 {
            if identity.isSettled(before: FileTime.coarseNow()) { return }
            usleep(1000)
        }
        throw TestFailure("the coarse clock never passed the ctime of \(path)")
    }
}

struct TestFailure: Error, CustomStringConvertible, Equatable {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Deterministic pseudo-random bytes (xorshift64*), for test files whose content must be reproducible.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { raw in
        var i = 0
        while i < count {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            let word = state &* 0x2545_F491_4F6C_DD1D
            let n = min(8, count - i)
            for k in 0..<n { raw[i + k] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(k))) }
            i += n
        }
    }
    return out
}
