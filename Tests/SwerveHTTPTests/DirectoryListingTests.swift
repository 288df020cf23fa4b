import Foundation
import Testing
@testable import SwerveHTTP

/// The listing's rendering (`--list-dirs`): escaping, order, links, JSON — without a file system.
@Suite("DirectoryListing")
struct DirectoryListingTests {
    typealias Entry = DirectoryListing.Entry

    static func file(_ name: String, _ size: Int, _ modified: Int64 = 1_700_000_000) -> Entry {
        Entry(name: Array(name.utf8), isDirectory: false, size: size, modified: modified)
    }

    static func directory(_ name: String, _ modified: Int64 = 1_700_000_000) -> Entry {
        Entry(name: Array(name.utf8), isDirectory: true, size: 4096, modified: modified)
    }

    static func html(_ entries: [Entry], path: String = "/docs/", query: DirectoryListing.Query = .init(), truncated: Bool = false) -> String {
        String(decoding: DirectoryListing(path: Array(path.utf8), entries: entries, truncated: truncated, limit: 10_000, query: query).html(), as: UTF8.self)
    }

    @Test("names are HTML-escaped where shown and percent-encoded where linked: <script>, quotes, &, spaces, %, #, ?")
    func escaping() {
        let hostile = ["<script>alert(1)</script>", "a\"b'c", "x&y", "two words", "100%", "#hash", "q?x=1", "javascript:alert(1)"]
        let page = Self.html(hostile.map { Self.file($0, 1) })
        #expect(!page.contains("<script>alert"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.contains("./%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""))
        #expect(page.contains(">a&quot;b&#39;c<"))
        #expect(page.contains("./a%22b%27c\""))
        #expect(page.contains(">x&amp;y<") && page.contains("./x%26y\""))
        #expect(page.contains(">two words<") && page.contains("./two%20words\""))
        #expect(page.contains(">100%<") && page.contains("./100%25\""))
        #expect(page.contains("./%23hash\"") && page.contains("./q%3Fx%3D1\""))
        // A name shaped like a URL scheme stays a relative link.
        #expect(page.contains("href=\"./javascript%3Aalert%281%29\""))
        // Every href is relative and quoted: no attribute can be broken out of.
        for line in page.split(separator: "\n") where line.contains("href=\"./") {
            let href = line.split(separator: "\"")[1]
            #expect(href.allSatisfy { $0.isASCII && !"<>\"' ".contains($0) }, "\(href)")
        }
    }

    @Test("a name that is not UTF-8 is shown with U+FFFD and linked by its exact bytes; control bytes never pass raw")
    func nonUTF8() {
        let entry = Entry(name: [0x62, 0x61, 0x64, 0xFF, 0xFE], isDirectory: false, size: 1, modified: 0)
        let control = Entry(name: [0x61, 0x1B, 0x5B, 0x32, 0x4A], isDirectory: false, size: 1, modified: 0)
        let page = Self.html([entry, control])
        #expect(page.contains("./bad%FF%FE\""))
        #expect(page.contains(">bad\u{FFFD}\u{FFFD}<"))
        #expect(!page.utf8.contains(0x1B))
        #expect(page.contains("./a%1B%5B2J\""))
        let json = String(decoding: DirectoryListing(path: Array("/".utf8), entries: [entry, control]).json(), as: UTF8.self)
        #expect(json.contains("\"name\":\"bad\u{FFFD}\u{FFFD}\""))
        #expect(json.contains("\"name\":\"a\\u001b[2J\""))
    }

