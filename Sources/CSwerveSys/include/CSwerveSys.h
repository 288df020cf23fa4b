// The Linux declarations Swift's Glibc module does not import, and thin wrappers for the ones that are
// macros or variadic syscalls. Everything here is a direct call into the kernel or libc; no policy.
#ifndef CSWERVESYS_H
#define CSWERVESYS_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

// Hidden by Glibc without _GNU_SOURCE; defining that would change the sockaddr parameter type for Swift.
int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/// memfd_create(2): an anonymous shmem file (glibc >= 2.27). Hidden by Glibc without _GNU_SOURCE, like accept4.
int memfd_create(const char *name, unsigned int flags);

/// memfd_create(2) flags (linux/memfd.h).
#define SWERVE_MFD_CLOEXEC       0x0001U
#define SWERVE_MFD_ALLOW_SEALING 0x0002U

/// File sealing (fcntl(2), linux/fcntl.h): F_ADD_SEALS / F_GET_SEALS and the seals. Once F_SEAL_WRITE is set the
/// kernel refuses every write (and a new shared writable mapping) with EPERM; SHRINK/GROW freeze the size;
/// F_SEAL_SEAL forbids further changes to the seal set.
#define SWERVE_F_ADD_SEALS    1033
#define SWERVE_F_GET_SEALS    1034
#define SWERVE_F_SEAL_SEAL    0x0001
#define SWERVE_F_SEAL_SHRINK  0x0002
#define SWERVE_F_SEAL_GROW    0x0004
#define SWERVE_F_SEAL_WRITE   0x0008

/// openat2(2) flags we use (linux/openat2.h). RESOLVE_BENEATH makes the kernel refuse, with EXDEV, any
/// resolution – `..`, absolute symlink, or symlink chain – that would leave `dirfd`.
#define SWERVE_RESOLVE_NO_MAGICLINKS 0x02
#define SWERVE_RESOLVE_NO_SYMLINKS   0x04
#define SWERVE_RESOLVE_BENEATH       0x08

/// openat2(2) has no Glibc wrapper on Debian 12 and `syscall` is variadic (not importable):
/// returns the fd, or -1 with errno set.
int swerve_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// What statx(2) says about a file, flattened for Swift: `struct statx` splits the device into major and minor and
/// nests its timestamps, and Glibc hides both the struct and the wrapper behind _GNU_SOURCE.
struct swerve_file_status {
    uint64_t device;
    uint64_t inode;
    int64_t size;
    int64_t mtime_sec;
    int64_t ctime_sec;
    /// 0 with `has_btime` 0 when the filesystem does not record a birth time.
    int64_t btime_sec;
    uint32_t mtime_nsec;
    uint32_t ctime_nsec;
    uint32_t btime_nsec;
    uint32_t has_btime;
    /// st_mode: type and permission bits.
    uint32_t mode;
    uint32_t links;
};

/// statx(2) of an open file (AT_EMPTY_PATH) with the basic fields and the birth time. Falls back to fstat(2) where
/// statx is refused (ENOSYS, or EPERM from an old seccomp profile); the birth time is then unknown.
/// 0, or -1 with errno set.
int swerve_fstatx(int fd, struct swerve_file_status *out);

/// The same for a path, following symbolic links (stat(2), not lstat): the document root's current target.
int swerve_statx_path(const char *path, struct swerve_file_status *out);

/// Blocks (in the calling thread, inherited by threads it creates) the signals a server handles itself.
int swerve_block_signals(void);
/// Waits for SIGINT, SIGTERM, SIGUSR1 or SIGHUP; returns the signal number, or -1 on error.
int swerve_wait_signal(void);
/// Sends `sig` to this process (used to stop a `sigwait` from another thread).
int swerve_raise_process(int sig);

/// Moves the calling thread to SCHED_IDLE: it runs only when its CPU would otherwise be idle (background work that
/// must never take time from serving). 0, or -1 with errno.
int swerve_set_idle_priority(void);

/// The event loop's hot system calls, made directly. glibc's read, writev, sendmsg and epoll_wait are thread
/// cancellation points: each call brackets the system call with __pthread_enable_asynccancel and
/// __pthread_disable_asynccancel, about 1% of the CPU time of a small keep-alive request (perf). Swerve never
/// cancels a thread, so the loop skips them. Same contract as the libc functions: the result, or -1 with errno set.
static inline ssize_t swerve_read(int fd, void *buf, size_t count) {
    return syscall(SYS_read, fd, buf, count);
}
static inline ssize_t swerve_writev(int fd, const struct iovec *iov, int iovcnt) {
    return syscall(SYS_writev, fd, iov, iovcnt);
}
static inline ssize_t swerve_sendmsg(int fd, const struct msghdr *msg, int flags) {
    return syscall(SYS_sendmsg, fd, msg, flags);
}
static inline int swerve_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
    return (int)syscall(SYS_epoll_wait, epfd, events, maxevents, timeout);
}

/// A counter owned by one thread and read by others (metrics): the owner adds with a relaxed load and a relaxed
/// store, which compile to a plain load and store (no locked read-modify-write instruction); readers load relaxed
/// and see some recent value. Only correct with a single writer per counter.
static inline void swerve_counter_add(uint64_t *counter, uint64_t amount) {
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + amount, __ATOMIC_RELAXED);
}

static inline uint64_t swerve_counter_read(const uint64_t *counter) {
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/// Waits up to `milliseconds` for SIGINT, SIGTERM, SIGUSR1 or SIGHUP (blocked by `swerve_block_signals`); returns the
/// signal number, 0 when the time passed, or -1 on error.
int swerve_wait_signal_timeout(int milliseconds);

#endif
