/// The Location of the 301 that sends `/dir` to `/dir/` (the files module decides a directory was asked for without
/// its slash; the bytes of the answer are HTTP's).
public enum TrailingSlashRedirect {
    /// Original path (leading slashes collapsed to one) + `/` + original `?query`, with every byte a URI may not
    /// contain percent-encoded. The parser lets such bytes through in a target (`"`, `<`, `{`, `|`, ...: lenient
    /// on input, as browsers send some of them raw), but RFC 9110 §10.2.2 makes Location a URI-reference, whose
    /// path and query hold only RFC 3986 §3.3/§3.4 characters: unreserved, sub-delims, ":", "@", "/", "?" and
    /// percent-encodings (a "%" starting one is passed on as the client wrote it; a stray "%" is encoded).
    public static func location(_ target: UnsafeRawBufferPointer, rawPathEnd: Int) -> [UInt8] {
        var start = 0
        while start + 1 < rawPathEnd && target[start + 1] == UInt8(ascii: "/") { start += 1 }
        var location: [UInt8] = []
        location.reserveCapacity(target.count - start + 1)
        appendURIEncoded(UnsafeRawBufferPointer(rebasing: target[start..<rawPathEnd]), to: &location)
        location.append(UInt8(ascii: "/"))
        appendURIEncoded(UnsafeRawBufferPointer(rebasing: target[rawPathEnd..<target.count]), to: &location)
        return location
    }

    private static func appendURIEncoded(_ bytes: UnsafeRawBufferPointer, to location: inout [UInt8]) {
        // RFC 3986 §2.1: "URI producers ... should use uppercase hexadecimal digits for all percent-encodings."
        let hex: StaticString = "0123456789ABCDEF"
        for (i, byte) in bytes.enumerated() {
            // A "%" passes only as the start of a triplet; a stray one becomes "%25".
            let strayPercent = byte == UInt8(ascii: "%")
                && !(i + 2 < bytes.count && HTTPSyntax.isHexDigit(bytes[i + 1]) && HTTPSyntax.isHexDigit(bytes[i + 2]))
            if isURIPathOrQueryByte(byte) && !strayPercent {
                location.append(byte)
            } else {
                location.append(UInt8(ascii: "%"))
                location.append(hex.utf8Start[Int(byte >> 4)])
                location.append(hex.utf8Start[Int(byte & 0x0F)])
            }
        }
    }

    /// RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@" — unreserved and sub-delims are
    /// exactly reg-name's characters (`HTTPSyntax.isRegNameChar`); §3.4: path and query add "/" and "?"; "%" starts
    /// a pct-encoded triplet.
    private static func isURIPathOrQueryByte(_ byte: UInt8) -> Bool {
        HTTPSyntax.isRegNameChar(byte) || ":@/?%".utf8.contains(byte)
    }
}
