import SwerveFiles
import Testing
@testable import SwerveHTTP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The repository's `mime.types`, found from this file's path (Tests/SwerveFilesTests/<this file>).
private let bundledMIMETypesPath: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/mime.types"
}()

/// The bytes of the repository's `mime.types`.
private func repositoryFile() throws -> [UInt8] {
    let fd = open(bundledMIMETypesPath, O_RDONLY)
    guard fd >= 0 else { throw FilesTestFailure("cannot open \(bundledMIMETypesPath)") }
    defer { _ = close(fd) }
    var bytes = [UInt8](repeating: 0, count: 1 << 16)
    let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 && n < bytes.count else { throw FilesTestFailure("\(bundledMIMETypesPath): read \(n) bytes") }
    return Array(bytes[0..<n])
}

/// Extensions where the bundled file deliberately disagrees with a system `/etc/mime.types`, and the (outdated)
/// system types tolerated for them. Each one is explained by a "DEVIATION" comment in `mime.types`.
/// Debian 12 (media-types 10.0.0) agrees with every entry; older releases still say application/javascript.
private let deliberateDisagreements: [String: Set<String>] = [
    "js": ["application/javascript"],
    "mjs": ["application/javascript"],
]

private func table(_ text: String, fileName: String = "test.types") throws(MIMETableError) -> MIMETable {
    try MIMETable(text: Array(text.utf8), fileName: fileName)
}

/// The system's /etc/mime.types, or nil if it cannot be read (a parse error is still an error).
/// (Written as a function: `let x: T; do { x = try … } catch where … { return }` with a typed-throwing
/// initializer crashes the Swift 6.3.1 compiler in MandatoryAllocBoxToStack.)
private func loadSystemTable() throws(MIMETableError) -> MIMETable? {
    do {
        return try MIMETable(path: "/etc/mime.types")
    } catch {
        if error.line == 0 { return nil }
        throw error
    }
}

private func parseError(_ text: String) -> MIMETableError? {
    do {
        _ = try table(text)
        return nil
    } catch {
        return error
    }
}