    @Test("directories first; then by name (letters without case), size or time, ascending or descending; ties by name")
    func sortOrders() {
        let entries = [Self.file("b.txt", 30, 3), Self.file("C.txt", 10, 1), Self.file("a.txt", 20, 2),
                       Self.directory("zeta", 9), Self.directory("Alpha", 8), Self.file("d.txt", 10, 1)]
        func order(_ sort: DirectoryListing.SortKey, _ order: DirectoryListing.Order) -> [String] {
            DirectoryListing(path: Array("/".utf8), entries: entries, query: .init(sort: sort, order: order))
                .sortedEntries.map { String(decoding: $0.name, as: UTF8.self) }
        }
        #expect(order(.name, .ascending) == ["Alpha", "zeta", "a.txt", "b.txt", "C.txt", "d.txt"])
        #expect(order(.name, .descending) == ["zeta", "Alpha", "d.txt", "C.txt", "b.txt", "a.txt"])
        #expect(order(.size, .ascending) == ["Alpha", "zeta", "C.txt", "d.txt", "a.txt", "b.txt"])
        #expect(order(.size, .descending) == ["Alpha", "zeta", "b.txt", "a.txt", "C.txt", "d.txt"])
        #expect(order(.time, .ascending) == ["Alpha", "zeta", "C.txt", "d.txt", "a.txt", "b.txt"])
        #expect(order(.time, .descending) == ["zeta", "Alpha", "b.txt", "a.txt", "C.txt", "d.txt"])
    }

    @Test("?sort=…&order=…&format=json; unknown keys and values are ignored")
    func query() {
        func parse(_ text: String) -> DirectoryListing.Query {
            Array(text.utf8).withUnsafeBytes { DirectoryListing.Query($0) }
        }
        #expect(parse("") == .init())
        #expect(parse("sort=size&order=desc") == .init(sort: .size, order: .descending))
        #expect(parse("format=json&sort=time") == .init(sort: .time, json: true))
        #expect(parse("sort=bogus&order=sideways&x=1&&=&format=xml") == .init())
        #expect(parse("sort=name;order=desc") == .init(sort: .name, order: .descending))
    }

    @Test("the parent link at every level but the root; the sort links flip the order of the current key; the note when cut")
    func navigation() {
        #expect(Self.html([], path: "/docs/").contains("<a href=\"../\">../</a>"))
        #expect(!Self.html([], path: "/").contains("href=\"../\""))
        let sortedBySize = Self.html([], query: .init(sort: .size, order: .ascending))
        #expect(sortedBySize.contains("href=\"?sort=size&amp;order=desc\">Size ↑"))
        #expect(sortedBySize.contains("href=\"?sort=name&amp;order=asc\">Name<"))
        #expect(Self.html([], truncated: true).contains("Showing the first 10000 entries"))
        #expect(!Self.html([]).contains("Showing the first"))
        #expect(Self.html([], path: "/a&b/").contains("<title>Index of /a&amp;b/</title>"))
    }

    @Test("JSON: an array of {name, type, size (files), mtime in RFC 3339 UTC} that parses, in the listing's order")
    func json() throws {
        let entries = [Self.file("quote\"back\\slash", 12, 1_700_000_000), Self.directory("dir", 0)]
        let bytes = DirectoryListing(path: Array("/".utf8), entries: entries).json()
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]])
        #expect(parsed.count == 2)
        #expect(parsed[0]["name"] as? String == "dir" && parsed[0]["type"] as? String == "directory")
        #expect(parsed[0]["size"] == nil)
        #expect(parsed[0]["mtime"] as? String == "1970-01-01T00:00:00Z")
        #expect(parsed[1]["name"] as? String == "quote\"back\\slash")
        #expect(parsed[1]["type"] as? String == "file" && parsed[1]["size"] as? Int == 12)
        #expect(parsed[1]["mtime"] as? String == "2023-11-14T22:13:20Z")
        #expect(String(decoding: DirectoryListing(path: [0x2F], entries: []).json(), as: UTF8.self) == "[]\n")
    }

    @Test("sizes for people, times in RFC 3339")
    func values() {
        #expect(DirectoryListing.humanSize(0) == "0 B")
        #expect(DirectoryListing.humanSize(1023) == "1023 B")
        #expect(DirectoryListing.humanSize(1536) == "1.5 KiB")
        #expect(DirectoryListing.humanSize(10 << 20) == "10 MiB")
        #expect(DirectoryListing.humanSize(1 << 40) == "1.0 TiB")
        #expect(String(decoding: DirectoryListing.rfc3339(951_782_400), as: UTF8.self) == "2000-02-29T00:00:00Z")
        #expect(String(decoding: DirectoryListing.rfc3339(-1), as: UTF8.self) == "1969-12-31T23:59:59Z")
    }
}
