// Microbenchmarks of Swerve's per-request building blocks (no sockets, no file I/O in the measured loops).
//
//   cd Benchmarks && swift package --allow-writing-to-package-directory benchmark
//
// Every benchmark runs its operation 1,000 times per measured iteration (`scalingFactor: .kilo`), so the table's
// time and malloc columns are per operation. Inputs and long-lived state (parser tables, scratch buffers, the MIME
// table, a warm cache) are built once outside the measured region, the way an event loop holds them; a benchmark
// that reports a non-zero `mallocCountTotal` therefore allocates on every call, not once at start-up.

import Benchmark
import SwerveCompression
import SwerveFiles
import SwerveHTTP

// MARK: - Inputs

/// A Firefox request for a stylesheet it has cached (If-None-Match and If-Modified-Since), 488 bytes.
let browserRequest =
    "GET /css/site.css HTTP/1.1\r\n"
    + "Host: www.example.com\r\n"
    + "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    + "Accept: text/css,*/*;q=0.1\r\n"
    + "Accept-Language: en-US,en;q=0.5\r\n"
    + "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    + "Referer: https://www.example.com/\r\n"
    + "Connection: keep-alive\r\n"
    + "If-Modified-Since: Fri, 27 Nov 2026 16:42:10 GMT\r\n"
    + "If-None-Match: \"2c1b0f-1f4d-6923f232.2a3b4c5\"\r\n"
    + "Sec-Fetch-Dest: style\r\n"
    + "Sec-Fetch-Mode: no-cors\r\n"
    + "Sec-Fetch-Site: same-origin\r\n"
    + "Priority: u=2\r\n"
    + "\r\n"

/// The smallest valid HTTP/1.1 request (what wrk and most load generators send, minus their extra fields).
let minimalRequest = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

/// A percent-encoded nested target with a query: UTF-8 escapes, an escaped "-", a "." segment and a ".." segment.
let encodedTarget = "/docs/./guide%20v2/caf%C3%A9/%E6%97%A5%E6%9C%AC/../notes%2Dfinal.html?lang=fr&v=3"

/// The file behind `currentETag` (inode 0x2c1b0f, 0x1f4d = 8013 bytes, mtime and ctime 0x6923f232.0x2a3b4c5).
let etagIdentity = FileIdentity(
    device: 0x801, inode: 0x2c_1b0f, size: 0x1f4d, modified: FileTime(seconds: 0x6923_f232, nanoseconds: 0x2a3_b4c5),
    changed: FileTime(seconds: 0x6923_f232, nanoseconds: 0x2a3_b4c5))

/// The If-None-Match of `browserRequest`: the tag `etagIdentity` renders to.
let currentETag: String = {
    var bytes: [UInt8] = []
    ETag(metadataOf: etagIdentity).withRendered { bytes = Array($0) }
    return String(decoding: bytes, as: UTF8.self)
}()

/// A fixed "now" (Fri, 27 Nov 2026 17:10:00 GMT): the server reads its clock once per loop turn, not per request.
let now = 1_795_799_400

/// A copy of `text`'s bytes that lives for the whole process (benchmark state is never torn down).
func permanentBytes(_ text: String) -> UnsafeRawBufferPointer {
    let bytes = Array(text.utf8)
    let block = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
    block.copyBytes(from: bytes)
    return UnsafeRawBufferPointer(rebasing: block[0..<bytes.count])
}

/// A process-lifetime scratch buffer.
func permanentScratch(_ count: Int) -> UnsafeMutableRawBufferPointer {
    let block = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
    block.initializeMemory(as: UInt8.self, repeating: 0)
    return block
}

/// The repository root, from this file's location (Benchmarks/Benchmarks/SwerveBenchmarks/SwerveBenchmarks.swift).
func repositoryPath(_ relative: String) -> String {
    var components = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(4)
    return components.joined(separator: "/") + "/" + relative
}

/// `etagIdentity` with another inode: another file, same version fields.
func fileIdentity(inode: UInt64) -> FileIdentity {
    var identity = etagIdentity
    identity.inode = inode
    return identity
}

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        // cpuTotal is left out: on Linux it comes from a 10 ms clock, so per operation it reads 0 or 10,000 ns.
        // instructions needs perf_event_open; where the kernel refuses it (as in this project's VMs) the row is
        // simply absent.
        metrics: [.wallClock, .throughput, .instructions, .mallocCountTotal],
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        maxDuration: .seconds(1),
        maxIterations: 10_000
    )

    let browser = permanentBytes(browserRequest)
    let minimal = permanentBytes(minimalRequest)
    let simplePath = permanentBytes("/css/site.css")
    let encodedPath = permanentBytes(encodedTarget)
    let acceptEncoding = permanentBytes("gzip, deflate, br, zstd")
    let rangeValue = permanentBytes("bytes=0-99")
    let etagBytes = permanentBytes(currentETag)
    let cacheControlValue = permanentBytes("no-cache")
    let scratch = permanentScratch(PathResolver.scratchCapacity)
    let output = permanentScratch(4096)

    let resolver: PathResolver
    let mime: MIMETable
    do {
        resolver = try PathResolver(rootDirectory: repositoryPath("html"))
        mime = try MIMETable(path: repositoryPath("mime.types"))
    } catch {
        fatalError("benchmark setup: \(error)")
    }

    let cache = BodyCache(capacityBytes: 1 << 20)
    let body = CompressedBody(copying: browser, identityLength: 8013, compressNanoseconds: 0)
    cache.insert(body, for: etagIdentity, coding: .gzip)
    let hitKey = fileIdentity(inode: etagIdentity.inode)
    let missKey = fileIdentity(inode: etagIdentity.inode + 1)

    // 0. Calibration: proves that a 0 in the malloc column is a measurement, not a counter that never ticks.

    Benchmark("Control: one [UInt8] of 64 bytes (1 malloc expected)", configuration: configuration) { benchmark in
        for i in benchmark.scaledIterations {
            blackHole([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 64))
        }
    }

    // 1. Request parsing. One parser per event loop in the server; here one per measured iteration.

    Benchmark("RequestParser.parse browser GET (\(browser.count) B)", configuration: configuration) { benchmark in
        var parser = RequestParser()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(parser.parse(browser))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("RequestParser.parse minimal GET (\(minimal.count) B)", configuration: configuration) { benchmark in
        var parser = RequestParser()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(parser.parse(minimal))
        }
        benchmark.stopMeasurement()
    }

    // 2. Path sanitising and preparation (the pure half of resolving; no openat2).

    Benchmark("PathSanitizer.sanitize /css/site.css", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(PathSanitizer.sanitize(simplePath, showHidden: false, into: scratch))
        }
    }

    Benchmark("PathSanitizer.sanitize percent-encoded nested", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(PathSanitizer.sanitize(encodedPath, showHidden: false, into: scratch))
        }
    }

    Benchmark("PathResolver.prepare /css/site.css", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(resolver.prepare(simplePath, scratch: scratch))
        }
    }

    Benchmark("PathResolver.prepare percent-encoded nested", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(resolver.prepare(encodedPath, scratch: scratch))
        }
    }

    // 3. Content-coding negotiation.

    Benchmark("AcceptEncoding add+choose \"gzip, deflate, br, zstd\"", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            var accept = AcceptEncoding()
            accept.add(acceptEncoding)
            blackHole(accept.choose(from: [.identity, .gzip, .br]))
        }
    }

    // 4. The cache of compressed bodies (lock + hash lookup + LRU relink + one retain on a hit).

    Benchmark("BodyCache.get hit", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(cache.get(hitKey, coding: .gzip))
        }
    }

    Benchmark("BodyCache.get miss", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(cache.get(missKey, coding: .gzip))
        }
    }

    // 5. Response head serialisation into a reused buffer.

    /// A file's 200 head with six fields besides Date, as the three benchmarks below render or memoise it.
    func fileHead() -> ResponseHead {
        var head = ResponseHead(status: .ok, contentLength: 8013)
        head.contentType = mime.contentType(forPath: UnsafeRawBufferPointer(rebasing: simplePath[1...]))
        head.lastModified = Int(etagIdentity.modified.seconds)
        head.etag = ETag(metadataOf: etagIdentity)
        head.vary = .acceptEncoding
        head.cacheControl = cacheControlValue
        return head
    }

    //    As HTTPHandler.writeHead does it: Date from the per-loop DateCache, Last-Modified from the HTTPDateMemo.
    Benchmark("ResponseHead.render 200 (6 fields + Date)", configuration: configuration) { benchmark in
        var dates = DateCache()
        let lastModifiedDates = HTTPDateMemo()
        let head = fileHead()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let dateBytes = dates.bytes(at: now)
            let lastModifiedText = head.lastModified.map { lastModifiedDates.bytes($0) }
            var writer = ByteWriter(output)
            head.render(into: &writer, date: dateBytes, lastModifiedText: lastModifiedText)
            blackHole(writer.count)
        }
        benchmark.stopMeasurement()
    }

    //    The same head with Last-Modified formatted on every call (one gmtime_r): what the memo saves.
    Benchmark("ResponseHead.render 200, Last-Modified unmemoised", configuration: configuration) { benchmark in
        var dates = DateCache()
        let head = fileHead()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var writer = ByteWriter(output)
            head.render(into: &writer, date: dates.bytes(at: now))
            blackHole(writer.count)
        }
        benchmark.stopMeasurement()
    }

    //    The same head as the first, from the per-loop ResponseHeadMemo as HTTPHandler.writeHead takes it on a hit:
    //    build the key, find the slot, copy the bytes.
    Benchmark("ResponseHeadMemo hit: the same 200 head copied", configuration: configuration) { benchmark in
        var dates = DateCache()
        let lastModifiedDates = HTTPDateMemo()
        let memo = ResponseHeadMemo()
        let head = fileHead()
        var writer = ByteWriter(output)
        head.render(into: &writer, date: dates.bytes(at: now), lastModifiedText: head.lastModified.map { lastModifiedDates.bytes($0) })
        memo.store(ResponseHeadMemo.Key(head, second: now)!, UnsafeRawBufferPointer(rebasing: output[0..<writer.count]))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            guard let key = ResponseHeadMemo.Key(head, second: now), let bytes = memo.bytes(for: key) else {
                fatalError("memo: expected a hit")
            }
            UnsafeMutableRawBufferPointer(rebasing: output[0..<bytes.count]).copyMemory(from: bytes)
            blackHole(bytes.count)
        }
        benchmark.stopMeasurement()
    }

    // 6. Content-Type lookup.

    Benchmark("MIMETable.contentType(forPath:) css/site.css", configuration: configuration) { benchmark in
        let path = UnsafeRawBufferPointer(rebasing: simplePath[1...])
        for _ in benchmark.scaledIterations {
            blackHole(mime.contentType(forPath: path))
        }
    }

    // 7. Range and conditional requests.

    Benchmark("RangeRequest.parse bytes=0-99", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RangeRequest.parse(rangeValue, length: 8013))
        }
    }

    Benchmark("Preconditions.evaluate If-None-Match match", configuration: configuration) { benchmark in
        let input = PreconditionInput(ifNoneMatch: FieldLines(etagBytes))
        for _ in benchmark.scaledIterations {
            blackHole(
                Preconditions.evaluate(
                    method: .get, input: input, currentETag: etagBytes, lastModified: Int(etagIdentity.modified.seconds),
                    now: now))
        }
    }

    // 8. Everything above for one request, as the handler chains it (minus the open/fstat and the writev): parse
    //    the browser GET, prepare its path, look up its type, negotiate gzip, get the cached gzip body, evaluate
    //    If-None-Match against the gzip tag (no match: the client holds the identity tag) and render the 200 head.

    Benchmark("Hot path: browser GET -> gzip 200 head (no I/O)", configuration: configuration) { benchmark in
        var parser = RequestParser()
        var dates = DateCache()
        let lastModifiedDates = HTTPDateMemo()
        let etag = ETag(metadataOf: etagIdentity).gzipped
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            guard case .head(let request) = parser.parse(browser),
                case .path(let prepared) = resolver.prepare(request.path.bytes(in: browser), scratch: scratch)
            else { fatalError("hot path: request rejected") }
            let name = UnsafeRawBufferPointer(rebasing: scratch[0..<prepared.length])

            var accept = AcceptEncoding()
            parser.forEachValue(of: .acceptEncoding) { accept.add($0.bytes(in: browser)) }
            let available: CodingSet = mime.isCompressible(forPath: name) ? [.identity, .gzip] : [.identity]
            guard accept.choose(from: available) == .gzip, let gzipBody = cache.get(hitKey, coding: .gzip) else {
                fatalError("hot path: expected a cached gzip body")
            }

            var input = PreconditionInput()
            parser.forEachValue(of: .ifNoneMatch) { input.ifNoneMatch.append($0.bytes(in: browser)) }
            let outcome = etag.withRendered { tag in
                Preconditions.evaluate(
                    method: request.method, input: input, currentETag: tag,
                    lastModified: Int(etagIdentity.modified.seconds), now: now)
            }
            guard outcome == .proceed else { fatalError("hot path: expected 200") }

            var head = ResponseHead(status: .ok, contentLength: gzipBody.count)
            head.contentType = mime.contentType(forPath: name)
            head.contentEncoding = .gzip
            head.lastModified = Int(etagIdentity.modified.seconds)
            head.etag = etag
            head.vary = .acceptEncoding
            head.cacheControl = cacheControlValue
            head.serverTiming = .hit
            head.connection = request.keepAlive ? .none : .close
            let dateBytes = dates.bytes(at: now)
            let lastModifiedText = head.lastModified.map { lastModifiedDates.bytes($0) }
            var writer = ByteWriter(output)
            head.render(into: &writer, date: dateBytes, lastModifiedText: lastModifiedText)
            blackHole(writer.count)
            blackHole(gzipBody)
        }
        benchmark.stopMeasurement()
    }
}
