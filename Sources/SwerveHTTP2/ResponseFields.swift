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
///
/// Its own memory is raw (the head's bytes twice, as they came and lowercased, and the field list), allocated in
/// `fill` and freed in `deinit`: read on every response, arrays would cost a retain and a release per read.
final class ResponseFields {
    /// The head as it came (for the byte-for-byte comparison): `sourceCount` bytes, the first half of `storage`.
    private var sourceCount = 0
    /// The field list for nghttp2, ":status" first: `listCount` entries of `listCapacity`.
    private var list: UnsafeMutablePointer<nghttp2_nv>?
    private var listCount = 0
    private var listCapacity = 0
    /// HEADERS frames submitted with `list` that nghttp2 has not yet reported sent or not sent.
    var unsent = 0
    /// `capacity` bytes for the head as it came, then `capacity` for the copy the fields point into.
    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0
    private var ranges: [(name: Range<Int>, value: Range<Int>)] = []

    private static let statusName: StaticString = ":status"
    private static let flags = UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue)

    /// Whether `head` is byte for byte the head `list` was made from.
    func matches(_ head: UnsafeRawBufferPointer) -> Bool {
        guard listCount > 0, head.count == sourceCount, let base = head.baseAddress, let storage else { return false }
        return memcmp(storage, base, head.count) == 0
    }

    /// Whether `pointer` points into these fields' bytes (nghttp2's copy of the list keeps our pointers).
    func holds(_ pointer: UnsafePointer<UInt8>) -> Bool {
        guard let storage else { return false }
        let p = UnsafeRawPointer(pointer)
        return p >= UnsafeRawPointer(storage) + capacity && p < UnsafeRawPointer(storage) + 2 * capacity
    }

    /// `body` with the field list, as nghttp2's submit functions take it.
    func withList<Result>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> Result) -> Result {
        precondition(listCount > 0, "response fields used before a head filled them")
        return body(list!, listCount)
    }

    /// Makes `list` from `head`, a response head in HTTP/1.1's form (`HTTP1Translation.responseFields`). False (and
    /// the list emptied) when it is not one. Only while nothing is owed (`unsent == 0`): nghttp2 may still read the old
    /// bytes otherwise.
    func fill(_ head: UnsafeRawBufferPointer) -> Bool {
        precondition(unsent == 0, "response fields rewritten while nghttp2 may still read them")
        listCount = 0
        sourceCount = 0
        guard let from = head.baseAddress, !head.isEmpty else { return false }
        if head.count > capacity {
            storage?.deallocate()
            capacity = max(head.count, 1024)
            storage = .allocate(byteCount: 2 * capacity, alignment: 1)
        }
        let bytes = UnsafeMutableRawBufferPointer(start: storage! + capacity, count: head.count)
        bytes.baseAddress!.copyMemory(from: from, byteCount: head.count)
        guard let status = HTTP1Translation.responseFields(bytes, into: &ranges) else { return false }
        if ranges.count + 1 > listCapacity {
            list?.deallocate()
            listCapacity = max(ranges.count + 1, 32)
            list = .allocate(capacity: listCapacity)
        }
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        // nghttp2_nv is plain data (pointers and sizes): entries are initialised over old ones, nothing to deinitialise.
        let statusName = UnsafeMutablePointer(mutating: Self.statusName.utf8Start)
        list!.initialize(to: nghttp2_nv(name: statusName, value: base + status.lowerBound,
                                        namelen: Self.statusName.utf8CodeUnitCount, valuelen: status.count, flags: Self.flags))
        for (k, field) in ranges.enumerated() {
            (list! + k + 1).initialize(to: nghttp2_nv(name: base + field.name.lowerBound, value: base + field.value.lowerBound,
                                                     namelen: field.name.count, valuelen: field.value.count, flags: Self.flags))
        }
        listCount = ranges.count + 1
        storage!.copyMemory(from: from, byteCount: head.count)
        sourceCount = head.count
        return true
    }

    deinit {
        storage?.deallocate()
        list?.deallocate()
    }
}
