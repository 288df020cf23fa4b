/// Application-Layer Protocol Negotiation (RFC 7301): which protocol a TLS connection speaks, chosen by the server
/// from the list the client offers. Pure: the TLS context's callback hands it the client's bytes.
public enum ALPN {
    /// A protocol Swerve speaks over TLS, by its IANA-registered identification sequence.
    public enum ApplicationProtocol: String, Sendable, CaseIterable {
        case http2 = "h2"
        case http11 = "http/1.1"

        var wireName: [UInt8] { Array(rawValue.utf8) }
    }

    /// The server's choice among the client's `offered` protocols, in the server's order of `preference`: the range
    /// of the chosen name's bytes within `offered`, or nil when the list is malformed or shares none.
    ///
    /// RFC 7301 §3.1: the list is "ProtocolName protocol_name_list<2..2^16-1>", each name "opaque
    /// ProtocolName<1..2^8-1>" — a one-byte length and that many bytes; "Empty strings MUST NOT be included". The
    /// TLS library gives the list without its two-byte outer length. §3.2: the server selects "the most highly
    /// preferred protocol that it supports and that is also advertised by the client".
    public static func select(offered: UnsafeRawBufferPointer, preference: [ApplicationProtocol]) -> Range<Int>? {
        guard let names = names(in: offered) else { return nil }
        for wanted in preference {
            let wire = wanted.wireName
            if let match = names.first(where: { offered[$0].elementsEqual(wire) }) { return match }
        }
        return nil
    }

    /// A preference list packed into one word (two bits per protocol, first preference lowest, 0 ends it), so the
    /// TLS callback can carry it in its `void *` argument: an `SSL` may outlive the Swift object that made its
    /// `SSL_CTX` (a reload swaps contexts while connections stay open), so the callback must not point at one.
    static func pack(_ preference: [ApplicationProtocol]) -> UInt {
        var word: UInt = 0
        for (position, wanted) in preference.prefix(UInt.bitWidth / 2).enumerated() {
            let code = UInt(ApplicationProtocol.allCases.firstIndex(of: wanted)! + 1)
            word |= code << (2 * position)
        }
        return word
    }

    static func unpack(_ word: UInt) -> [ApplicationProtocol] {
        var preference: [ApplicationProtocol] = []
        var rest = word
        while rest & 3 != 0 {
            preference.append(ApplicationProtocol.allCases[Int(rest & 3) - 1])
            rest >>= 2
        }
        return preference
    }

    /// The byte ranges of the names in a protocol_name_list, or nil if it is empty, holds an empty name or ends
    /// inside one.
    static func names(in list: UnsafeRawBufferPointer) -> [Range<Int>]? {
        guard !list.isEmpty else { return nil }
        var ranges: [Range<Int>] = []
        var index = 0
        while index < list.count {
            let length = Int(list[index])
            let start = index + 1
            guard length > 0, start + length <= list.count else { return nil }
            ranges.append(start..<(start + length))
            index = start + length
        }
        return ranges
    }
}
