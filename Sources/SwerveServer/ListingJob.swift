import Glibc
import SwerveCompression
import SwerveFiles
import SwerveHTTP
import Synchronization

/// One directory listing, read and rendered off the event loop for one request (`--list-dirs`).
///
/// Nothing is cached: every listing request reads the directory afresh (a listing's rows change without the
/// directory's own identity changing: a file inside is rewritten), so a listing is never stale. Its ETag is the
/// content's SHA-256 (128 bits): equal listings have equal tags, and a 304 answers a client that has this very one.
///
/// Hand-over as for `CompressionStream`: the loop writes the inputs before submitting, the worker writes the results and
/// then `ready` with a releasing store, and the loop reads the results only after an acquiring load saw it. That
/// ordering is what makes `@unchecked Sendable` sound here.
final class ListingJob: @unchecked Sendable {
    /// The directory, open for reading (taken over by `run`).
    private let fd: Int32
    private let relativePath: [UInt8]
    private let root: RootDirectory
    private let policy: DirectoryReader.Policy
    let listing: DirectoryListing
    let format: DirectoryListing.Format
    /// The compression to make besides the plain bytes, with the levels to make it at; nil when the client takes
    /// none (or compression is off).
    private let compression: (coding: ContentCoding, levels: CompressionLevels)?

    /// The listing's bytes (nil if the directory could not be read: it went away).
    private(set) var body: CompressedBody?
    /// The listing's bytes in `compression`'s coding (nil when none was asked for, or the codec failed).
    private(set) var compressedBody: CompressedBody?
    /// The listing's SHA-256 (its ETag), set with `body`.
    private(set) var digest: ContentHashes.Digest?
    private let ready = Atomic<Bool>(false)

    init(
        fd: Int32, relativePath: [UInt8], root: RootDirectory, policy: DirectoryReader.Policy, listing: DirectoryListing,
        format: DirectoryListing.Format, compression: (coding: ContentCoding, levels: CompressionLevels)?
    ) {
        self.fd = fd
        self.relativePath = relativePath
        self.root = root
        self.policy = policy
        self.listing = listing
        self.format = format
        self.compression = compression
    }

    /// The coding of `compressedBody`.
    var coding: ContentCoding? { compression?.coding }

    /// Worker side: read, render, hash, compress; then publish.
    func run() {
        defer { ready.store(true, ordering: .releasing) }
        guard let read = DirectoryReader.read(fd, relativePath: relativePath, root: root, policy: policy) else { return }
        var listing = self.listing
        listing.entries = read.entries
        listing.truncated = read.truncated
        listing.limit = DirectoryReader.maximumEntries
        let bytes = format == .json ? listing.json() : listing.html()
        var hasher = SHA256()
        bytes.withUnsafeBytes { hasher.update($0) }
        digest = ContentHashes.Digest(sha256: hasher.finish())
        body = CompressedBody(taking: bytes, identityLength: bytes.count, compressNanoseconds: 0)
        if let compression, let compressed = try? bytes.withUnsafeBytes({ bytes throws(CompressionError) in
            try compression.levels.compress(bytes, coding: compression.coding)
        }) {
            compressedBody = CompressedBody(taking: compressed, identityLength: bytes.count, compressNanoseconds: 0)
        }
    }

    /// Loop side: the worker is done and the results may be read.
    var isReady: Bool { ready.load(ordering: .acquiring) }
}
