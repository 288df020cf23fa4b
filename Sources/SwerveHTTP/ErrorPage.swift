/// The small HTML body of an error response: `<title>404 Not Found</title>`, so a browser shows something
/// readable and `curl` shows the status in the body too.
public enum ErrorPage {
    public static let contentType: StaticString = "text/html; charset=utf-8"

    private static let prefix: StaticString = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
    private static let middle: StaticString = "</title></head>\n<body><h1>"
    private static let suffix: StaticString = "</h1><hr><p>swerve</p></body></html>\n"

    /// Length of the page for `status` (the Content-Length).
    public static func length(_ status: HTTPStatus) -> Int {
        let title = 4 + status.reason.utf8CodeUnitCount // "404 " + reason
        return prefix.utf8CodeUnitCount + title + middle.utf8CodeUnitCount + title + suffix.utf8CodeUnitCount
    }

    public static func render(_ status: HTTPStatus, into w: inout ByteWriter) {
        w.append(prefix)
        title(status, &w)
        w.append(middle)
        title(status, &w)
        w.append(suffix)
    }

    private static func title(_ status: HTTPStatus, _ w: inout ByteWriter) {
        w.append(decimal: status.code)
        w.append(byte: 0x20)
        w.append(status.reason)
    }
}
