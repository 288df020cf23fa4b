import SwerveEngine
import SwerveHTTP
import SwerveHTTP2

/// HTTP/2 (RFC 9113) on the same pipeline as HTTP/1.1. nghttp2 does the framing, HPACK and flow control; each
/// request is handed to the HTTP/1.1 parser and planner as an HTTP/1.1 head (`HTTP1Translation`), answered into a
/// `StagedOutput`, and its head re-encoded as HTTP/2 fields, so every response field is the one HTTP/1.1 gets. The
/// body then leaves in DATA frames straight from where it lives: a cached compressed body or a file range (for
/// `sendfile`), never through nghttp2's buffers or a Swift array.
extension HTTPHandler {
    /// The connection's first bytes: an HTTP/2 client preface switches it to HTTP/2 (prior knowledge in the clear,
    /// or after ALPN `h2`); nil when they are HTTP/1.1.
    func startHTTP2IfPreface(
        _ input: UnsafeRawBufferPointer, state: inout HTTPConnectionState, output: inout OutputWriter, context: ProcessContext
    ) -> ProcessOutcome? {
        switch HTTP2ServerSession.matchPreface(input) {
        case .different:
            return nil
        case .partial:
            return .needInput(consumed: 0, midMessage: true)
        case .complete:
            state.http2 = true
            http2Connections[context.connectionID] = HTTP2Connection(limits: HTTP2ServerSession.Limits(), blocks: requestBlocks)
            return processHTTP2(input, output: &output, context: context)
        }
    }

    /// One run of an HTTP/2 connection: reads every frame in `input`, answers the requests that are complete (and
    /// those that waited for work off the loop), then writes what fits of the frames that are ready.
    func processHTTP2(_ input: UnsafeRawBufferPointer, output: inout OutputWriter, context: ProcessContext) -> ProcessOutcome {
        guard let connection = http2Connections[context.connectionID] else { return .close(consumed: input.count, lingering: false) }
        let session = connection.session
        if !input.isEmpty { session.receive(input, now: context.monotonicMilliseconds) }
        session.takeRequests { request in
            let key = takeStreamKey()
            if let spare = spareStreams.popLast() {
                spare.reuse(taking: &request, key: key)
                connection.waiting.append(spare)
            } else {
                connection.waiting.append(HTTP2Stream(taking: &request, key: key, resumed: ResumeFlag()))
            }
        }
        dropClosedStreams(connection)
        // One copy of the context for all the streams asked (a copy retains its resumer's references), each stream's
        // own facts set in it as it is asked.
        var streamContext = context
        var index = 0
        while index < connection.waiting.count {
            guard ask(connection.waiting[index], on: connection, context: &streamContext) else {
                index += 1
                continue
            }
            // Answered: the waiting list held the only reference, unless a compressed body still streams from it.
            var stream = connection.waiting.remove(at: index)
            recycle(&stream)
        }
        if (context.draining || context.idleExpired) && !connection.goingAway {
            // RFC 9113 §6.8: "A server that is attempting to gracefully shut down a connection SHOULD send an initial
            // GOAWAY frame with the last stream identifier set to 2^31-1 and a NO_ERROR code." nghttp2 names the
            // last stream it processed instead, which tells the client at once which requests to retry elsewhere.
            // The same on the idle timeout, §9.1: "When either endpoint chooses to close the transport-layer TCP
            // connection, the terminating endpoint SHOULD first send a GOAWAY (Section 6.8) frame".
            connection.goingAway = true
            session.goAway()
        }
        var sent = send(connection, output: &output)
        // Pieces of compressed streams that came in, and those whose body just went out: then send again.
        if !connection.streamed.isEmpty && continueStreams(connection, context: context) && sent == .idle {
            sent = send(connection, output: &output)
        }
        dropClosedStreams(connection)
        // Bodies still waiting (for flow control, as long as the client likes) keep only what they need, not a
        // 32 KiB buffer each; those that went out at once never pay for the copy.
        for (id, body) in connection.bodies where body.isFullSize && connection.streamed[id] == nil { body.compact() }
        if sent == .failed || session.failure != nil {
            // The client broke the protocol and may still be sending: linger, so it reads the GOAWAY, not a reset.
            return .close(consumed: input.count, lingering: true)
        }
        // Done after a GOAWAY: linger too, so frames the client sends meanwhile (an ACK, a WINDOW_UPDATE) are read
        // and dropped instead of turning the close into a reset that could destroy the GOAWAY before it is read.
        if session.isFinished || context.idleExpired { return .close(consumed: input.count, lingering: true) }
        if sent == .blocked { return .outputFull(consumed: input.count) }
        // While draining, a stream still owed keeps the connection from closing when its output drains; otherwise
        // the idle timeout runs whenever nothing is queued (a client that leaves a zero window open, say).
        return .needInput(consumed: input.count, midMessage: context.draining && connection.hasStreamsInFlight)
    }

