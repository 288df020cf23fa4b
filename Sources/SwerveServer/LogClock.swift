import Glibc
import SwerveHTTP

extension AccessLogTime {
    /// The wall clock now (CLOCK_REALTIME, to the millisecond), with the local time zone's offset from UTC as
    /// `offset` gives it for that second: read afresh by default; the access log keeps one per second.
    static func now(offset: (Int) -> Int = localOffset(at:)) -> AccessLogTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let seconds = Int(ts.tv_sec)
        return AccessLogTime(seconds: seconds, milliseconds: Int(ts.tv_nsec / 1_000_000), utcOffsetSeconds: offset(seconds))
    }

    /// The local time zone's offset from UTC at `seconds` since the epoch (`localtime_r`; it moves with daylight
    /// saving), 0 if the zone cannot be read.
    static func localOffset(at seconds: Int) -> Int {
        var t = time_t(seconds)
        var parts = tm()
        return localtime_r(&t, &parts) != nil ? Int(parts.tm_gmtoff) : 0
    }
}
