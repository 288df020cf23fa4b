/// Values by HTTP/2 stream id, for the streams one connection has open at a time: at most
/// `HTTP2ServerSession.Limits.maxConcurrentStreams` (100), and about ten under a browser's or `h2load -m10`'s load.
///
/// Two parallel arrays searched from the end (the newest stream, the one most often asked for, was added last). A
/// `Dictionary<Int32, _>` hashes every key with SipHash, ~20 ns per lookup here, and a 1 KiB HTTP/2 request made a
/// dozen of them (insert, a lookup per DATA frame, removal in three tables): 2.3% of its samples were the hashing.
/// A scan of ten `Int32`s is a few nanoseconds; of a hundred, still less than one hash.
///
/// Order is not kept: removal moves the last entry into the gap. Iteration sees each entry once, in some order, as a
/// dictionary's does.
///
/// Inlinable, so that the modules using it (SwerveServer) get it specialised for their value type: unspecialised, each
/// access looked up the generic metadata (a locked hash-table probe), 6% of an HTTP/2 request's samples.
public struct StreamTable<Value>: Sequence {
    @usableFromInline var ids: [Int32] = []
    @usableFromInline var values: [Value] = []

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { ids.isEmpty }
    @inlinable public var count: Int { ids.count }

    @inlinable func index(of id: Int32) -> Int? { ids.lastIndex(of: id) }

    /// The value of stream `id`; assigning nil removes it.
    @inlinable public subscript(id: Int32) -> Value? {
        get { index(of: id).map { values[$0] } }
        set {
            if let i = index(of: id) {
                if let newValue { values[i] = newValue } else { remove(at: i) }
            } else if let newValue {
                ids.append(id)
                values.append(newValue)
            }
        }
    }

    /// Removes stream `id`'s value and returns it (nil when it had none).
    @inlinable @discardableResult
    public mutating func removeValue(forKey id: Int32) -> Value? {
        guard let i = index(of: id) else { return nil }
        let value = values[i]
        remove(at: i)
        return value
    }

    @inlinable mutating func remove(at i: Int) {
        let last = ids.count - 1
        if i != last {
            ids.swapAt(i, last)
            values.swapAt(i, last)
        }
        ids.removeLast()
        values.removeLast()
    }

    public struct Iterator: IteratorProtocol {
        @usableFromInline let table: StreamTable
        @usableFromInline var position = 0

        @inlinable init(table: StreamTable) { self.table = table }

        @inlinable public mutating func next() -> (key: Int32, value: Value)? {
            guard position < table.ids.count else { return nil }
            defer { position += 1 }
            return (table.ids[position], table.values[position])
        }
    }

    @inlinable public func makeIterator() -> Iterator { Iterator(table: self) }
}
