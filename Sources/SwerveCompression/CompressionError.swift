/// A codec could not start or finish (a bad level, no memory, a library failure): the body goes out without that
/// coding.
public struct CompressionError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) { self.description = description }
}
