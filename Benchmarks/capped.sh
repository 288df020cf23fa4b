#!/usr/bin/env bash
# Swerve against nginx, h2o and lighttpd per CPU: every server held to CAP% of core 0 (cgroup quota, 10 ms period,
# lib/cap.sh), wrk -t1 on core 1 with headroom, so requests/s measures each server's own cost per request. Rotated
# order, ROUNDS rounds of DURATION seconds, medians of per-round ratios against the best peer of each row.
#
#   sudo Benchmarks/capped.sh                 # CAP=35 ROUNDS=3 DURATION=5; SCENARIOS="1k gzip identity 10m 404 close"
#
# Needs root, wrk, and the Debian packages nginx, h2o, lighttpd. BIN defaults to a fresh release build.
# Why capped: ../shared/notes/capped-benchmark.md and docs/PERFORMANCE.md ("Method").
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib/cap.sh
source Benchmarks/lib/peers.sh
CAP=${CAP:-35} ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5}
read -r -a scenarios <<<"${SCENARIOS:-1k gzip identity 10m 404 close}"
servers=(swerve nginx h2o lighttpd)
if [[ -z "${BIN:-}" ]]; then
    swift build -c release --product swerve >/dev/null
    BIN=.build/release/swerve
fi
WORK=$(mktemp -d /tmp/swerve-capped-XXXXXX)
declare -A pid port
cleanup() {
    for s in "${servers[@]}"; do [[ -n "${pid[$s]:-}" ]] && kill "${pid[$s]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for s in "${servers[@]}"; do cap_remove "capped-$s"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
python3 Benchmarks/lib/make_site.py "$WORK/site"
gzip -9 -k -n "$WORK/site/app.js"
cp "$WORK/site/app.js" "$WORK/site/app2.js"

next_port=18800
for s in "${servers[@]}"; do
    port[$s]=$next_port
    next_port=$((next_port + 1))
    if [[ $s == swerve ]]; then
        taskset -c 0 "$BIN" --root "$WORK/site" --host 127.0.0.1 --port "${port[$s]}" --workers 1 --access-log off \
            >"$WORK/swerve.log" 2>&1 &
        pid[$s]=$!
    else
        peer_start "$s" "$WORK/$s" "$WORK/site" "${port[$s]}"
        pid[$s]=$PEER_PID
    fi
    for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:${port[$s]}/index.html" && break; sleep 0.05; done
    cap_create "capped-$s" "$CAP"
    cap_add "capped-$s" $(peer_pids "${pid[$s]}")
    # Warm every server's caches (open files, compressed bodies) before measuring.
    for scenario in "${scenarios[@]}"; do
        curl -s -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:${port[$s]}$(peer_url_path "$s" "$scenario")"
    done
done

cpu_ticks() {  # PID: utime + stime of the process tree (ticks)
    local total=0 p
    for p in $(peer_pids "$1"); do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
    echo "$total"
}

results="$WORK/results.tsv"
echo "## capped at ${CAP}% of core 0, wrk -t1 on core 1, $ROUNDS rounds of ${DURATION}s, $(date -u '+%F %T UTC'); uptime: $(uptime)"
echo "## versions: swerve $(git rev-parse --short HEAD), $(nginx -v 2>&1 | sed 's/.*: //'), h2o $(h2o --version | head -1 | awk '{print $3}'), $(lighttpd -v | awk '{print $1}')"
for round in $(seq 1 "$ROUNDS"); do
    for scenario in "${scenarios[@]}"; do
        conns=64
        extra=()
        case "$scenario" in
            10m) conns=8 ;;
            gzip) extra=(-H 'Accept-Encoding: gzip') ;;
            close) extra=(-H 'Connection: close') ;;
        esac
        for k in "${!servers[@]}"; do
            s=${servers[$(( (round + k) % ${#servers[@]} ))]}
            before=$(cpu_ticks "${pid[$s]}")
            out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${DURATION}s" --latency "${extra[@]}" \
                "http://127.0.0.1:${port[$s]}$(peer_url_path "$s" "$scenario")" 2>&1)
            after=$(cpu_ticks "${pid[$s]}")
            requests=$(awk '/requests in/ {print $1}' <<<"$out")
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
            errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scenario" "$s" "$rps" "$requests" "$(( (after - before) * 10000 ))" "$p99" >>"$results"
            printf 'round %d %-9s %-9s %10s req/s  p99 %-9s %s\n' "$round" "$scenario" "$s" "$rps" "$p99" "$errors"
        done
    done
done
python3 - "$results" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(lambda: collections.defaultdict(dict))
order = []
for line in open(sys.argv[1]):
    r, scenario, server, rps, n, cpu_us, p99 = line.rstrip("\n").split("\t")
    rows[scenario][r][server] = (float(rps), int(n), int(cpu_us), p99)
    if scenario not in order: order.append(scenario)
print()
print("| scenario | Swerve req/s | nginx | h2o | lighttpd | best peer | Swerve / best (per-round) | server µs/req (Swerve, nginx, h2o, lighttpd) |")
print("|---|---|---|---|---|---|---|---|")
for scenario in order:
    rounds = rows[scenario]
    med = {s: statistics.median(v[s][0] for v in rounds.values()) for s in ("swerve", "nginx", "h2o", "lighttpd")}
    us = {s: statistics.median(v[s][2] / max(1, v[s][1]) for v in rounds.values()) for s in med}
    best = max(("nginx", "h2o", "lighttpd"), key=lambda s: med[s])
    ratios = [v["swerve"][0] / v[best][0] for v in rounds.values()]
    print(f"| {scenario} | {med['swerve']:.0f} | {med['nginx']:.0f} | {med['h2o']:.0f} | {med['lighttpd']:.0f} | {best} | "
          f"**{statistics.median(ratios):.2f}** ({' '.join(f'{x:.2f}' for x in ratios)}) | "
          f"{us['swerve']:.1f}, {us['nginx']:.1f}, {us['h2o']:.1f}, {us['lighttpd']:.1f} |")
PY
