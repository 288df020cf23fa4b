/// Spare storage for HTTP/2 requests' header blocks (`HTTP2ServerSession.Request`), shared by the sessions of one
/// event loop. A request's block is one array of 1 KiB (`Request.initialBlockBytes`); made afresh per request it was
/// one malloc and one free of the seven an HTTP/2 1 KiB request cost. A request answered goes back with `recycle`; the
/// next request a session of the loop begins takes its storage.
///
/// Kept per loop, not per session: ten thousand idle connections hold none, and a burst on one connection (a
/// browser's page load opens dozens of streams at once) reuses what another's burst left.
///
/// Not thread-safe: one per event loop, used by that loop only.
public final class RequestBlocks {
    /// Blocks kept at most: more than the streams one burst of requests opens on a busy connection (ten per read at
    /// `h2load -m10`, some dozens for a page load).
    public static let maximumKept = 64
    /// A block grown past this (a request with long cookies) is freed, not kept: the spares hold at most
    /// `maximumKept` × this, 256 KiB.
    public static let maximumKeptCapacity = 4096

    var spares: [[UInt8]] = []

    public init() {}

    /// Blocks held now.
    public var count: Int { spares.count }

    /// Storage for a new request's block: a spare one, its old bytes left (never read), or none (the request makes its
    /// own at its first field).
    func take() -> [UInt8] { spares.popLast() ?? [] }

    /// Keeps `request`'s block storage for a later request; `request` is left with none.
    public func recycle(_ request: inout HTTP2ServerSession.Request) {
        // Its bytes stay: a request writes its block from the start and reads only what it wrote.
        guard spares.count < Self.maximumKept, let block = request.takeBlock(),
              block.count <= Self.maximumKeptCapacity else { return }
        spares.append(block)
    }
}
