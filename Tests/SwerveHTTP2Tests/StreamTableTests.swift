import Testing

@testable import SwerveHTTP2

/// The per-connection table of values by stream id, against a Dictionary doing the same operations.
@Suite("StreamTable")
struct StreamTableTests {
    @Test("inserts, overwrites, lookups, removals and iteration agree with a Dictionary over a seeded random run")
    func agreesWithDictionary() {
        var table = StreamTable<Int>()
        var reference: [Int32: Int] = [:]
        var seed: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        for step in 0..<20_000 {
            // Odd ids, as a client's streams are (RFC 9113 §5.1.1), from a window of 150: up to that many at once.
            let id = Int32(2 * next(150) + 1)
            switch next(4) {
            case 0, 1:
                table[id] = step
                reference[id] = step
            case 2:
                #expect(table.removeValue(forKey: id) == reference.removeValue(forKey: id))
            default:
                table[id] = nil
                reference[id] = nil
            }
            #expect(table[id] == reference[id])
            #expect(table.count == reference.count)
            #expect(table.isEmpty == reference.isEmpty)
        }
        var seen: [Int32: Int] = [:]
        for (id, value) in table {
            #expect(seen[id] == nil)
            seen[id] = value
        }
        #expect(seen == reference)
    }

    @Test("removing an entry while iterating a copy leaves the iteration whole")
    func removeWhileIterating() {
        var table = StreamTable<String>()
        for id: Int32 in [1, 3, 5, 7] { table[id] = "s\(id)" }
        var visited: [Int32] = []
        for (id, _) in table {
            visited.append(id)
            table[id] = nil
        }
        #expect(visited.sorted() == [1, 3, 5, 7])
        #expect(table.isEmpty)
    }
}
