import Glibc
import SwerveHTTP

/// Loading a `mime.types` table: from a file (`--mime-types`), or the copy compiled into the binary.
extension MIMETable {
    /// Files larger than this are refused: a media-type table is a few KiB; anything near this is the wrong file.
    static let maximumFileBytes = 16 << 20

    /// Reads and parses a `mime.types` file. Errors name `path`; an unreadable file is reported as line 0.
    public convenience init(path: String) throws(MIMETableError) {
        let text = try Self.readFile(path)
        try self.init(text: text, fileName: path)
    }

    /// The table compiled into the binary (`BundledMIMETypes.swift`, generated from the repository's `mime.types`;
    /// a test checks that the two are the same bytes and that the text parses).
    public static func bundled() throws(MIMETableError) -> MIMETable {
        try MIMETable(text: Array(bundledText.utf8), fileName: "(bundled mime.types)")
    }

    /// Reads a whole file with open/read (no Foundation). Refuses files over `maximumFileBytes`.
    private static func readFile(_ path: String) throws(MIMETableError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw MIMETableError(fileName: path, line: 0, message: "cannot open: \(errnoDescription())")
        }
        defer { _ = close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                bytes.append(contentsOf: chunk[0..<n])
                if bytes.count > maximumFileBytes {
                    throw MIMETableError(fileName: path, line: 0, message: "file is larger than 16 MiB")
                }
            } else if n == 0 {
                return bytes
            } else if errno != EINTR {
                throw MIMETableError(fileName: path, line: 0, message: "cannot read: \(errnoDescription())")
            }
        }
    }

    private static func errnoDescription() -> String {
        let code = errno
        guard let text = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: text)) (errno \(code))"
    }
}
