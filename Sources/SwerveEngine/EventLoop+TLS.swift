import Glibc
import SwerveTLS

/// TLS on the event loop: the non-blocking handshake, reading and writing through OpenSSL, and the close. The
/// plain-TCP path is untouched but for one test of `Slot.tls` per read and per flush.
///
/// Edge triggering under TLS: OpenSSL reads the socket for the records it needs, so a decrypted read that returns
/// fewer bytes than asked says nothing about the socket (a record may be short). A connection is therefore read until
/// OpenSSL reports `wantRead` — its socket read hit EAGAIN, so the next arrival raises a new edge — or, with Swerve's
/// own read BIO (`TLSConnection.receivedAll`), until a `read` of this drain came back short and OpenSSL holds none
/// of its bytes, which saves the EAGAIN `read` as plain TCP does (and, as there, not when the peer's FIN came). Bytes
/// OpenSSL holds decrypted but undelivered (a record longer than the space offered) are delivered by the next read,
/// which every path that stops reading (a full output, a suspend) makes when it resumes, as it does for plain TCP.
///
/// Writing: memory segments go out through `SSL_write` (a head and a small body gathered into one record), file
/// segments either with `SSL_sendfile` when the kernel took over the connection's encryption (kTLS) or through a
/// bounded `pread` into the loop's `tlsScratch` and `SSL_write`. Without kTLS the records go into the connection's
/// send buffer and leave in one `write` per flush. A write that returns `wantWrite` leaves its bytes queued, and the
/// retry passes the same bytes again (OpenSSL requires it; the queue only grows at its tail).
extension EventLoop {
    /// Advances a connection's handshake. Once complete, the header timeout starts and whatever request came with
    /// the client's last flight is read.
    func continueHandshake(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) {
        guard let tls = slot.pointee.tls else { return }
        let step = tls.handshake()
        switch step {
        case .done:
            slot.pointee.kernelTLS = tls.kernelSends
            counters.countHandshake(kernelTLS: slot.pointee.kernelTLS)
            slot.pointee.timer = .header
            slot.pointee.deadline = now + headerTimeoutMS
            // A request and a FIN that came with the last flight are already in OpenSSL's buffer or the socket:
            // `readTLS` starts a drain, so it reads on past them to a short read of its own.
            onReadable(fd, slot)
        case .wantRead:
            return
        case .wantWrite:
            _ = watchWritable(fd, slot)
        case .closed:
            counters.countHandshakeFailure()
            slot.pointee.tlsFailed = true
            close(fd)
        case .failed, .plaintextRequest:
            // A client that refused the certificate, offered nothing acceptable, or is not speaking TLS at all:
            // OpenSSL has sent its alert where one applies. The socket closes lingering, so what the client sent
            // after its first bytes is read and dropped rather than answered with a reset that could destroy the
            // alert (or the reply below) before the client reads it.
            counters.countHandshakeFailure()
            slot.pointee.tlsFailed = true
            if case .plaintextRequest = step, let reply = configuration.plaintextReply?(wallClock) {
                // Best effort, one write into an empty send buffer (a reply of a few hundred bytes fits whole).
                _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            startLingering(fd, slot)
        }
    }

    /// Reads and decrypts until OpenSSL has no more for now, running the handler after each piece (the plain path's
    /// `onReadable`, which has checked that reading is allowed). With `hangup` (EPOLLRDHUP came with the data) it
    /// reads on past a drained socket to OpenSSL's `wantRead` or the end, as the plain path does.
    func readTLS(_ fd: Int32, _ slot: UnsafeMutablePointer<Slot>, _ tls: TLSConnection, hangup: Bool) {
        tls.startDrain()
        while true {
            guard let (free, space) = inputSpace(fd, slot) else { return }
            let have = Int(slot.pointee.inputLength)
            switch tls.read(into: free, count: space) {
            case .done(let n):
                slot.pointee.inputLength = Int32(have + n)
                guard runHandler(fd, slot) else { return }
                if hangup || !tls.receivedAll { continue }
            case .wantRead:
                break
            case .wantWrite:
                slot.pointee.tlsReadWantsWrite = true
                guard watchWritable(fd, slot) else { return }
            case .closed:
                // The client sent close_notify or its FIN: as a plain EOF.
                peerFinished(fd, slot)
                return
            case .failed, .plaintextRequest:
                slot.pointee.tlsFailed = true
                close(fd)
                return
            }
            break
        }
        releaseInputIfEmpty(slot)
    }

    /// Plaintext bytes of a file read with one `pread` for TLS: four records (TLS's largest record, RFC 8446 §5.1,
    /// holds 2^14 bytes), the size of the loop's `tlsScratch`. With buffered sends their ciphertext leaves in one
    /// `write`. Against one record per `pread` + `write`, 10 MiB at 35% of a core: see docs/PERFORMANCE.md (HTTPS).
    static var tlsChunk: Int { 64 * 1024 }

    /// `flush` for a TLS connection: the same contract as `writePlain`. Records are encrypted into the connection's
    /// send buffer and written once at the end (`TLSConnection.flushSends`); ciphertext the socket did not take
    /// keeps the connection pending, so it is never closed or reported drained with bytes unsent.
    func writeTLS(
        _ fd: Int32, _ slot: UnsafeMutablePointer<Slot>, _ out: UnsafeMutablePointer<OutputBuffer>, _ tls: TLSConnection,
        progressed: inout Bool
    ) -> FlushResult {
        let result = encryptQueued(fd, slot, out, tls, progressed: &progressed)
        if result == .closed { return .closed }
        switch tls.flushSends() {
        case .done: return result
        case .wantWrite: return .pending
        default:
            slot.pointee.tlsFailed = true
            close(fd)
            return .closed
        }
    }

    /// Hands the queued output to OpenSSL: `.drained` when all of it was taken, `.pending` when the socket (through
    /// a full send buffer) or the connection's turn stopped it, `.closed` when the connection failed.
    private func encryptQueued(
        _ fd: Int32, _ slot: UnsafeMutablePointer<Slot>, _ out: UnsafeMutablePointer<OutputBuffer>, _ tls: TLSConnection,
        progressed: inout Bool
    ) -> FlushResult {
        var turnLeft = Self.fileBytesPerTurn
        while out.pointee.head < out.pointee.tail {
            let first = out.pointee.segments[out.pointee.head]
            // Plaintext to hand over, and how much of it OpenSSL took.
            let plaintext: UnsafeRawPointer
            let count: Int
            // File bytes among `count` (for the connection's turn).
            var fileBytes = 0
            // A cached body's memfd is mapped: without kernel TLS its bytes are copied from memory, as a body's.
            let inMemory = first.isFile && slot.pointee.kernelTLS ? nil : out.pointee.bytesInMemory(of: first)
            if first.isFile && inMemory == nil {
                // As on plain TCP: the other ready connections get their turn first.
                if turnLeft == 0 { return yieldTurn(fd, slot) }
                if slot.pointee.kernelTLS {
                    switch tls.sendFile(first.fd, offset: first.offset, count: min(first.length, turnLeft)) {
                    case .done(let n):
                        progressed = true
                        turnLeft -= n
                        out.pointee.written(n)
                        continue
                    case let step:
                        return stopped(step, fd, slot)
                    }
                }
            }
            if let inMemory, first.length >= Self.tlsChunk {
                // A large body in memory: OpenSSL reads it in place.
                plaintext = inMemory
                count = first.length
            } else {
                // A head, a small body, several pipelined responses, HTTP/2 frames (a 9-byte header, then up to 16 KiB
                // of a file or a cached body): gathered, memory copied and file pieces read, so they share records.
                // A large file range is one `tlsChunk` read of it.
                // Before file pieces were gathered too, each HTTP/2 DATA frame's 9-byte header was a record and an
                // `SSL_write` of its own (HTTP/2 cached gzip at 35% of a core: ×1.125 with the gathering).
                guard let gathered = out.pointee.gather(
                    into: tlsScratch, capacity: Self.tlsChunk, fileBytesLeft: turnLeft, readFiles: !slot.pointee.kernelTLS) else {
                    // The file shrank under us (or cannot be read): the promised length cannot be delivered.
                    close(fd)
                    return .closed
                }
                plaintext = UnsafeRawPointer(tlsScratch)
                count = gathered.count
                fileBytes = gathered.fileBytes
            }
            // OpenSSL takes a record at a time (SSL_MODE_ENABLE_PARTIAL_WRITE): write until all is taken or it stops.
            var taken = 0
            var stopped: TLSConnection.Step?
            while taken < count {
                let step = tls.write(plaintext + taken, count: count - taken)
                guard case .done(let n) = step else {
                    stopped = step
                    break
                }
                taken += n
            }
            if taken > 0 {
                progressed = true
                turnLeft -= min(taken, fileBytes)
                out.pointee.written(taken)
            }
            if let stopped { return self.stopped(stopped, fd, slot) }
        }
        return .drained
    }

    /// What a write that OpenSSL did not complete means for the flush: wait for writable (or, for `wantRead`,
    /// readable), or the connection failed and is closed.
    private func stopped(_ step: TLSConnection.Step, _ fd: Int32, _ slot: UnsafeMutablePointer<Slot>) -> FlushResult {
        switch step {
        case .done, .wantWrite:
            return .pending
        case .wantRead:
            slot.pointee.tlsWriteWantsRead = true
            return .pending
        case .closed, .failed, .plaintextRequest:
            slot.pointee.tlsFailed = true
            close(fd)
            return .closed
        }
    }

    /// Sends close_notify (unless OpenSSL failed or the handshake never finished) and frees the connection's TLS
    /// state. Called once the connection closes or starts lingering; the socket itself is closed by the caller.
    func releaseTLS(_ slot: UnsafeMutablePointer<Slot>) {
        guard let tls = slot.pointee.tls else { return }
        if !slot.pointee.tlsFailed { tls.shutdown() }
        tls.free()
        slot.pointee.tls = nil
    }
}