    /// Answers `stream` if it is due; true when it is answered. A stream is asked once when it arrives, then again
    /// only when its own work finished (or its wait ran out): the connection runs for every frame, and asking on each
    /// would count a compression attempt per WINDOW_UPDATE.
    private func ask(_ stream: HTTP2Stream, on connection: HTTP2Connection, context: inout ProcessContext) -> Bool {
        let due = stream.waitingSince == 0 || stream.resumed.take()
            || context.monotonicMilliseconds - stream.waitingSince >= HTTP2Stream.waitLimitMilliseconds
        return due && answer(stream, on: connection, context: &context)
    }


    /// HTTP/2 streams kept for reuse, each with its resume flag: up to this many per loop (a stream object and a
    /// flag per request were two mallocs and two frees).
    static let spareStreamsKept = 128

    /// An answered stream, back to the loop's spares with its resume flag (lowered) and its request's block storage.
    /// Not while anything else holds the stream (a compressed body's stream, in `HTTP2Connection.streamed`, raises
    /// its flag until its last piece) or the flag (a worker still holding a resumer made with it could raise it later,
    /// for a stream it no longer belongs to): then both are left to be freed.
    private func recycle(_ stream: inout HTTP2Stream) {
        guard spareStreams.count < Self.spareStreamsKept, isKnownUniquelyReferenced(&stream),
              isKnownUniquelyReferenced(&stream.resumed) else { return }
        _ = stream.resumed.take()
        stream.recycleRequest(into: requestBlocks)
        spareStreams.append(stream)
    }

    /// An id for a stream's side-table entries: negative, unique among the loop's live streams.
    private func takeStreamKey() -> Int32 {
        nextStreamKey = nextStreamKey == Int32.min ? -1 : nextStreamKey - 1
        return nextStreamKey
    }

    /// Forgets the streams nghttp2 closed (answered, or reset by the client): their bodies are not sent, their
    /// listing jobs are not waited for, their records end with what was sent.
    private func dropClosedStreams(_ connection: HTTP2Connection) {
        connection.session.takeClosedStreams { id in
            if let body = connection.bodies.removeValue(forKey: id) {
                body.abandonMarks { reportMark($0, unsentBytes: $1) }
            }
            if let stream = connection.streamed.removeValue(forKey: id) { endStream(stream) }
            connection.waiting.removeAll { stream in
                guard stream.request.streamID == id else { return false }
                listings[stream.key] = nil
                return true
            }
        }
    }

    /// Everything an HTTP/2 connection leaves behind when it closes.
    func closeHTTP2(id: Int32) {
        guard let connection = http2Connections.removeValue(forKey: id) else { return }
        for (_, body) in connection.bodies {
            body.abandonMarks { reportMark($0, unsentBytes: $1) }
        }
        for (_, stream) in connection.streamed { endStream(stream) }
        for stream in connection.waiting { listings[stream.key] = nil }
    }

    /// Runs one stream through the pipeline. True when it is answered (its response submitted to the session); false
    /// when it waits for work off the loop (the connection's resumer runs the connection again when that is done).
    /// `context` is the connection's, made the stream's here (its key for the connection id, its resume flag).
    private func answer(_ stream: HTTP2Stream, on connection: HTTP2Connection, context: inout ProcessContext) -> Bool {
        context.connectionID = stream.key
        context.resumer.raiseAlso(stream.resumed)
        context.waitExpired = stream.waitingSince != 0
            && context.monotonicMilliseconds - stream.waitingSince >= HTTP2Stream.waitLimitMilliseconds
        let staged = stagedOutputs.popLast() ?? StagedOutput()
        let answer = stream.withRequest { request in
            staged.write { output in answerStream(stream, request, output: &output, context: context) }
        }
        // The flag is the stream's alone again (what it waits for holds a resumer of its own), so that an answered
        // stream can be reused (`recycle`).
        context.resumer.raiseNone()
        if answer == .suspend {
            stream.state.waitedForCompression = true
            if stream.waitingSince == 0 { stream.waitingSince = context.monotonicMilliseconds }
            recycle(staged)
            return false
        }
        // The head `writeHead` rendered first, then the body; a compressed stream's pieces come later (`continueStreams`).
        let streamed = answer == .streaming
        let bodyLength: Int? = streamed ? nil : staged.count - lastHead.bytes
        let submitted = staged.consumeBytes(lastHead.bytes) { head in
            connection.session.respond(streamID: stream.request.streamID, http1Head: head, bodyLength: bodyLength)
        }
        // The head is ours, rendered by ResponseHead: it always parses.
        precondition(submitted, "a rendered response head did not parse")
        if streamed {
            connection.bodies[stream.request.streamID] = staged
            connection.streamed[stream.request.streamID] = stream
        } else if staged.count > 0 {
            connection.bodies[stream.request.streamID] = staged
        } else {
            staged.passMarks { connection.marksAfterFrames.append($0) }
            recycle(staged)
        }
        return true
    }

