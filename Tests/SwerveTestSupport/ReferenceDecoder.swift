import Foundation

/// The reference command-line decoders of each content coding (`gzip -d`, `brotli -d`, `zstd -d`: Debian's gzip,
/// brotli and zstd packages, installed by .ci/run), so a test checks Swerve's bytes with a decoder Swerve did not
/// write.
public enum ReferenceDecoder {
    /// Runs `/usr/bin/tool arguments FILE` with `input` in a temporary file (removed afterwards) and returns what it
    /// wrote to standard output, and its exit status.
    public static func run(_ tool: String, _ arguments: [String], _ input: [UInt8]) throws -> (output: [UInt8], status: Int32) {
        let path = NSTemporaryDirectory() + "swerve-codec-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(input).write(to: URL(fileURLWithPath: path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/" + tool)
        process.arguments = arguments + [path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (Array(data), process.terminationStatus)
    }

    /// `body` decoded for its `Content-Encoding` (nil or identity: the body itself); nil when the decoder refuses
    /// it. zstd is decoded with an 8 MB memory limit, RFC 9659's window cap, so a frame over it fails.
    public static func decode(_ body: [UInt8], contentEncoding: String?) throws -> [UInt8]? {
        let result: (output: [UInt8], status: Int32)
        switch contentEncoding {
        case nil, "identity": return body
        case "gzip": result = try run("gzip", ["-d", "-c"], body)
        case "br": result = try run("brotli", ["-d", "-c"], body)
        case "zstd": result = try run("zstd", ["-d", "-c", "-q", "--memory=8MB"], body)
        default: return nil
        }
        return result.status == 0 ? result.output : nil
    }
}
