import Foundation

/// A temporary directory with throwaway TLS files made by the `openssl` command (never committed): `cert.pem` and
/// `key.pem`, a P-256 self-signed certificate for `localhost` and its key, and `other.pem`, an unrelated key.
/// Shared by the TLS tests of every target; removed when the object goes.
public final class TestCertificates {
    public let dir: String
    public var certificate: String { dir + "/cert.pem" }
    public var key: String { dir + "/key.pem" }
    public var otherKey: String { dir + "/other.pem" }

    public init() throws {
        dir = NSTemporaryDirectory() + "swerve-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try makePair(commonName: "localhost")
        try Self.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", otherKey])
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// Replaces `cert.pem` and `key.pem` with a new pair whose subject is `commonName` (a renewed certificate).
    public func makePair(commonName: String) throws {
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", certificate, "-days", "1", "-subj", "/CN=\(commonName)"])
    }

    public struct OpenSSLFailure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailure(description: "openssl \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
    }
}
