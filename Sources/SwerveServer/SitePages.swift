import SwerveFiles
import SwerveHTTP

/// The files a site answers with besides the one asked for: the SPA fallback (`--fallback FILE`) and the error pages
/// (`--error-page CODE=FILE`, and by default a `404.html` at the root, the convention of GitHub Pages, Netlify and
/// http-server). Paths are kept sanitised and relative to the root, as the resolver opens them.
public struct SitePages: Sendable {
    /// An error page's file, and whether the site insisted on it (explicit ones are checked at startup; the default
    /// 404.html is used only where it exists).
    struct Page: Sendable {
        var path: [UInt8]
        var explicit: Bool
    }

    /// Statuses an error page may be configured for.
    static let pageStatuses = 400...599
    /// The default page for 404, used when it exists and `--error-page 404=` did not turn it off.
    static let defaultNotFoundPage: [UInt8] = Array("404.html".utf8)

    let fallback: [UInt8]?
    private let pages: [Int: Page]

    public struct PageError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `errorPages`: `CODE=FILE` texts; an empty FILE turns that code's page off (`404=`: no default 404.html).
    public init(fallback: String?, errorPages: [String]) throws(PageError) {
        var pages: [Int: Page] = [404: Page(path: Self.defaultNotFoundPage, explicit: false)]
        for text in errorPages {
            let (code, file) = try Self.parse(text)
            if file.isEmpty {
                pages[code] = nil
            } else {
                pages[code] = Page(path: try Self.sanitized(file, option: "--error-page \(text)"), explicit: true)
            }
        }
        self.pages = pages
        self.fallback = try fallback.map { file throws(PageError) in try Self.sanitized(file, option: "--fallback \(file)") }
    }

    /// `CODE=FILE`, CODE a status from 400 to 599.
    static func parse(_ text: String) throws(PageError) -> (code: Int, file: String) {
        guard let equals = text.firstIndex(of: "=") else {
            throw PageError(description: "--error-page '\(text)': expected CODE=FILE (e.g. 404=errors/404.html, or 404= for none)")
        }
        guard let code = Int(text[..<equals]), pageStatuses.contains(code) else {
            throw PageError(description: "--error-page '\(text)': '\(text[..<equals])' is not an error status (400-599)")
        }
        return (code, String(text[text.index(after: equals)...]))
    }

    /// The page for `status`, if the site has one.
    func page(for status: HTTPStatus) -> Page? { pages[Int(status.code)] }

    /// Every page the site insisted on, and the fallback: each must be a regular file in the root at startup.
    var requiredFiles: [(option: String, path: [UInt8])] {
        var required: [(String, [UInt8])] = pages.sorted { $0.key < $1.key }.filter(\.value.explicit).map {
            ("--error-page \($0.key)=\(String(decoding: $0.value.path, as: UTF8.self))", $0.value.path)
        }
        if let fallback { required.append(("--fallback \(String(decoding: fallback, as: UTF8.self))", fallback)) }
        return required
    }

    /// The path as the resolver takes it: sanitised by the same rules as a request path (no `..` above the root, no
    /// hidden name, no bytes a URL could not carry), relative, not a directory.
    static func sanitized(_ file: String, option: String) throws(PageError) -> [UInt8] {
        var target = Array(file.utf8)
        if target.first != UInt8(ascii: "/") { target.insert(UInt8(ascii: "/"), at: 0) }
        var scratch = [UInt8](repeating: 0, count: PathResolver.scratchCapacity)
        let outcome = target.withUnsafeBytes { target in
            scratch.withUnsafeMutableBytes { PathSanitizer.sanitize(target, showHidden: false, into: $0) }
        }
        switch outcome {
        case .rejected:
            throw PageError(description: "\(option): not a path inside the root (no '..' above it, no hidden names, no '?' or '#')")
        case .accepted(let path):
            guard !path.hasTrailingSlash, path.length > 0, path.rawPathEnd == target.count else {
                throw PageError(description: "\(option): expected a file inside the root, not a directory or a query")
            }
            return Array(scratch[0..<path.length])
        }
    }
}
