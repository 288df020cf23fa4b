import CSwerveSys
import Glibc

/// What the response planner needs to know about an opened file: its length (Content-Length, ranges) and
/// identity and age (Last-Modified, ETag = inode/size/mtime, cache keys).
public struct FileFacts: Sendable, Equatable {
    public var size: Int
    public var mtimeSeconds: Int64
    public var mtimeNanoseconds: Int64
    public var inode: UInt64
    public var device: UInt64

    public init(size: Int, mtimeSeconds: Int64, mtimeNanoseconds: Int64, inode: UInt64, device: UInt64) {
        self.size = size
        self.mtimeSeconds = mtimeSeconds
        self.mtimeNanoseconds = mtimeNanoseconds
        self.inode = inode
        self.device = device
    }

    /// The facts in a `stat` buffer filled by `fstat`.
    public init(_ st: UnsafePointer<stat>) {
        self.init(
            size: Int(st.pointee.st_size),
            mtimeSeconds: swerve_stat_mtime_sec(st),
            mtimeNanoseconds: swerve_stat_mtime_nsec(st),
            inode: UInt64(st.pointee.st_ino),
            device: UInt64(st.pointee.st_dev))
    }
}