    /// Staged outputs kept for reuse: up to this many per loop (each holds a 32 KiB buffer), so a burst of streams
    /// does not cost a malloc, page faults and a free of 32 KiB apiece.
    static let stagedOutputsKept = 16

    /// A staged output whose bytes are all gone, back to the loop's spares.
    func recycle(_ staged: StagedOutput) {
        guard staged.isFullSize, stagedOutputs.count < Self.stagedOutputsKept else { return }
        staged.reset()
        stagedOutputs.append(staged)
    }

    /// The stream's request through the HTTP/1.1 pipeline into `output`.
    private func answerStream(
        _ stream: HTTP2Stream, _ request: borrowing HTTP2ServerSession.Request, output: inout OutputWriter, context: ProcessContext
    ) -> Answer {
        let now = context.wallClockSeconds
        let isHead = request.methodIs("HEAD")
        // The request as an HTTP/1.1 head, read where the session wrote it.
        let answered = request.withHTTP1Head { bytes, headLength -> Answer in
            let version = headLength..<bytes.count
            if observer != nil && stream.state.requestStarted == 0 { stream.state.requestStarted = ResponseObserver.now() }
            // Nothing to record: a head answered before (`AnswerMemo`) needs no parse. It parsed then, and the same
            // bytes parse the same; its Connection field and body are the stream's.
            if observer == nil && isMemoizable(state: stream.state, context: context) && replayAnswer(
                UnsafeRawBufferPointer(rebasing: bytes[0..<headLength]), connection: .none, hasBody: request.hadBody,
                output: &output, context: context) {
                return .done
            }
            switch parser.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<headLength])) {
            case .head(let parsed):
                let answer = respond(
                    to: parsed, in: bytes, connection: .none, hasBody: request.hadBody, state: &stream.state,
                    output: &output, context: context)
                if answer == .suspend { return .suspend }
                recordResponse(bytes, head: parsed, queuedFrom: 0, state: &stream.state, output: &output, context: context,
                               streaming: answer == .streaming, version: version)
                return answer
            case .error(let error):
                writeError(error.status, isHead: isHead, connection: .none, output: &output, now: now)
                recordResponse(bytes, head: nil, queuedFrom: 0, state: &stream.state, output: &output, context: context,
                               streaming: false, version: version)
                return .done
            case .incomplete:
                // The session always ends the head with a blank line; a head the parser still finds incomplete is one
                // it cannot take (none is known), answered as malformed.
                writeError(.badRequest, isHead: isHead, connection: .none, output: &output, now: now)
                recordResponse(bytes, head: nil, queuedFrom: 0, state: &stream.state, output: &output, context: context,
                               streaming: false, version: version)
                return .done
            }
        }
        if let answered { return answered }
        // RFC 6585 §5 for a header list over the limit (its fields were dropped as they came); 400 for a request that
        // cannot be an HTTP/1.1 head.
        writeError(request.headerListTooLarge ? .requestHeaderFieldsTooLarge : .badRequest, isHead: isHead,
                   connection: .none, output: &output, now: now)
        if observer != nil {
            // The log line shows what the client sent, as far as it can be shown.
            var line = Array(request.method)
            line.append(0x20)
            line += request.path
            line.append(0x20)
            HTTP1Translation.logVersion.withUTF8Buffer { line += $0 }
            line.withUnsafeBytes { line in
                recordResponse(line, head: nil, queuedFrom: 0, state: &stream.state, output: &output, context: context, streaming: false)
            }
        }
        return .done
    }

    /// Compressed input a compressed stream may have ahead of what its client took: one piece is compressed while the
    /// last is sent, and none while this much waits (a slow reader or a closed window holds one stream's memory to
    /// about two pieces, `CompressionStream.pieceInput` of input each).
    static let streamAheadBytes = CompressionStream.pieceInput

    /// Moves the pieces of the connection's compressed streams into their bodies as they are compressed, and starts the
    /// next while little of the body waits. True when a body grew (there is more to send).
    private func continueStreams(_ connection: HTTP2Connection, context: ProcessContext) -> Bool {
        var grew = false
        for (id, stream) in connection.streamed {
            guard let body = connection.bodies[id], let gzip = streams[stream.key], gzip.isIdle() else { continue }
            if gzip.failed {
                // The file shrank or zlib failed: the body cannot be completed honestly.
                connection.session.reset(streamID: id)
                connection.streamed[id] = nil
                endStream(stream)
                continue
            }
            if let piece = gzip.takePiece() {
                if body.count == 0 { body.reset() }
                // A segment for the piece and one for the record's mark.
                guard body.freeSegments >= 2 else {
                    // Its pieces wait for the client: keep this one until some went out.
                    gzip.putBack(piece)
                    continue
                }
                let finished = gzip.finished
                body.write { output in
                    output.appendExternal(piece.bytes, owner: piece)
                    if let observer, stream.state.hasStreamRecord {
                        observer.records[stream.state.streamRecord].queuedBytes += piece.count
                        if finished {
                            // The record ends when the last byte is out (or with what was sent, if the stream ends first).
                            stream.state.hasStreamRecord = false
                            output.appendMark(stream.state.streamRecord)
                        }
                    }
                }
                connection.session.extendBody(streamID: id, by: piece.count, complete: finished)
                grew = true
                if finished {
                    streams[stream.key] = nil
                    connection.streamed[id] = nil
                    continue
                }
            }
            if !gzip.finished && body.count < Self.streamAheadBytes {
                var streamContext = context
                streamContext.connectionID = stream.key
                streamContext.resumer = context.resumer.raising(stream.resumed)
                submitPiece(gzip, context: streamContext)
            }
        }
        return grew
    }

    /// A stream whose gzip body had not ended is gone (reset by either side, or its connection closed): the gzip
    /// stream goes, and its record ends with what was queued.
    private func endStream(_ stream: HTTP2Stream) {
        streams[stream.key] = nil
        guard stream.state.hasStreamRecord, let observer else { return }
        stream.state.hasStreamRecord = false
        // What its pieces carried is not known per frame here: the record is finished with what was queued.
        let record = observer.records[stream.state.streamRecord]
        observer.finish(stream.state.streamRecord, bodyBytes: max(0, record.queuedBytes - record.headBytes))
    }

    /// Writes into `output` what fits of the frames ready to go: frames held back last time first, then the
    /// session's, each DATA frame's body moved from its stream's staged output.
    private func send(_ connection: HTTP2Connection, output: inout OutputWriter) -> HTTP2ServerSession.SendOutcome {
        if !connection.heldFrames.isEmpty {
            let n = min(connection.heldFrames.count, output.freeBytes)
            guard n > 0, output.freeSegments > 0 else { return .blocked }
            connection.heldFrames.withUnsafeBytes { output.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            connection.heldFrames.removeFirst(n)
            if !connection.heldFrames.isEmpty { return .blocked }
        }
        let outcome = connection.session.send(frames: { frame in
            if connection.heldFrames.isEmpty && frame.count <= output.freeBytes && output.freeSegments > 0 {
                output.append(frame)
                return true
            }
            // Frame bytes are valid only during this call: keep them, and stop until the output drains.
            connection.heldFrames.append(contentsOf: frame)
            return false
        }, data: { header, id, length in
            guard connection.heldFrames.isEmpty else { return false }
            guard let body = connection.bodies[id] else {
                preconditionFailure("DATA asked for stream \(id), which has no body")
            }
            let room = body.room(for: length)
            // The frame header, the copied bytes, a segment per piece (the header may need its own), a mark.
            guard output.freeBytes >= 9 + room.bytes, output.freeSegments >= room.segments + 1, output.freeMarks >= 1 else {
                return false
            }
            output.append(header)
            body.move(length, into: &output)
            if body.count == 0 && connection.streamed[id] == nil {
                connection.bodies[id] = nil
                recycle(body)
            }
            return true
        })
        // After the HEADERS frames they follow (unless those are still held back).
        while connection.heldFrames.isEmpty, let mark = connection.marksAfterFrames.first, output.freeMarks > 0 {
            output.appendMark(mark)
            connection.marksAfterFrames.removeFirst()
        }
        return outcome
    }
}
