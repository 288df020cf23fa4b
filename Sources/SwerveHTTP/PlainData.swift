// Value types that the engine stores inline in its fd-indexed connection table must be plain data
// (`BitwiseCopyable`): no references, no retain/release when a row is read or written. Public structs do not get
// the conformance inferred outside their module, so it is stated here, next to each other.
extension HTTPStatus: BitwiseCopyable {}
extension ParseError: BitwiseCopyable {}
extension ChunkedBodyDecoder: BitwiseCopyable {}
extension ChunkedBodyDecoder.State: BitwiseCopyable {}
