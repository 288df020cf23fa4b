#!/usr/bin/env bash
# Issue 18: what brotli and zstd buy and cost beside gzip, all three made by Swerve itself and kept in its cache.
#
#   sudo Benchmarks/codings.sh [ROUNDS] [SECONDS]        (defaults 6 rounds of 5 s; CAP=35 in the environment)
#
# 1. Bytes on the wire per coding, first pass and after the background recompression, for the benchmark's
#    JavaScript (app.js, 100 KiB) and CSS (site.css, 50 KiB) and for every compressible file of the demo site
#    (html/), with the compression time of each first request (Server-Timing's dur on the miss). Every body is
#    decoded by the coding's reference tool (gzip -d, brotli -d, zstd -d) and compared with the file.
# 2. Cache-hit requests/s per coding: one Swerve (--workers 1) held to CAP% of core 0 (cgroup quota,
#    Benchmarks/lib/cap.sh), `wrk -t1 -c64` on core 1 asking for app.js and site.css with Accept-Encoding set to one
#    coding, the codings' order rotated every round; the median of per-round ratios to gzip's hits (target: each
#    within 5%), and the server's CPU µs per request from /proc/PID/stat.
#
# Runs as root (cgroups). BIN defaults to .build/release/swerve (swift build -c release --product swerve).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib/cap.sh
rounds=${1:-6} seconds=${2:-5}
CAP=${CAP:-35}
BIN=${BIN:-.build/release/swerve}
[[ -x "$BIN" ]] || { echo "no $BIN: swift build -c release --product swerve" >&2; exit 1; }
for tool in wrk curl gzip brotli zstd python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/swerve-codings-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    cap_remove codings
    rm -rf "$WORK"
}
trap cleanup EXIT
python3 Benchmarks/lib/make_site.py "$WORK/site"
rm "$WORK/site/big.bin"
cp -r html "$WORK/demo"

start() {  # ROOT PORT: a one-loop Swerve pinned to core 0, recompression on; sets last_pid
    taskset -c 0 "$BIN" --root "$1" --host 127.0.0.1 --port "$2" --workers 1 --access-log off --recompress on \
        >"$WORK/swerve-$2.log" 2>&1 &
    last_pid=$!
    pids+=("$last_pid")
    for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$2/" && return 0; sleep 0.05; done
    echo "Swerve on port $2 did not start" >&2
    exit 1
}

declare -A upgraded=([gzip]=-zopfli [br]=-br11 [zstd]=-zst19)

# fetch PORT PATH CODING OUT: the body into OUT, prints "length etag dur" (dur empty on a hit)
fetch() {
    local head
    head=$(curl -s -o "$4" -D - -H "Accept-Encoding: $3" "http://127.0.0.1:$1/$2" | tr -d '\r')
    grep -qi "^content-encoding: $3\$" <<<"$head" || { echo "/$2 was not sent in $3" >&2; exit 1; }
    local length etag dur
    length=$(awk -F': ' 'tolower($1) == "content-length" {print $2}' <<<"$head")
    etag=$(awk -F': ' 'tolower($1) == "etag" {print $2}' <<<"$head")
    dur=$(grep -oi 'desc="miss";dur=[0-9.]*' <<<"$head" | sed 's/.*dur=//' || true)
    echo "$length $etag ${dur:--}"
}

# decodes BODY in CODING and compares it with FILE
check() {
    local decoded=$WORK/decoded
    case $2 in
        gzip) gzip -dc "$1" > "$decoded" ;;
        br) brotli -dc "$1" > "$decoded" ;;
        zstd) zstd -qdc --memory=8MB "$1" > "$decoded" ;;
    esac
    cmp -s "$decoded" "$3" || { echo "$2 body of $3 does not decode to it" >&2; exit 1; }
}

echo "## codings: $(date -u '+%F %T') UTC, swerve $(git rev-parse --short HEAD); uptime: $(uptime)"

# ---- 1. bytes and first-request time ----------------------------------------------------------------------------
sizes=$WORK/sizes
: > "$sizes"
measure_sizes() {  # LABEL ROOT PORT FILE...
    local label=$1 root=$2 port=$3
    shift 3
    start "$root" "$port"
    local file coding first later
    for file in "$@"; do
        for coding in gzip br zstd; do
            first=$(fetch "$port" "$file" "$coding" "$WORK/body")
            check "$WORK/body" "$coding" "$root/$file"
            echo "$label $file $coding first $first $(stat -c %s "$root/$file")" >> "$sizes"
        done
    done
    # The recompression runs on one idle-priority thread: ask until every body is the upgraded one (60 s at most).
    for file in "$@"; do
        for coding in gzip br zstd; do
            for _ in $(seq 600); do
                later=$(fetch "$port" "$file" "$coding" "$WORK/body")
                [[ $(awk '{print $2}' <<<"$later") == *"${upgraded[$coding]}\"" ]] && break
                sleep 0.1
            done
            [[ $(awk '{print $2}' <<<"$later") == *"${upgraded[$coding]}\"" ]] || echo "warning: /$file in $coding was not recompressed" >&2
            check "$WORK/body" "$coding" "$root/$file"
            echo "$label $file $coding later $later $(stat -c %s "$root/$file")" >> "$sizes"
        done
    done
}
measure_sizes bench "$WORK/site" 18501 app.js site.css
demo_files=$(cd "$WORK/demo" && find . -type f \( -name '*.html' -o -name '*.css' -o -name '*.js' -o -name '*.svg' \) -size +255c | sed 's|^\./||' | sort)
# shellcheck disable=SC2086
measure_sizes demo "$WORK/demo" 18502 $demo_files

