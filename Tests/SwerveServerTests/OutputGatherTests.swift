import Glibc
import Testing

@testable import SwerveEngine

/// `OutputBuffer.gather`: what TLS without kernel TLS copies into its scratch before encrypting. A cached body's
/// memfd is mapped, so its bytes are copied from the mapping, not read again with `pread` (HTTP/2 cached gzip at 35%
/// of a core: ×1.091); a file known only by its descriptor is read, within the turn's budget.
@Suite("Output gather for TLS")
struct OutputGatherTests {
    final class Owner {}

    /// A file whose bytes differ from the "mapping" given with it: which one lands in the scratch shows where the
    /// gather read from.
    struct Fixture: ~Copyable {
        let path = "/tmp/swerve-gather-\(getpid()).bin"
        let fd: Int32
        let connection = UnsafeMutablePointer<OutputBuffer>.allocate(capacity: 1)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)

        init() {
            fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            _ = Array(repeating: UInt8(ascii: "f"), count: 1000).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            connection.initialize(to: OutputBuffer(capacity: 4096, segmentCapacity: 16))
        }

        deinit {
            connection.pointee.reset()
            connection.pointee.free()
            connection.deallocate()
            scratch.deallocate()
            close(fd)
            unlink(path)
        }

        func gathered(_ result: (count: Int, fileBytes: Int)?) -> String {
            guard let result else { return "nil" }
            return String(decoding: UnsafeRawBufferPointer(start: scratch, count: result.count), as: UTF8.self)
        }
    }

    @Test("a mapped file's range is copied from its mapping, after a head, and counts as memory, not against the turn")
    func mappedFileFromMemory() {
        let fixture = Fixture()
        let mapping = Array(repeating: UInt8(ascii: "m"), count: 1000)
        let owner = Owner()
        var writer = OutputWriter(fixture.connection)
        mapping.withUnsafeBytes { mapping in
            Array("HEAD|".utf8).withUnsafeBytes { writer.append($0) }
            writer.appendFile(fd: fixture.fd, offset: 10, length: 6, owner: owner, mapping: mapping.baseAddress)
            Array("|TAIL".utf8).withUnsafeBytes { writer.append($0) }
            let result = fixture.connection.pointee.gather(into: fixture.scratch, capacity: 4096, fileBytesLeft: 0, readFiles: true)
            #expect(fixture.gathered(result) == "HEAD|mmmmmm|TAIL")
            #expect(result?.fileBytes == 0)
        }
    }

    @Test("an unmapped file is read with pread within the turn's budget; with kernel TLS the gather stops at any file")
    func unmappedFileAndKernelTLS() {
        let fixture = Fixture()
        let mapping = Array(repeating: UInt8(ascii: "m"), count: 1000)
        let owner = Owner()
        var writer = OutputWriter(fixture.connection)
        mapping.withUnsafeBytes { mapping in
            Array("A|".utf8).withUnsafeBytes { writer.append($0) }
            writer.appendFile(fd: fixture.fd, offset: 0, length: 8, owner: owner)
            Array("|B".utf8).withUnsafeBytes { writer.append($0) }
            let budgeted = fixture.connection.pointee.gather(into: fixture.scratch, capacity: 4096, fileBytesLeft: 5, readFiles: true)
            #expect(fixture.gathered(budgeted) == "A|fffff")
            #expect(budgeted?.fileBytes == 5)
            let whole = fixture.connection.pointee.gather(into: fixture.scratch, capacity: 4096, fileBytesLeft: 100, readFiles: true)
            #expect(fixture.gathered(whole) == "A|ffffffff|B")
            // Kernel TLS sends files itself (SSL_sendfile), mapped or not.
            fixture.connection.pointee.written(12)
            writer.appendFile(fd: fixture.fd, offset: 0, length: 8, owner: owner, mapping: mapping.baseAddress)
            let kernel = fixture.connection.pointee.gather(into: fixture.scratch, capacity: 4096, fileBytesLeft: 100, readFiles: false)
            #expect(fixture.gathered(kernel) == "")
        }
    }

    @Test("a mapped file keeps its mapping when an HTTP/2 body moves it into a connection in pieces")
    func mappingSurvivesStagedMove() {
        let fixture = Fixture()
        let mapping = Array("0123456789".utf8)
        let owner = Owner()
        let staged = StagedOutput()
        var writer = OutputWriter(fixture.connection)
        mapping.withUnsafeBytes { mapping in
            staged.write { $0.appendFile(fd: fixture.fd, offset: 2, length: 6, owner: owner, mapping: mapping.baseAddress) }
            staged.move(4, into: &writer)
            staged.move(2, into: &writer)
            let result = fixture.connection.pointee.gather(into: fixture.scratch, capacity: 4096, fileBytesLeft: 0, readFiles: true)
            #expect(fixture.gathered(result) == "234567")
        }
    }
}
