import Foundation
import Glibc
import SwerveTestSupport
import Testing

/// The `swerve` executable itself (built by `swift test` beside the test bundle), driven with real signals: what
/// `main.swift` does with SIGUSR1, SIGHUP and SIGTERM, which no in-process test reaches.
@Suite("The swerve process and its signals", .serialized)
struct ProcessSignalTests {
    /// A running `swerve` with its stdout and stderr in files of a temporary directory.
    final class Process {
        let directory: String
        let pid: pid_t
        var port: UInt16 = 0

        /// `arguments`: given the temporary directory, the options after root, address and workers.
        /// `waitForStartup`: return once the startup line names the port (else at once, for a start that must fail).
        init(files: [String: String] = [:], waitForStartup: Bool = true, _ arguments: (String) -> [String]) throws {
            var template = Array("/tmp/swerve-process-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
            directory = String(cString: made)
            mkdir(directory + "/root", 0o755)
            for (name, text) in files { try TestServer.write(directory + "/root/" + name, Array(text.utf8)) }
            // The test bundle (`swervePackageTests.xctest`) and the executable share the build directory.
            let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent("swerve").path
            guard access(binary, X_OK) == 0 else { throw TestFailure("no swerve executable at \(binary)") }
            let argv = [binary, "--root", directory + "/root", "--host", "127.0.0.1", "--port", "0", "--workers", "1"] + arguments(directory)
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 1, directory + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_addopen(&actions, 2, directory + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            var cArguments = argv.map { strdup($0) } + [nil]
            defer { for argument in cArguments { free(argument) } }
            var child: pid_t = 0
            let rc = posix_spawn(&child, binary, &actions, nil, &cArguments, environ)
            guard rc == 0 else { throw TestFailure("posix_spawn: \(rc)") }
            pid = child
            guard waitForStartup else { return }
            // The startup line names the URL, with the port the kernel chose.
            let line = try waitFor("stderr") { $0.contains(" serving ") }
            guard let range = line.range(of: #"url=https?://127\.0\.0\.1:\d+/"#, options: .regularExpression),
                  let port = UInt16(line[range].drop(while: { $0 != ":" }).dropFirst().drop(while: { $0 != ":" }).dropFirst().dropLast()) else {
                throw TestFailure("no URL in the startup line: \(line)")
            }
            self.port = port
        }

        func text(_ name: String) -> String { (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }

        /// The file's text once `ready` holds for it (polled, at most 10 s).
        @discardableResult
        func waitFor(_ name: String, _ ready: (String) -> Bool) throws -> String {
            for _ in 0..<1000 {
                let text = text(name)
                if ready(text) { return text }
                usleep(10_000)
            }
            throw TestFailure("\(name) never became ready: \(text(name)) / stderr: \(text("stderr"))")
        }

        /// Waits for the process to exit (at most 15 s) and returns its exit status.
        func exitStatus() throws -> Int32 {
            var status: Int32 = 0
            for _ in 0..<1500 {
                if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xFF }
                usleep(10_000)
            }
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            throw TestFailure("swerve did not exit")
        }

        deinit {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == 0 {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
            }
            removeTree(directory)
        }
    }

    @Test("SIGUSR1 reopens the access log: after logrotate's rename, lines before the signal stay in the old file")
    func sigusr1Reopens() throws {
        let process = try Process(files: ["a.txt": "hello"]) { ["--access-log", $0 + "/access.log"] }
        #expect(try fetch(process.port, "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n").status == 200)
        try process.waitFor("access.log") { $0.contains(#""GET /a.txt HTTP/1.1" 200 5"#) }
        #expect(rename(process.directory + "/access.log", process.directory + "/access.log.1") == 0)
        #expect(kill(process.pid, SIGUSR1) == 0)
        // The reopen creates the file afresh, and says so.
        try process.waitFor("stderr") { $0.contains("access log reopened") }
        #expect(access(process.directory + "/access.log", F_OK) == 0)
        #expect(try fetch(process.port, "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n").status == 404)
        let fresh = try process.waitFor("access.log") { $0.contains(#""GET /missing HTTP/1.1" 404"#) }
        #expect(!fresh.contains("/a.txt"))
        #expect(!process.text("access.log.1").contains("/missing"))
        #expect(process.text("access.log.1").split(separator: "\n").count == 1)
        // Still serving, and a plain SIGTERM (no --health: no delay) stops it cleanly.
        #expect(kill(process.pid, SIGTERM) == 0)
        #expect(try process.exitStatus() == 0)
        #expect(process.text("stderr").contains("shutting down signal=SIGTERM"))
    }

    @Test("SIGTERM with --health: 503 for the drain delay while files are still served, then the listener closes")
    func sigtermDrains() throws {
        let process = try Process(files: ["a.txt": "hello"]) { _ in ["--health", "/healthz", "--drain-delay", "1.5", "--access-log", "off"] }
        #expect(try fetch(process.port, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n").status == 200)
        let signalled = Date()
        #expect(kill(process.pid, SIGTERM) == 0)
        var sawDraining = false
        for _ in 0..<500 {
            if (try? fetch(process.port, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"))?.status == 503 { sawDraining = true; break }
            usleep(5_000)
        }
        #expect(sawDraining)
        // Within the delay, everything else is answered as usual.
        let file = try fetch(process.port, "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(file.status == 200 && file.bodyText == "hello")
        #expect(Date().timeIntervalSince(signalled) < 1.5)
        #expect(try process.exitStatus() == 0)
        // The listener stayed open for the delay, then closed.
        #expect(Date().timeIntervalSince(signalled) >= 1.5)
        #expect(throws: (any Error).self) { try RawClient(port: process.port) }
        let log = process.text("stderr")
        #expect(log.contains("shutting down signal=SIGTERM"))
        #expect(log.contains("info: stopped"))
    }

    @Test("SIGHUP reloads --tls-cert and --tls-key: new connections get the renewed pair; a bad pair is one error line and the old one stays")
    func sighupReloadsTLS() throws {
        let certificates = try TestCertificates()
        let process = try Process(files: ["a.txt": "hello"]) { _ in
            ["--tls-cert", certificates.certificate, "--tls-key", certificates.key, "--access-log", "off"]
        }
        #expect(process.text("stderr").contains("url=https://127.0.0.1:\(process.port)/"))
        let first = try RawClient(port: process.port, tls: true)
        let before = try #require(first.peerCertificateSerial)
        try certificates.makePair(commonName: "renewed.example")
        #expect(kill(process.pid, SIGHUP) == 0)
        try process.waitFor("stderr") { $0.contains("TLS certificate reloaded") }
        let renewed = try RawClient(port: process.port, tls: true)
        let after = try #require(renewed.peerCertificateSerial)
        #expect(after != before)
        try renewed.send("GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try renewed.readResponse().bodyText == "hello")
        // The connection made before the reload goes on with its pair.
        try first.send("GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try first.readResponse().bodyText == "hello")
        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: certificates.key))
        #expect(kill(process.pid, SIGHUP) == 0)
        let log = try process.waitFor("stderr") { $0.contains("TLS reload failed") }
        #expect(log.contains("error: TLS reload failed, still serving the previous certificate: the TLS private key \(certificates.key) is not a PEM private key"))
        #expect(try RawClient(port: process.port, tls: true).peerCertificateSerial == after)
        #expect(kill(process.pid, SIGTERM) == 0)
        #expect(try process.exitStatus() == 0)
    }

    @Test("SIGHUP without TLS is a notice, not the end of the process")
    func sighupWithoutTLS() throws {
        let process = try Process(files: ["a.txt": "hello"]) { _ in ["--access-log", "off"] }
        #expect(kill(process.pid, SIGHUP) == 0)
        try process.waitFor("stderr") { $0.contains("SIGHUP: nothing to reload (no --tls-cert)") }
        #expect(try fetch(process.port, "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n").bodyText == "hello")
        #expect(kill(process.pid, SIGTERM) == 0)
        #expect(try process.exitStatus() == 0)
    }

    @Test("a bad --health, --metrics, access-log path or TLS pair: one clear line, exit 64 for usage and 1 for the environment")
    func startupErrors() throws {
        for (arguments, status, message) in [
            (["--health", "healthz"], Int32(64), "invalid --health 'healthz'"),
            (["--metrics", "nowhere"], 64, "invalid --metrics 'nowhere'"),
            (["--access-log", "/nonexistent/dir/access.log"], 1, "cannot open the access log '/nonexistent/dir/access.log'"),
            (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"], 1,
             "cannot read the TLS certificate /nonexistent/cert.pem: No such file or directory"),
            (["--tls-cert", "/nonexistent/cert.pem"], 64, "--tls-cert needs --tls-key"),
        ] {
            let process = try Process(waitForStartup: false) { _ in arguments }
            #expect(try process.exitStatus() == status, "\(arguments)")
            let errors = process.text("stderr")
            #expect(errors.hasPrefix("swerve: error: \(message)"), "\(arguments): \(errors)")
            #expect(process.text("stdout").isEmpty)
        }
    }
}