private let lookupCases: [(String, String)] = [
    ("index.html", "text/html; charset=utf-8"),
    ("/INDEX.HTML", "text/html; charset=utf-8"),
    ("page.htm", "text/html; charset=utf-8"),
    ("inc/footer.shtml", "text/html; charset=utf-8"),
    ("/css/site.css", "text/css; charset=utf-8"),
    ("/js/app.js", "text/javascript; charset=utf-8"),
    ("/js/module.MJS", "text/javascript; charset=utf-8"),
    ("legacy.cjs", "text/javascript; charset=utf-8"),
    ("data.json", "application/json; charset=utf-8"),
    ("app.js.map", "application/json; charset=utf-8"),
    ("person.jsonld", "application/ld+json; charset=utf-8"),
    ("feed.xml", "application/xml; charset=utf-8"),
    ("feed.atom", "application/atom+xml; charset=utf-8"),
    ("feed.rss", "application/x-rss+xml; charset=utf-8"),
    ("/img/logo.svg", "image/svg+xml; charset=utf-8"),
    ("readme.txt", "text/plain; charset=utf-8"),
    ("README.md", "text/markdown; charset=utf-8"),
    ("table.csv", "text/csv; charset=utf-8"),
    ("subs.vtt", "text/vtt; charset=utf-8"),
    ("cal.ics", "text/calendar; charset=utf-8"),
    ("app.wasm", "application/wasm"),
    ("site.webmanifest", "application/manifest+json; charset=utf-8"),
    ("config.yaml", "application/yaml"),
    ("config.YML", "application/yaml"),
    ("Cargo.toml", "application/toml"),
    ("photo.png", "image/png"),
    ("photo.JPG", "image/jpeg"),
    ("photo.jpeg", "image/jpeg"),
    ("anim.gif", "image/gif"),
    ("photo.webp", "image/webp"),
    ("photo.avif", "image/avif"),
    ("photo.jxl", "image/jxl"),
    ("favicon.ico", "image/vnd.microsoft.icon"),
    ("font.woff", "font/woff"),
    ("font.woff2", "font/woff2"),
    ("font.ttf", "font/ttf"),
    ("font.otf", "font/otf"),
    ("font.eot", "application/vnd.ms-fontobject"),
    ("song.mp3", "audio/mpeg"),
    ("song.opus", "audio/ogg"),
    ("song.flac", "audio/flac"),
    ("clip.mp4", "video/mp4"),
    ("clip.webm", "video/webm"),
    ("clip.mkv", "video/x-matroska"),
    ("clip.mov", "video/quicktime"),
    ("doc.pdf", "application/pdf"),
    ("files.zip", "application/zip"),
    ("archive.tar.gz", "application/gzip"),
    ("archive.tgz", "application/x-gtar-compressed"),
    ("archive.tar.zst", "application/zstd"),
    ("archive.tar.xz", "application/x-xz"),
    ("archive.tar", "application/x-tar"),
    ("report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("book.epub", "application/epub+zip"),
    ("pkg.deb", "application/vnd.debian.binary-package"),
    ("firmware.bin", "application/octet-stream"),
    ("setup.exe", "application/x-msdos-program"),
    // No extension, or none that is known.
    ("noext", "application/octet-stream"),
    ("Makefile", "application/octet-stream"),
    (".hidden", "application/octet-stream"),
    ("/home/u/.bashrc", "application/octet-stream"),
    ("dir.d/file", "application/octet-stream"),
    ("/a.html/b", "application/octet-stream"),
    ("dir/", "application/octet-stream"),
    ("trailing.", "application/octet-stream"),
    ("", "application/octet-stream"),
    ("/", "application/octet-stream"),
    ("file.unknownext", "application/octet-stream"),
    ("file.waytoolongextension", "application/octet-stream"),
    ("file.h\u{E9}ml", "application/octet-stream"),
    // A dot in a directory name does not count; the file's own extension does.
    ("dir.d/file.css", "text/css; charset=utf-8"),
    ("/v1.2/docs/getting-started.html", "text/html; charset=utf-8"),
    ("..html", "text/html; charset=utf-8"),
]

private let compressibilityCases: [(String, Bool)] = [
    ("a.html", true), ("a.css", true), ("a.js", true), ("a.mjs", true), ("a.json", true), ("a.map", true),
    ("a.xml", true), ("a.svg", true), ("a.txt", true), ("a.csv", true), ("a.wasm", true),
    ("a.webmanifest", true), ("a.ttf", true), ("a.otf", true), ("a.eot", true), ("a.yaml", true),
    ("a.svgz", false), ("a.png", false), ("a.jpg", false), ("a.webp", false), ("a.ico", false),
    ("a.woff", false), ("a.woff2", false), ("a.mp4", false), ("a.mp3", false), ("a.zip", false),
    ("a.gz", false), ("a.pdf", false), ("a.epub", false), ("noext", false), ("a.unknown", false),
]

private let malformedCases: [(String, Int, String)] = [
    ("text/html html\nbogus htm\n", 2, "expected type/subtype"),
    ("text/html html\n\n# c\ntext/ht<ml x\n", 4, "invalid character '<'"),
    ("text/html html\ntext//html x\n", 2, "more than one '/'"),
    ("/html html\n", 1, "empty type or subtype"),
    ("text/ html\n", 1, "empty type or subtype"),
    ("text/pla\u{00}in txt\n", 1, "invalid character \\x00"),
    ("\u{FEFF}text/plain txt\n", 1, "invalid character \\xEF"),
    ("text/html html\ntext/plain t/xt\n", 2, "invalid extension 't/xt'"),
    ("text/plain a\ntext/plain b\ntext/plain t\u{01}xt\n", 3, "invalid character \\x01"),
    ("text/plain t\u{E9}xt\n", 1, "invalid character \\xC3"),
    ("text/plain t\\xt\n", 1, "invalid character '\\'"),
    ("text/plain \"txt\"\n", 1, "invalid character '\"'"),
    ("text/html html {\n", 1, "only allowed in an nginx-style"),
    ("text/html html\n}\n", 2, "only allowed in an nginx-style"),
    ("text/html html;\n", 1, "only allowed in an nginx-style"),
    ("types text/html html;\n", 1, "expected '{' after 'types'"),
    ("types\n", 1, "expected '{' after 'types'"),
    ("types {\n  text/html html\n}\n", 3, "missing ';' before '}'"),
    ("types {\n  text/html html;\n", 2, "missing '}' at end of file"),
    ("types {\n  text/html html;\n}\ntext/plain txt\n", 4, "after the closing '}'"),
    ("types {\n  ;\n}\n", 2, "';' without a media type"),
    ("types {\n  { text/html html;\n}\n", 2, "unexpected '{'"),
    ("types {\n  text/html html;\n}}\n", 3, "after the closing '}'"),
    ("types {\n  text/h{tml html;\n}\n", 2, "unexpected '{'"),
    ("types {\n  text/html\n  ht/ml;\n}\n", 3, "invalid extension"),
]

@Suite("MIMETable")
struct MIMETableTests {
    /// The table compiled into the binary: what a server without `--mime-types` uses.
    static let bundled: MIMETable = {
        do {
            return try MIMETable.bundled()
        } catch {
            fatalError("bundled mime.types must load: \(error)")
        }
    }()

    @Test("the compiled-in table is mime.types byte for byte (else run Scripts/embed-mime-types.sh)")
    func compiledInTableIsTheFile() throws {
        #expect(try repositoryFile() == Array(MIMETable.bundledText.utf8))
        // And the file loads to the same table through the path a user's --mime-types takes.
        let loaded = try MIMETable(path: bundledMIMETypesPath)
        #expect(loaded.extensions == Self.bundled.extensions)
        for ext in loaded.extensions {
            #expect(loaded.mediaType(forExtension: ext) == Self.bundled.mediaType(forExtension: ext))
        }
    }

    @Test("bundled mime.types: lookups", arguments: lookupCases)
    func bundledLookups(path: String, expected: String) {
        #expect(Self.bundled.contentType(forPath: path) == expected)
    }

    @Test("bundled mime.types: compressibility", arguments: compressibilityCases)
    func bundledCompressibility(path: String, expected: Bool) {
        #expect(Self.bundled.isCompressible(forPath: path) == expected)
    }

    @Test func rawLookupReturnsStableBytesWithoutAllocating() {
        let table = Self.bundled
        var path: [UInt8] = Array("/static/app.JS".utf8)
        let first = path.withUnsafeBytes { table.contentType(forPath: $0) }
        path = Array("/other/x.js".utf8)
        let second = path.withUnsafeBytes { table.contentType(forPath: $0) }
        #expect(first.baseAddress == second.baseAddress)   // one shared pre-rendered value per media type
        #expect(Array(first) == Array("text/javascript; charset=utf-8".utf8))

        let unknown = [UInt8]("x.nope".utf8).withUnsafeBytes { table.contentType(forPath: $0) }
        #expect(Array(unknown) == Array("application/octet-stream".utf8))
        #expect(table.contentType(forPath: UnsafeRawBufferPointer(start: nil, count: 0)).count == 24)
        #expect(!table.isCompressible(forPath: UnsafeRawBufferPointer(start: nil, count: 0)))
    }

    @Test func charsetRule() throws {
        let t = try table("""
            text/x-anything          a
            application/javascript   b
            application/json         c
            application/vnd.api+json d
            application/xml          e
            application/atom+xml     f
            image/svg+xml            g
            application/manifest+json h
            text/xml                 i
            image/png                j
            application/octet-stream k
            application/zip          l
            application/wasm         m
            font/woff2               n
            application/xml-dtd      o
            """)
        for ext in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "o"] {
            #expect(t.contentType(forPath: "f.\(ext)").hasSuffix("; charset=utf-8"), "\(ext)")
        }
        for ext in ["j", "k", "l", "m", "n"] {
            #expect(!t.contentType(forPath: "f.\(ext)").contains("charset"), "\(ext)")
        }
        #expect(t.contentType(forPath: "f.d") == "application/vnd.api+json; charset=utf-8")
        #expect(t.mediaType(forExtension: "D") == "application/vnd.api+json")
    }

    @Test func acceptsDebianFormatDetails() throws {
        let t = try table(
            "# comment\r\n\r\n"
                + "application/x-nothing\r\n"              // a type with no extensions: ignored
                + "text/html\thtml   HTM # trailing comment\r\n"
                + "   image/png png\n"
                + "text/x-c c++ \n"
                + "application/x-long sarif-external-properties x.json\n"   // unmatchable: ignored
                + "application/vnd.Kinar SDF\n"             // type case is kept, extension lower-cased
                + "no/newline end")
        #expect(t.contentType(forPath: "a.htm") == "text/html; charset=utf-8")
        #expect(t.contentType(forPath: "a.HTML") == "text/html; charset=utf-8")
        #expect(t.contentType(forPath: "a.png") == "image/png")
        #expect(t.contentType(forPath: "a.c++") == "text/x-c; charset=utf-8")
        #expect(t.contentType(forPath: "a.sdf") == "application/vnd.Kinar")
        #expect(t.contentType(forPath: "a.end") == "no/newline")
        #expect(t.contentType(forPath: "x.json") == "application/octet-stream")
        #expect(t.extensions == ["c++", "end", "htm", "html", "png", "sdf"])
        #expect(t.count == 6)
    }

    @Test func lastEntryForAnExtensionWins() throws {
        let t = try table("text/plain txt md\ntext/markdown MD\n")
        #expect(t.contentType(forPath: "a.md") == "text/markdown; charset=utf-8")
        #expect(t.contentType(forPath: "a.txt") == "text/plain; charset=utf-8")
        #expect(t.count == 2)
    }

    @Test func emptyFileGivesEmptyTable() throws {
        let t = try table("")
        #expect(t.count == 0)
        #expect(t.contentType(forPath: "a.html") == "application/octet-stream")
        #expect(try table("# only a comment\n\n").count == 0)
    }

    @Test func acceptsNginxTypesBlock() throws {
        let t = try table("""
            # nginx style
            types {
                text/html                 html htm shtml;
                text/css   css;
                application/x-nothing;
                application/vnd.openxmlformats-officedocument.wordprocessingml.document
                                          docx;
                image/png png;}
            # after the block
            """)
        #expect(t.contentType(forPath: "a.shtml") == "text/html; charset=utf-8")
        #expect(t.contentType(forPath: "a.css") == "text/css; charset=utf-8")
        #expect(t.contentType(forPath: "a.docx")
            == "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        #expect(t.contentType(forPath: "a.png") == "image/png")
        #expect(try table("types{text/plain txt;}").contentType(forPath: "a.txt") == "text/plain; charset=utf-8")
    }

    @Test("malformed lines report the right line", arguments: malformedCases)
    func malformedLine(text: String, line: Int, message: String) throws {
        let error = try #require(parseError(text))
        #expect(error.line == line, "\(error)")
        #expect(error.message.contains(message), "\(error)")
        #expect(error.fileName == "test.types")
        #expect(error.description == "test.types:\(line): \(error.message)")
    }

    @Test func unreadableFileIsLineZero() {
        for path in ["/nonexistent-swerve-dir/mime.types", "/"] {
            do {
                _ = try MIMETable(path: path)
                Issue.record("\(path) should not load")
            } catch {
                #expect(error.line == 0)
                #expect(error.fileName == path)
                #expect(error.description.hasPrefix("\(path):0: cannot "))
            }
        }
    }

    @Test func bundledFileCoversTheModernWeb() {
        let required = """
            html htm shtml css js mjs cjs json map jsonld xml svg svgz txt md markdown csv ics vtt wasm webmanifest
            png jpg jpeg gif webp avif ico bmp tif tiff apng jxl heic woff woff2 ttf otf eot mp3 ogg oga opus wav
            flac m4a aac mp4 m4v webm ogv mov mkv avi pdf zip gz tgz bz2 xz zst 7z rar tar epub rss atom yaml yml
            toml rtf doc docx xls xlsx ppt pptx odt ods odp apk dmg exe bin iso deb rpm jar swf
            """.split(whereSeparator: { $0 == " " || $0 == "\n" })
        for ext in required {
            #expect(Self.bundled.mediaType(forExtension: String(ext)) != nil, "missing \(ext)")
        }
        #expect(Self.bundled.count >= required.count)
    }

    /// The bundled file must agree with the system's /etc/mime.types (Debian's media-types) on every extension both
    /// list, except the documented deliberate disagreements. Skipped silently when the system file is absent.
    @Test func bundledFileAgreesWithSystemMIMETypes() throws {
        // No readable system file: nothing to compare.
        guard let system = try loadSystemTable() else { return }
        #expect(system.count > 500)

        var disagreements: [String] = []
        for ext in Self.bundled.extensions {
            guard let theirs = system.mediaType(forExtension: ext),
                  let ours = Self.bundled.mediaType(forExtension: ext),
                  theirs != ours
            else { continue }
            if deliberateDisagreements[ext]?.contains(theirs) == true { continue }
            disagreements.append("\(ext): ours \(ours), system \(theirs)")
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
    }

    @Test func deviationsAreDocumentedInTheFile() throws {
        let text = String(decoding: try repositoryFile(), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for ext in deliberateDisagreements.keys {
            // The entry's line must be preceded (within its comment block) by a DEVIATION comment.
            let index = try #require(lines.firstIndex { line in
                !line.hasPrefix("#") && line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst()
                    .contains { $0 == Substring(ext) }
            })
            var i = index - 1
            var documented = false
            while i >= 0 && lines[i].hasPrefix("#") {
                if lines[i].contains("DEVIATION") { documented = true }
                i -= 1
            }
            #expect(documented, "\(ext) needs a DEVIATION comment")
        }
    }
}
