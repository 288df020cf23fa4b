import CNghttp2

/// Calls `body` with an nghttp2 header list for `fields` (name, value) whose bytes live for the call: for tests that
/// drive nghttp2's client (in memory, or over a socket).
public func withNghttpHeaderList<R>(_ fields: [(String, String)], _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> R) -> R {
    var keep: [UnsafeMutablePointer<UInt8>] = []
    defer { for p in keep { p.deallocate() } }
    var list: [nghttp2_nv] = []
    for (name, value) in fields {
        let n = Array(name.utf8), v = Array(value.utf8)
        let np = UnsafeMutablePointer<UInt8>.allocate(capacity: n.count + 1)
        np.initialize(from: n, count: n.count)
        let vp = UnsafeMutablePointer<UInt8>.allocate(capacity: v.count + 1)
        vp.initialize(from: v, count: v.count)
        keep += [np, vp]
        list.append(nghttp2_nv(name: np, value: vp, namelen: n.count, valuelen: v.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
    }
    return list.withUnsafeMutableBufferPointer { body($0) }
}
