import Glibc
import SwerveCompression

/// A gzip response streamed in pieces: for a compressible file larger than the cache's entry limit, sent with
/// chunked transfer-coding, never whole in memory and never cached.
///
/// Ownership alternates, which is what makes `@unchecked Sendable` sound here: while a piece job is queued or
/// running, only the worker touches the stream; the worker then resumes the connection, and from then until the
/// next `produceNext` is submitted only the connection's loop does. The handoff goes through the worker pool's
/// lock and the loop mailbox's lock, which order the memory accesses.
final class GzipStream: @unchecked Sendable {
    /// Input read and compressed per piece. 64 KiB of text compresses in well under a millisecond at level 6, so
    /// a worker is never tied up long, and a piece plus its output stays far below any buffer bound.
    static let pieceInput = 64 * 1024

    let fd: Int32
    let size: Int
    private let encoder: GzipEncoder
    private var offset = 0
    private let input: UnsafeMutableRawBufferPointer
    private let scratch: UnsafeMutableRawBufferPointer
    /// The compressed output of the last piece, taken by the loop.
    private(set) var piece: CompressedBody?
    private(set) var finished = false
    private(set) var failed = false
    /// A piece job is queued or running.
    var busy = false

    /// Takes ownership of `fd`.
    init(fd: Int32, size: Int, level: Int32) throws {
        self.fd = fd
        self.size = size
        encoder = try GzipEncoder(level: level)
        input = .allocate(byteCount: Self.pieceInput, alignment: 16)
        scratch = .allocate(byteCount: 32 * 1024, alignment: 16)
    }

    deinit {
        Glibc.close(fd)
        input.deallocate()
        scratch.deallocate()
    }

    /// Worker side: reads and compresses the next piece (the last one carries the gzip trailer).
    func produceNext() {
        var output: [UInt8] = []
        output.reserveCapacity(Self.pieceInput / 2)
        let got = min(Self.pieceInput, size - offset)
        guard readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: input[0..<got]), at: offset) else {
            // The file shrank while streaming: the response cannot be completed honestly.
            failed = true
            return
        }
        offset += got
        let last = offset >= size
        do {
            try encoder.stream(UnsafeRawBufferPointer(rebasing: input[0..<got]), finish: last, scratch: scratch) { produced in
                output.append(contentsOf: produced)
            }
        } catch {
            failed = true
            return
        }
        finished = last
        piece = CompressedBody(taking: output, identityLength: got, compressNanoseconds: 0)
    }

    /// Loop side: the piece produced by the last job, handed over once.
    func takePiece() -> CompressedBody? {
        defer { piece = nil }
        return piece
    }
}
