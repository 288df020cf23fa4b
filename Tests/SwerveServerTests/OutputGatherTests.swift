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
        /// What the "mapping" of the file holds: 1,000 bytes of "m" (the file holds "f").
        let mapping = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 16)
        let owner = Owner()

        init() {
            mapping.initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "m"))
            fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            _ = Array(repeating: UInt8(ascii: "f"), count: 1000).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            connection.initialize(to: OutputBuffer(capacity: 4096, segmentCapacity: 16))
        }

        deinit {
            connection.pointee.reset()
            connection.pointee.free()
            connection.deallocate()
            scratch.deallocate()
            mapping.deallocate()
            close(fd)
            unlink(path)
        }

        /// Queues `head`, `length` bytes of the file from `offset` (with the mapping or without), then `tail`.
        func queue(_ head: String, fileAt offset: Int, length: Int, mapped: Bool, _ tail: String) {
            let writer = OutputWriter(connection)
            Array(head.utf8).withUnsafeBytes { writer.append($0) }
            writer.appendFile(fd: fd, offset: offset, length: length, owner: owner, mapping: mapped ? UnsafeRawPointer(mapping.baseAddress) : nil)
            Array(tail.utf8).withUnsafeBytes { writer.append($0) }
        }

        /// The queue gathered into the scratch: what landed there, and how much of it was read from files.
        func gather(fileBytesLeft: Int, readFiles: Bool = true) -> (bytes: String, fileBytes: Int?) {
            let result = connection.pointee.gather(into: scratch, capacity: 4096, fileBytesLeft: fileBytesLeft, readFiles: readFiles)
            guard let result else { return ("nil", nil) }
            return (String(decoding: UnsafeRawBufferPointer(start: scratch, count: result.count), as: UTF8.self), result.fileBytes)
        }
    }

    @Test("a mapped file's range is copied from its mapping, after a head, and counts as memory, not against the turn")
    func mappedFileFromMemory() {
        let fixture = Fixture()
        fixture.queue("HEAD|", fileAt: 10, length: 6, mapped: true, "|TAIL")
        let result = fixture.gather(fileBytesLeft: 0)
        #expect(result.bytes == "HEAD|mmmmmm|TAIL" && result.fileBytes == 0)
    }

    @Test("an unmapped file is read with pread within the turn's budget; with kernel TLS the gather stops at any file")
    func unmappedFileAndKernelTLS() {
        let fixture = Fixture()
        fixture.queue("A|", fileAt: 0, length: 8, mapped: false, "|B")
        let budgeted = fixture.gather(fileBytesLeft: 5)
        #expect(budgeted.bytes == "A|fffff" && budgeted.fileBytes == 5)
        #expect(fixture.gather(fileBytesLeft: 100).bytes == "A|ffffffff|B")
        // Kernel TLS sends files itself (SSL_sendfile), mapped or not.
        fixture.connection.pointee.written(12)
        fixture.queue("", fileAt: 0, length: 8, mapped: true, "")
        #expect(fixture.gather(fileBytesLeft: 100, readFiles: false).bytes == "")
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
            #expect(fixture.gather(fileBytesLeft: 0).bytes == "234567")
        }
    }
}
