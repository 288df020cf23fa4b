#include "CSwerveSys.h"
#include <linux/openat2.h>
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

int64_t swerve_stat_mtime_sec(const struct stat *st) { return (int64_t)st->st_mtim.tv_sec; }
int64_t swerve_stat_mtime_nsec(const struct stat *st) { return (int64_t)st->st_mtim.tv_nsec; }
int64_t swerve_stat_ctime_sec(const struct stat *st) { return (int64_t)st->st_ctim.tv_sec; }
int64_t swerve_stat_ctime_nsec(const struct stat *st) { return (int64_t)st->st_ctim.tv_nsec; }

static void swerve_signal_set(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGUSR1);
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

int swerve_raise_process(int sig) { return kill(getpid(), sig); }
