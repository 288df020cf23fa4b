import SwerveEngine
import SwerveHTTP

extension OutputWriter {
    /// Renders `response` into the output (`ResponseHead.render`), for the small listeners (metrics, the https
    /// redirect) that answer without the site handler's memo of rendered heads. `date`: the 29-byte Date of now.
    func appendHead(_ response: borrowing ResponseHead, date: UnsafeRawBufferPointer) {
        appendBytes(count: min(response.sizeBound, freeBytes)) { area in
            var w = ByteWriter(area)
            response.render(into: &w, date: date, lastModifiedText: nil)
            return w.count
        }
    }

    /// The server's small HTML page for `status` (`ErrorPage`), `ErrorPage.length(status)` bytes.
    func appendErrorPage(_ status: HTTPStatus) {
        appendBytes(count: ErrorPage.length(status)) { area in
            var w = ByteWriter(area)
            ErrorPage.render(status, into: &w)
            return w.count
        }
    }
}
