import CNghttp2
import Glibc

/// A response head translated for nghttp2, handed over without copies: the head's bytes in memory of its own (names
/// lowercased in place, RFC 9113 §8.2.1) and the nghttp2 field list pointing into them, every field flagged
/// `NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE`. (Without the flags, `nghttp2_submit_response`
/// copied every name and value and lowercased the names again: 4.5% of an HTTP/2 1 KiB request's samples.)
///
/// Invariant (nghttp2's contract for those flags): the bytes stay valid and unchanged until nghttp2 reports each
/// HEADERS frame made from them sent or not sent (`on_frame_send_callback`, `on_frame_not_send_callback`). nghttp2
/// reads them when it packs the frame, inside `HTTP2ServerSession.send`, which may come after later `respond`s. So
/// `unsent` counts the frames still owed, and the session rewrites the bytes (`fill`) only while it is 0; it frees
/// them (`deinit`) only once nghttp2's session, which holds the frames, is gone. A sent frame is matched to its fields
/// by where nghttp2's copy of the list points (`holds`).
///
/// The same object serves every response whose head is byte for byte the last one's (`source`): a page's assets, or
/// the same file again within the Date's second, go to nghttp2 for a memcmp, without being parsed again.
final class ResponseFields {
    /// The head as it came (for the byte-for-byte comparison).
    private(set) var source: [UInt8] = []
    /// The field list for nghttp2, ":status" first.
    private(set) var list: [nghttp2_nv] = []
    /// HEADERS frames submitted with `list` that nghttp2 has not yet reported sent or not sent.
    var unsent = 0
    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0
    private var ranges: [(name: Range<Int>, value: Range<Int>)] = []

    private static let statusName: StaticString = ":status"
    private static let flags = UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue)

    /// Whether `head` is byte for byte the head `list` was made from.
    func matches(_ head: UnsafeRawBufferPointer) -> Bool {
        guard !list.isEmpty, head.count == source.count, let base = head.baseAddress else { return false }
        return source.withUnsafeBytes { memcmp($0.baseAddress!, base, head.count) == 0 }
    }

    /// Whether `pointer` points into these fields' bytes (nghttp2's copy of the list keeps our pointers).
    func holds(_ pointer: UnsafePointer<UInt8>) -> Bool {
        guard let storage else { return false }
        let p = UnsafeRawPointer(pointer)
        return p >= UnsafeRawPointer(storage) && p < UnsafeRawPointer(storage) + capacity
    }

    /// `body` with the field list, as nghttp2's submit functions take it.
    func withList<Result>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> Result) -> Result {
        list.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
    }

    /// Makes `list` from `head`, a response head in HTTP/1.1's form (`HTTP1Translation.responseFields`). False (and
    /// the list emptied) when it is not one. Only while nothing is owed (`unsent == 0`): nghttp2 may still read the old
    /// bytes otherwise.
    func fill(_ head: UnsafeRawBufferPointer) -> Bool {
        precondition(unsent == 0, "response fields rewritten while nghttp2 may still read them")
        list.removeAll(keepingCapacity: true)
        source.removeAll(keepingCapacity: true)
        guard let from = head.baseAddress, !head.isEmpty else { return false }
        if head.count > capacity {
            storage?.deallocate()
            capacity = max(head.count, 1024)
            storage = .allocate(byteCount: capacity, alignment: 1)
        }
        let bytes = UnsafeMutableRawBufferPointer(start: storage!, count: head.count)
        bytes.baseAddress!.copyMemory(from: from, byteCount: head.count)
        guard let status = HTTP1Translation.responseFields(bytes, into: &ranges) else { return false }
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        Self.statusName.withUTF8Buffer { name in
            list.append(nghttp2_nv(name: UnsafeMutablePointer(mutating: name.baseAddress!), value: base + status.lowerBound,
                                   namelen: name.count, valuelen: status.count, flags: Self.flags))
        }
        for field in ranges {
            list.append(nghttp2_nv(name: base + field.name.lowerBound, value: base + field.value.lowerBound,
                                   namelen: field.name.count, valuelen: field.value.count, flags: Self.flags))
        }
        source.append(contentsOf: head)
        return true
    }

    deinit { storage?.deallocate() }
}
