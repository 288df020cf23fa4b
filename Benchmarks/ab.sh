#!/usr/bin/env bash
# Alternating A/B rounds against servers that are already running (start them pinned to CPU 0 yourself):
#   Benchmarks/ab.sh ROUNDS SECONDS LABEL=URL LABEL=URL ... [-- extra wrk arguments]
# e.g. Benchmarks/ab.sh 10 2 nginx=http://127.0.0.1:8081/app.js swerve=http://127.0.0.1:8080/app2.js \
#        -- -H 'Accept-Encoding: gzip'
# Each round runs `taskset -c 1 wrk -t1 -c64 -dSECONDSs` (CONNS=8 in the environment: -c8) once per URL, rotating
# the order (round r starts with the r-th URL: the position in a round moves a result by several percent here) and
# prints req/s and wrk's own CPU per response (user + system time / responses). At the end: for every label after
# the first, the median over the rounds of its per-round ratio to the first label (req/s and wrk µs/req). On this
# shared machine only such paired ratios mean anything; single numbers drift by tens of percent within a minute.
# H2=1 in the environment: `h2load -t1 -c64 -m10 -DSECONDS` instead of wrk (HTTP/2; https URLs negotiate h2 by ALPN,
# http ones use prior knowledge), the client's CPU taken the same way.
set -euo pipefail
[[ $# -ge 4 ]] || { sed -n '2,10p' "$0" >&2; exit 64; }
rounds=$1 seconds=$2
shift 2
specs=()
while [[ $# -gt 0 && "$1" != "--" ]]; do specs+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
extra=("$@")
results=$(mktemp)
trap 'rm -f "$results"' EXIT
count=${#specs[@]}
for round in $(seq 1 "$rounds"); do
    for offset in $(seq 0 $((count - 1))); do
        spec=${specs[$(( (round - 1 + offset) % count ))]}
        label=${spec%%=*} url=${spec#*=}
        if [[ "${H2:-0}" == 1 ]]; then
            out=$(/usr/bin/time -f "wrkcpu %U %S" taskset -c 1 h2load -t1 -c"${CONNS:-64}" -m10 -D"$seconds" ${extra[@]+"${extra[@]}"} "$url" 2>&1)
            rps=$(awk '/^finished in/ {print $4}' <<<"$out")
            n=$(awk '/^requests:/ {print $8}' <<<"$out")
        else
            out=$(/usr/bin/time -f "wrkcpu %U %S" taskset -c 1 wrk -t1 -c"${CONNS:-64}" -d"${seconds}s" ${extra[@]+"${extra[@]}"} "$url" 2>&1)
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            n=$(awk '/requests in/ {print $1}' <<<"$out")
        fi
        cpu=$(awk '/^wrkcpu/ {print $2 + $3}' <<<"$out")
        echo "$round $label $rps $n $cpu" >>"$results"
        printf 'round %2d  %-12s %10.0f req/s  wrk %6.2f µs/req\n' "$round" "$label" "$rps" "$(bc -l <<<"$cpu * 1000000 / $n")"
    done
done
python3 - "$results" <<'PY'
import collections, statistics, sys
rounds = collections.defaultdict(dict)
order = []
for line in open(sys.argv[1]):
    r, label, rps, n, cpu = line.split()
    rounds[r][label] = (float(rps), float(cpu) * 1e6 / float(n))
    if label not in order: order.append(label)
base = order[0]
for label in order[1:]:
    rps = [v[label][0] / v[base][0] for v in rounds.values()]
    us = [v[label][1] / v[base][1] for v in rounds.values()]
    print(f"{label} / {base}: req/s median {statistics.median(rps):.3f} (rounds {' '.join(f'{x:.2f}' for x in rps)}), "
          f"wrk µs/req median {statistics.median(us):.3f}")
PY
