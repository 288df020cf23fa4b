#include "CSwerveSys.h"
#include <linux/openat2.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>

int swerve_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static void swerve_status_from_stat(const struct stat *st, struct swerve_file_status *out) {
    memset(out, 0, sizeof *out);
    out->device = (uint64_t)st->st_dev;
    out->inode = (uint64_t)st->st_ino;
    out->size = (int64_t)st->st_size;
    out->mtime_sec = (int64_t)st->st_mtim.tv_sec;
    out->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
    out->ctime_sec = (int64_t)st->st_ctim.tv_sec;
    out->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
    out->mode = (uint32_t)st->st_mode;
    out->links = (uint32_t)st->st_nlink;
}

/// One statx call; `fd` with an empty path and AT_EMPTY_PATH, or `path` relative to the working directory.
static int swerve_statx(int fd, const char *path, int flags, struct swerve_file_status *out) {
    struct statx stx;
    long rc = syscall(SYS_statx, fd, path, flags, STATX_BASIC_STATS | STATX_BTIME, &stx);
    if (rc != 0) return -1;
    memset(out, 0, sizeof *out);
    // glibc's makedev (sys/sysmacros.h), so the number equals what fstat's st_dev reports for the same file.
    out->device = ((uint64_t)(stx.stx_dev_major & 0x00000fffu) << 8) | ((uint64_t)(stx.stx_dev_major & 0xfffff000u) << 32)
        | ((uint64_t)(stx.stx_dev_minor & 0x000000ffu)) | ((uint64_t)(stx.stx_dev_minor & 0xffffff00u) << 12);
    out->inode = stx.stx_ino;
    out->size = (int64_t)stx.stx_size;
    out->mtime_sec = stx.stx_mtime.tv_sec;
    out->mtime_nsec = stx.stx_mtime.tv_nsec;
    out->ctime_sec = stx.stx_ctime.tv_sec;
    out->ctime_nsec = stx.stx_ctime.tv_nsec;
    if (stx.stx_mask & STATX_BTIME) {
        out->btime_sec = stx.stx_btime.tv_sec;
        out->btime_nsec = stx.stx_btime.tv_nsec;
        out->has_btime = 1;
    }
    out->mode = stx.stx_mode;
    out->links = stx.stx_nlink;
    return 0;
}

int swerve_fstatx(int fd, struct swerve_file_status *out) {
    // AT_EMPTY_PATH (0x1000, fcntl.h) is hidden without _GNU_SOURCE.
    if (swerve_statx(fd, "", 0x1000, out) == 0) return 0;
    if (errno != ENOSYS && errno != EPERM) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    swerve_status_from_stat(&st, out);
    return 0;
}

int swerve_statx_path(const char *path, struct swerve_file_status *out) {
    if (swerve_statx(AT_FDCWD, path, 0, out) == 0) return 0;
    if (errno != ENOSYS && errno != EPERM) return -1;
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    swerve_status_from_stat(&st, out);
    return 0;
}

static void swerve_signal_set(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGHUP);
}

int swerve_block_signals(void) {
    sigset_t set;
    swerve_signal_set(&set);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int swerve_wait_signal(void) {
    sigset_t set;
    swerve_signal_set(&set);
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return -1;
    return sig;
}

int swerve_wait_signal_timeout(int milliseconds) {
    sigset_t set;
    swerve_signal_set(&set);
    struct timespec timeout = { milliseconds / 1000, (long)(milliseconds % 1000) * 1000000L };
    while (1) {
        int sig = sigtimedwait(&set, NULL, &timeout);
        if (sig > 0) return sig;
        if (errno == EAGAIN) return 0;
        if (errno != EINTR) return -1;
    }
}

int swerve_raise_process(int sig) { return kill(getpid(), sig); }
