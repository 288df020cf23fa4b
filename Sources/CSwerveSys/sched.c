// Separate from shim.c: SCHED_IDLE needs _GNU_SOURCE, which must not reach the accept4 prototype in CSwerveSys.h.
#define _GNU_SOURCE
#include <sched.h>

int swerve_set_idle_priority(void) {
    struct sched_param param = { .sched_priority = 0 };
    // pid 0: the calling thread (Linux schedules threads, not processes).
    return sched_setscheduler(0, SCHED_IDLE, &param);
}
