import Glibc
import SwerveServer
import SwerveTestSupport
import Testing

/// A request repeated byte for byte (a keep-alive client, an HTTP/2 connection asking for one file again) is answered
/// from the loop's memo of answers (`AnswerMemo`) instead of being planned again: the answer must be the planned one,
/// every byte, and must follow the file the moment a planned answer would.
@Suite("Repeated requests: replayed answers are the planned ones", .serialized)
struct RepeatedRequestWireTests {
    static let page = Array("<!doctype html><title>one</title>\n".utf8)
    static let files: [String: [UInt8]] = ["index.html": page, "other.html": Array("other".utf8)]

    /// A server whose files are settled (`FileIdentity.isSettled`): only a settled file's bytes are kept in memory,
    /// and only answers from those are replayed.
    static func server() throws -> TestServer {
        let server = try TestServer(files: files)
        for name in files.keys { try TestServer.waitUntilSettled(server.root + "/" + name) }
        return server
    }

    /// The head without its Date line (two answers may be a second apart), then the body.
    static func dateless(_ response: WireResponse) -> [String] {
        response.rawHead.split(separator: "\r\n").filter { !$0.hasPrefix("Date: ") }.map(String.init)
            + [String(decoding: response.body, as: UTF8.self)]
    }

    @Test("HTTP/1.1 keep-alive: GET and HEAD asked again get the first answer's bytes, HTTP/1.0 its Connection field")
    func http11AnswersRepeat() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let client = try RawClient(port: server.port)
        let requests = [
            ("GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n", false),
            ("HEAD /index.html HTTP/1.1\r\nHost: h\r\n\r\n", true),
            ("GET /index.html HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", false),
        ]
        for (request, isHead) in requests {
            try client.send(request)
            let first = try client.readResponse(headRequest: isHead)
            #expect(first.status == 200)
            #expect(first.body == (isHead ? [] : Self.page))
            for _ in 0..<3 {
                try client.send(request)
                let again = try client.readResponse(headRequest: isHead)
                #expect(Self.dateless(again) == Self.dateless(first), "\(request)")
                // The head's Date is the second it is sent in, not the first answer's.
                #expect(again.header("Date") != nil)
            }
        }
        // The 1.0 request kept the connection open (Connection: keep-alive was answered), and it still serves.
        #expect(try fetch(server.port, "GET /other.html HTTP/1.1\r\nHost: h\r\n\r\n").body == Array("other".utf8))
    }

    @Test("HTTP/2: the same request on several streams gets the same status, fields and body on each")
    func http2AnswersRepeat() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let client = HTTP2Client(try RawClient(port: server.port))
        let first = try client.response(client.request("/index.html", [("user-agent", "t")]))
        #expect(first.status == 200 && first.body == Self.page)
        // Several at once (answered in one run of the connection), with other answers between them (a replay's head
        // and body are told apart by its own head's size), then one more on its own.
        let ids = (0..<4).flatMap { _ in [client.request("/index.html", [("user-agent", "t")]), client.request("/nope")] }
        #expect(try client.response(client.request("/other.html")).body == Array("other".utf8))
        for id in ids.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) + [client.request("/index.html", [("user-agent", "t")])] {
            let again = try client.response(id)
            #expect(again.status == 200)
            #expect(again.body == Self.page)
            #expect(again.fields.filter { $0.name != "date" }.map { "\($0.name): \($0.value)" }
                == first.fields.filter { $0.name != "date" }.map { "\($0.name): \($0.value)" })
        }
    }

    @Test("a file rewritten between two identical requests on one connection: the second gets the new bytes and tag")
    func rewriteIsSeenByTheNextRequest() throws {
        let server = try Self.server()
        defer { server.shutdown() }
        let path = server.root + "/index.html"
        let client = try RawClient(port: server.port)
        let request = "GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n"
        try client.send(request)
        let before = try client.readResponse()
        try client.send(request)
        #expect(try client.readResponse().body == Self.page)   // replayed
        // The same size, so only the bytes (and the ctime) differ.
        let rewritten = Array("<!doctype html><title>two</title>\n".utf8)
        #expect(rewritten.count == Self.page.count)
        try TestServer.write(path, rewritten)
        try TestServer.waitUntilSettled(path)
        // The next request arrives in a later pass of the loop, which checks the file again.
        try client.send(request)
        let after = try client.readResponse()
        #expect(after.body == rewritten)
        #expect(after.header("ETag") != before.header("ETag"))
        // HTTP/2 too: after the rewrite, and again once the file is put back.
        let h2 = HTTP2Client(try RawClient(port: server.port))
        #expect(try h2.response(h2.request("/index.html")).body == rewritten)
        try TestServer.write(path, Self.page)
        try TestServer.waitUntilSettled(path)
        #expect(try h2.response(h2.request("/index.html")).body == Self.page)
    }
}
