import Glibc
import Testing

@testable import SwerveEngine

/// `StagedOutput`: a response written away from a socket (an HTTP/2 stream's), then moved into a connection's output
/// in pieces without copying what was not copied before.
@Suite("Staged output")
struct StagedOutputTests {
    final class Owner {}

    /// Drains a connection buffer's segments into bytes, as a writer would send them (files read with pread).
    static func bytes(of buffer: UnsafeMutablePointer<OutputBuffer>) -> [UInt8] {
        var out: [UInt8] = []
        for i in buffer.pointee.head..<buffer.pointee.tail {
            let segment = buffer.pointee.segments[i]
            if segment.isFile {
                var chunk = [UInt8](repeating: 0, count: segment.length)
                let n = chunk.withUnsafeMutableBytes { pread(segment.fd, $0.baseAddress, segment.length, off_t(segment.offset)) }
                out += chunk[0..<max(0, n)]
            } else {
                out += UnsafeRawBufferPointer(start: buffer.pointee.memory(of: segment), count: segment.length)
            }
        }
        return out
    }

    @Test("head, inline bytes, external memory and a file range move out in any pieces, in order, after compact; the mark follows the last byte")
    func movesInPieces() throws {
        let path = "/tmp/swerve-staged-\(getpid()).bin"
        let fileBytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd); unlink(path) }
        _ = fileBytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let external: [UInt8] = Array("external-bytes".utf8)
        let owner = Owner()
        let staged = StagedOutput()
        external.withUnsafeBytes { external in
            staged.write { output in
                Array("HEAD\r\n\r\n".utf8).withUnsafeBytes { output.append($0) }
            }
            staged.write { output in
                Array("inline-".utf8).withUnsafeBytes { output.append($0) }
                output.appendExternal(external, owner: owner)
                output.appendFile(fd: fd, offset: 100, length: 3000, owner: owner)
                output.appendMark(7)
            }
        }
        let head = staged.consumeBytes(8) { Array($0) }
        #expect(head == Array("HEAD\r\n\r\n".utf8))
        staged.compact()
        #expect(!staged.isFullSize)
        let expected = Array("inline-".utf8) + external + Array(fileBytes[100..<3100])
        #expect(staged.count == expected.count)
        let connection = UnsafeMutablePointer<OutputBuffer>.allocate(capacity: 1)
        connection.initialize(to: OutputBuffer(capacity: 4096, segmentCapacity: 64))
        defer { connection.pointee.reset(); connection.pointee.free(); connection.deallocate() }
        var writer = OutputWriter(connection)
        for piece in [3, 10, 500, expected.count - 513] {
            let room = staged.room(for: piece)
            #expect(room.bytes <= piece && room.segments >= 1)
            #expect(connection.pointee.markTail == 0)
            staged.move(piece, into: &writer)
        }
        #expect(staged.count == 0)
        #expect(Self.bytes(of: connection) == expected)
        #expect(connection.pointee.markTail == 1 && connection.pointee.marks[0].value == 7)
        #expect(connection.pointee.marks[0].position == expected.count)
    }
}
