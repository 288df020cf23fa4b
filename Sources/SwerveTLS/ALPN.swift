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