python3 - "$sizes" <<'PY'
import collections, sys
rows = collections.defaultdict(dict)
identity = {}
for line in open(sys.argv[1]):
    label, path, coding, when, length, etag, dur, size = line.split()
    rows[(label, path)][(coding, when)] = (int(length), None if dur == "-" else float(dur))
    identity[(label, path)] = int(size)
def cell(row, coding, when):
    return row.get((coding, when), (0, None))[0]
print("\nBytes on the wire (Content-Length) per coding: first pass (gzip 6, brotli 5, zstd 3), then after the")
print("recompression (zopfli, brotli 11, zstd 19); first-request compression time from Server-Timing, in ms.\n")
print("| file | identity | gzip | gzip, zopfli | br | br 11 | zstd | zstd 19 | ms gzip, br, zstd (first request) |")
print("|---|---|---|---|---|---|---|---|---|")
totals = collections.Counter()
for (label, path), row in sorted(rows.items()):
    times = ", ".join(f"{row[(c, 'first')][1]:.2f}" if row[(c, 'first')][1] is not None else "-" for c in ("gzip", "br", "zstd"))
    cells = [cell(row, c, w) for c in ("gzip", "br", "zstd") for w in ("first", "later")]
    name = path if label == "bench" else "demo: " + path
    print(f"| {name} | {identity[(label, path)]:,} | " + " | ".join(f"{v:,}" for v in cells) + f" | {times} |")
    if label == "demo":
        totals["identity"] += identity[(label, path)]
        for c in ("gzip", "br", "zstd"):
            for w in ("first", "later"):
                totals[(c, w)] += cell(row, c, w)
cells = [totals[(c, w)] for c in ("gzip", "br", "zstd") for w in ("first", "later")]
print(f"| demo site, {sum(1 for k in rows if k[0] == 'demo')} files | {totals['identity']:,} | " + " | ".join(f"{v:,}" for v in cells) + " | |")
PY

for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

# ---- 2. cache-hit requests/s per coding, capped -----------------------------------------------------------------
port=18503
start "$WORK/site" "$port"
swerve_pid=$last_pid
for file in app.js site.css; do
    for coding in gzip br zstd; do
        for _ in $(seq 600); do
            [[ $(fetch "$port" "$file" "$coding" "$WORK/body" | awk '{print $2}') == *"${upgraded[$coding]}\"" ]] && break
            sleep 0.1
        done
    done
done
cap_create codings "$CAP"
cap_add codings "$swerve_pid"
ticks() { awk '{print $14 + $15}' "/proc/$swerve_pid/stat"; }
hz=$(getconf CLK_TCK)
results=$WORK/hits
: > "$results"
echo
echo "Cache hits, Swerve at ${CAP}% of core 0, wrk -t1 -c64 -d${seconds}s on core 1, $rounds rounds (order rotated):"
codings=(gzip br zstd)
for round in $(seq 1 "$rounds"); do
    for file in app.js site.css; do
        for offset in 0 1 2; do
            coding=${codings[$(( (round - 1 + offset) % 3 ))]}
            before=$(ticks)
            out=$(taskset -c 1 wrk -t1 -c64 -d"${seconds}s" -H "Accept-Encoding: $coding" "http://127.0.0.1:$port/$file" 2>&1)
            after=$(ticks)
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            n=$(awk '/requests in/ {print $1}' <<<"$out")
            [[ -n "$rps" && -n "$n" ]] || { echo "wrk failed: $out" >&2; exit 1; }
            us=$(python3 -c "print(f'{($after - $before) / $hz * 1e6 / $n:.1f}')")
            printf 'round %d %-9s %-5s %10.0f req/s  server %6s µs/req\n' "$round" "$file" "$coding" "$rps" "$us"
            echo "$round $file $coding $rps $us" >> "$results"
        done
    done
done
python3 - "$results" "$sizes" <<'PY'
import collections, statistics, sys
by = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r, path, coding, rps, us = line.split()
    by[(path, r)][coding] = (float(rps), float(us))
lengths = {}
for line in open(sys.argv[2]):
    label, path, coding, when, length, *_ = line.split()
    if label == "bench" and when == "later":
        lengths[(path, coding)] = int(length)
print("\n| file | coding | body bytes | req/s (median) | / gzip (median of per-round ratios) | per-round | server µs/req |")
print("|---|---|---|---|---|---|---|")
for path in ("app.js", "site.css"):
    rounds = sorted((r for (p, r) in by if p == path), key=int)
    for coding in ("gzip", "br", "zstd"):
        rps = [by[(path, r)][coding][0] for r in rounds]
        us = [by[(path, r)][coding][1] for r in rounds]
        ratios = [by[(path, r)][coding][0] / by[(path, r)]["gzip"][0] for r in rounds]
        print(f"| {path} | {coding} | {lengths.get((path, coding), 0):,} | {statistics.median(rps):,.0f} | "
              f"**{statistics.median(ratios):.3f}** | {' '.join(f'{x:.2f}' for x in ratios)} | {statistics.median(us):.1f} |")
PY
