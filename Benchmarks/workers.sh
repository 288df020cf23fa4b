#!/usr/bin/env bash
# Scaling to two workers (issue 16): one loop held to 35% of a core with wrk -t1 on core 1, against `--workers 2`
# held to 70% in all (one cgroup quota for the process, so 35% of each core on average) with wrk -t2 on both cores.
# 1 KiB keep-alive and 100 KB gzip from the cache, ROUNDS rounds of 5 s; prints each round's ratio (target ≥ 1.8).
#
#   sudo Benchmarks/workers.sh [ROUNDS]        (BIN defaults to .build/release/swerve)
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib/cap.sh
rounds=${1:-3}
BIN=${BIN:-.build/release/swerve}
[[ -x "$BIN" ]] || { echo "no $BIN: swift build -c release --product swerve" >&2; exit 1; }
site=$(mktemp -d /tmp/swerve-workers-XXXXXX)
trap 'cap_remove workers; rm -rf "$site"' EXIT
python3 Benchmarks/lib/make_site.py "$site" >/dev/null
cp "$site/app.js" "$site/app2.js"
run() {  # WORKERS CAP WRK_CPUS WRK_THREADS PATH [wrk args]
    local workers=$1 cap=$2 cpus=$3 threads=$4 path=$5 server_cpus=0
    shift 5
    [[ $workers == 2 ]] && server_cpus=0,1
    taskset -c "$server_cpus" "$BIN" --root "$site" --host 127.0.0.1 --port 18960 --workers "$workers" \
        --access-log off --recompress off >/dev/null 2>&1 &
    local pid=$! out
    for _ in $(seq 100); do curl -fs -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:18960$path" && break; sleep 0.05; done
    cap_create workers "$cap"
    cap_add workers "$pid"
    out=$(taskset -c "$cpus" wrk -t"$threads" -c64 -d5s "$@" "http://127.0.0.1:18960$path" 2>&1)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    cap_remove workers
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}
echo "## one worker at 35% vs two at 70%, $(date -u '+%F %T UTC'); uptime: $(uptime)"
for round in $(seq 1 "$rounds"); do
    a=$(run 1 35 1 1 /index.html)
    b=$(run 2 70 0,1 2 /index.html)
    c=$(run 1 35 1 1 /app2.js -H 'Accept-Encoding: gzip')
    d=$(run 2 70 0,1 2 /app2.js -H 'Accept-Encoding: gzip')
    echo "round $round  1k: 1 worker $a, 2 workers $b, ×$(python3 -c "print(round($b / $a, 2))")   gzip: 1 worker $c, 2 workers $d, ×$(python3 -c "print(round($d / $c, 2))")"
done
