/// A per-loop LIFO free list of fixed-size resources (input byte buffers, output buffers).
///
/// A connection holds a buffer only while it has bytes in flight: an idle keep-alive connection holds none, which
/// is what keeps ten thousand idle connections cheap. Taking and returning is a pointer pop/push (no malloc per
/// request), and LIFO order hands back the buffer most likely still in cache. At most `retain` free buffers are
/// kept; the rest go back to malloc after a burst.
struct FreeList<Element> {
    private var items: UnsafeMutablePointer<Element>
    private var capacity: Int
    private(set) var count = 0
    let retain: Int

    init(retain: Int) {
        self.retain = retain
        capacity = 16
        items = .allocate(capacity: capacity)
    }

    @inline(__always) mutating func pop() -> Element? {
        guard count > 0 else { return nil }
        count -= 1
        return (items + count).move()
    }

    /// Returns false (and keeps nothing) when the list already retains its maximum; the caller frees the element.
    @inline(__always) mutating func push(_ element: Element) -> Bool {
        guard count < retain else { return false }
        if count == capacity {
            let bigger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: items, count: count)
            items.deallocate()
            items = bigger
            capacity *= 2
        }
        (items + count).initialize(to: element)
        count += 1
        return true
    }

    mutating func drain(_ body: (Element) -> Void) {
        while let element = pop() { body(element) }
    }

    func deallocate() { items.deallocate() }
}
