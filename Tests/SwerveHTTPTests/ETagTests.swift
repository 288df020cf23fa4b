import Testing

@testable import SwerveHTTP

/// The entity tags Swerve renders (RFC 9110 §8.8.3).
@Suite("ETag (RFC 9110 §8.8.3)")
struct ETagTests {
    static func rendered(_ tag: ETag) -> String { tag.withRendered { String(decoding: $0, as: UTF8.self) } }

    @Test("§8.8.3: a metadata tag is an opaque-tag of 16 lowercase hex digits; a coding adds its suffix, a weak tag W/")
    func rendering() {
        let tag = ETag(source: .metadata(inode: 7, size: 1024, modified: 2_000_000_003, changed: 5))
        let plain = Self.rendered(tag)
        #expect(plain.count == 18 && plain.first == "\"" && plain.last == "\"")
        #expect(plain.dropFirst().dropLast().allSatisfy { "0123456789abcdef".contains($0) })
        #expect(Self.rendered(tag.coded(.gzip)) == String(plain.dropLast()) + "-gz\"")
        #expect(Self.rendered(tag.coded(.br).weakened) == "W/" + String(plain.dropLast()) + "-br\"")
        #expect(Self.rendered(tag.coded(.gzip, recompressed: true).weakened).count <= ETag.maximumLength)
        let content = ETag(contentHigh: .max, low: .max)
        #expect(Self.rendered(content.coded(.gzip, recompressed: true).weakened).count == ETag.maximumLength)
    }

    @Test("§8.8.1 strong validator: with the other three fixed, each of inode, size, mtime and ctime maps to the tag one to one")
    func eachNumberChangesTheTag() {
        let fixed: [UInt64] = [0x1234, 4096, 1_700_000_000_000_000_005, 1_700_000_001_000_000_007]
        // Small steps (an edit of a byte, a touch a nanosecond later), and far-apart values.
        let values = (0..<2048).map(UInt64.init) + (0..<2048).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
        for position in 0..<4 {
            var digests = Set<UInt64>()
            for value in values {
                var numbers = fixed
                numbers[position] = value
                digests.insert(ETag.digest(numbers[0], numbers[1], numbers[2], numbers[3]))
            }
            #expect(digests.count == Set(values).count, "number \(position)")
        }
    }
}
