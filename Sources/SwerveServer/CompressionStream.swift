import Glibc
import SwerveCompression
import SwerveFiles
import SwerveHTTP
import Synchronization

/// A compressed response (gzip, br or zstd) streamed in pieces: for a compressible file larger than the cache's
/// entry limit, or not yet settled, or with the cache off. Sent with chunked transfer-coding (HTTP/1.1) or as DATA
/// frames of unknown total (HTTP/2), never whole in memory and never cached.
///
/// Ownership alternates, which is what makes `@unchecked Sendable` sound here: while a piece job is queued or
/// running (`inFlight`), only the worker touches the stream; the worker publishes the piece with a releasing store
/// of `ready`, and the loop touches the stream again only after an acquiring load saw it – not merely because the
/// connection was resumed (a resume can come from elsewhere: an expired wait, an earlier job of the same
/// connection), so a second job can never run beside the first.
final class CompressionStream: @unchecked Sendable {
    /// Input read and compressed per piece. 64 KiB of text compresses in well under a millisecond at gzip 6, brotli 5
    /// or zstd 3, so a worker is never tied up long, and a piece plus its output stays far below any buffer bound.
    static let pieceInput = 64 * 1024

    let fd: Int32
    let size: Int
    let coding: ContentCoding
    private let encoder: any StreamEncoder
    private var offset = 0
    private let input: UnsafeMutableRawBufferPointer
    private let scratch: UnsafeMutableRawBufferPointer
    /// The compressed output of the last piece, taken by the loop.
    private(set) var piece: CompressedBody?
    private(set) var finished = false
    private(set) var failed = false
    /// Loop side: a piece job was submitted and its piece not yet taken.
    private(set) var inFlight = false
    /// Set by the worker when the submitted job is done (its piece, `finished` and `failed` are written).
    private let ready = Atomic<Bool>(false)

    /// Takes ownership of `fd`, unless it throws (no encoder for the coding: the caller keeps `fd`).
    init(fd: Int32, size: Int, coding: ContentCoding, levels: CompressionLevels) throws(CompressionError) {
        encoder = try levels.streamEncoder(for: coding, size: size)
        self.fd = fd
        self.size = size
        self.coding = coding
        input = .allocate(byteCount: Self.pieceInput, alignment: 16)
        scratch = .allocate(byteCount: 32 * 1024, alignment: 16)
    }

    deinit {
        Glibc.close(fd)
        input.deallocate()
        scratch.deallocate()
    }

    /// Worker side: reads and compresses the next piece (the last one carries the coding's trailer).
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

    /// Loop side: marks a job as submitted; the job calls `produceNext` and then `publish`.
    func submitted() {
        inFlight = true
    }

    /// Worker side, after `produceNext`: hands the stream back to the loop.
    func publish() {
        ready.store(true, ordering: .releasing)
    }

    /// Loop side: whether the submitted job is done (then the loop owns the stream again), or none is in flight.
    func isIdle() -> Bool {
        guard inFlight else { return true }
        guard ready.load(ordering: .acquiring) else { return false }
        ready.store(false, ordering: .relaxed)
        inFlight = false
        return true
    }

    /// Loop side, once `isIdle()`: the piece produced by the last job, handed over once.
    func takePiece() -> CompressedBody? {
        defer { piece = nil }
        return piece
    }

    /// Loop side: a piece taken that could not be used yet, kept for the next `takePiece`.
    func putBack(_ taken: CompressedBody) {
        piece = taken
    }
}
