#!/usr/bin/env bash
# What the access log costs: 1 KiB keep-alive requests/s with `--access-log-format combined` to a file against the
# same binary with `--access-log off`, each server held to CAP% of core 0 (cgroup quota), wrk -t1 -c64 on core 1.
# The target (issue 15): with the log ≥ 0.85× without. Also a json row, and the drops the run caused.
#
#   sudo Benchmarks/access-log.sh [ROUNDS] [SECONDS]        (defaults 6 rounds of 5 s; CAP=35 in the environment)
#
# Runs as root (cgroups). BIN defaults to .build/release/swerve (swift build -c release --product swerve).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib/cap.sh
rounds=${1:-6} seconds=${2:-5}
CAP=${CAP:-35}
BIN=${BIN:-.build/release/swerve}
[[ -x "$BIN" ]] || { echo "no $BIN: swift build -c release --product swerve" >&2; exit 1; }
WORK=$(mktemp -d /tmp/swerve-logbench-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for name in off combined json; do cap_remove "log-$name"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/site"
head -c 1024 /dev/zero | tr '\0' 'a' > "$WORK/site/1k.txt"

start() {  # NAME PORT ARGS...
    local name=$1 port=$2
    shift 2
    taskset -c 0 "$BIN" --root "$WORK/site" --host 127.0.0.1 --port "$port" --workers 1 --recompress off "$@" \
        >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/1k.txt" && break; sleep 0.05; done
    cap_create "log-$name" "$CAP"
    cap_add "log-$name" "$pid"
    last_pid=$pid
}
start off 18401 --access-log off
off_pid=$last_pid
start combined 18402 --access-log "$WORK/combined.log" --access-log-format combined
combined_pid=$last_pid
start json 18403 --access-log "$WORK/json.log" --access-log-format json --metrics 127.0.0.1:18413
json_pid=$last_pid

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "## access log cost: 1 KiB keep-alive, each server capped at ${CAP}% of core 0, wrk -t1 -c64 on core 1, $(date -u +%F) $(uptime)"
before=$(for p in $off_pid $combined_pid $json_pid; do cpu_ticks "$p"; done | paste -sd' ')
Benchmarks/ab.sh "$rounds" "$seconds" off=http://127.0.0.1:18401/1k.txt combined=http://127.0.0.1:18402/1k.txt \
    json=http://127.0.0.1:18403/1k.txt
after=$(for p in $off_pid $combined_pid $json_pid; do cpu_ticks "$p"; done | paste -sd' ')
echo "server CPU ticks during the run (off combined json): before $before, after $after"
sleep 2  # the last batches
echo "lines written: combined $(wc -l < "$WORK/combined.log"), json $(wc -l < "$WORK/json.log")"
echo "json server's metrics: $(curl -s http://127.0.0.1:18413/metrics | grep -E '^swerve_(access_log_dropped_total|http_request_duration_seconds_count)')"
grep -h "dropped" "$WORK"/*.stderr || echo "no drops reported"
