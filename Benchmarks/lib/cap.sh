# CPU caps for benchmarked servers (sourced by the benchmark scripts; needs root).
#
# Why: on a two-core machine one wrk thread saturates before a fast server does, so requests/s would measure the
# client. Holding each server to a fixed share of one core (a cgroup CPU quota, 10 ms period so throttling gaps stay
# short) makes the server the bottleneck: requests/s = share / (server CPU per request). See
# ../shared/notes/capped-benchmark.md and docs/PERFORMANCE.md.
#
#   cap_create NAME PERCENT   make (or reset) a capped group: v2 `cpu.max` or v1 `cpu.cfs_quota_us`, whichever
#                             the machine has; prints nothing, fails with a message when neither is writable
#   cap_add NAME PID...       move processes (every thread of each) into the group
#   cap_remove NAME           move them back out and delete the group

CAP_PERIOD_US=10000

cap_dir() {
    if [[ -w /sys/fs/cgroup/cgroup.subtree_control ]] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        echo "/sys/fs/cgroup/swerve-bench-$1"
    elif [[ -d /sys/fs/cgroup/cpu && -w /sys/fs/cgroup/cpu ]]; then
        echo "/sys/fs/cgroup/cpu/swerve-bench-$1"
    else
        return 1
    fi
}

cap_create() {
    local name=$1 percent=$2 dir quota
    dir=$(cap_dir "$name") || { echo "no writable cgroup cpu controller (need root, cgroup v1 cpu or v2 cpu.max)" >&2; return 1; }
    quota=$(( CAP_PERIOD_US * percent / 100 ))
    mkdir -p "$dir"
    if [[ -e "$dir/cpu.max" ]]; then
        echo "+cpu" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
        echo "$quota $CAP_PERIOD_US" > "$dir/cpu.max"
    else
        echo "$CAP_PERIOD_US" > "$dir/cpu.cfs_period_us"
        echo "$quota" > "$dir/cpu.cfs_quota_us"
    fi
}

cap_add() {
    local name=$1 dir pid
    shift
    dir=$(cap_dir "$name")
    for pid in "$@"; do echo "$pid" > "$dir/cgroup.procs"; done
}

cap_remove() {
    local dir pid parent
    dir=$(cap_dir "$1") || return 0
    [[ -d "$dir" ]] || return 0
    parent=$(dirname "$dir")
    while read -r pid; do echo "$pid" > "$parent/cgroup.procs" 2>/dev/null || true; done < "$dir/cgroup.procs"
    rmdir "$dir" 2>/dev/null || true
}
