import Synchronization
import Testing

@testable import SwerveTLS

/// The session-ticket key ring (RFC 8446 §4.6.1, RFC 5077): which key seals, which keys open, and when they rotate,
/// on an injected clock.
@Suite("TLS session ticket keys")
struct TLSTicketKeysTests {
    final class Clock: Sendable {
        let seconds = Atomic<Int64>(1_000)
        func advance(_ by: Int64) { seconds.add(by, ordering: .relaxed) }
        var read: @Sendable () -> Int64 { { self.seconds.load(ordering: .relaxed) } }
    }

    @Test("a key seals for one period and opens for two; the next sealing after a period starts a new key")
    func rotatesLazily() throws {
        let clock = Clock()
        let keys = TLSTicketKeys(rotationSeconds: 100, clock: clock.read)
        let first = keys.sealingKey()
        #expect(keys.openingKey(named: first.name)?.current == true)
        clock.advance(99)
        #expect(keys.sealingKey().name == first.name)
        clock.advance(1)
        let second = keys.sealingKey()
        #expect(second.name != first.name)
        #expect(second.cipher != first.cipher && second.mac != first.mac)
        // The first key still opens its tickets, as the previous one (OpenSSL then seals a fresh ticket).
        #expect(keys.openingKey(named: first.name)?.current == false)
        #expect(keys.openingKey(named: second.name)?.current == true)
        // Two periods after it was made, the first key opens nothing.
        clock.advance(100)
        #expect(keys.openingKey(named: first.name) == nil)
    }

    @Test("after a long idle both keys are forgotten; an unknown name opens nothing")
    func idleForgets() {
        let clock = Clock()
        let keys = TLSTicketKeys(rotationSeconds: 100, clock: clock.read)
        let first = keys.sealingKey()
        clock.advance(250)
        let fresh = keys.sealingKey()
        #expect(fresh.name != first.name)
        #expect(keys.openingKey(named: first.name) == nil)
        #expect(keys.openingKey(named: (1, 2)) == nil)
    }

    @Test("rotate() keeps exactly one previous key")
    func explicitRotation() {
        let keys = TLSTicketKeys(rotationSeconds: 100, clock: Clock().read)
        let a = keys.sealingKey()
        keys.rotate()
        let b = keys.sealingKey()
        #expect(keys.openingKey(named: a.name)?.current == false)
        keys.rotate()
        #expect(keys.openingKey(named: a.name) == nil)
        #expect(keys.openingKey(named: b.name)?.current == false)
    }
}
