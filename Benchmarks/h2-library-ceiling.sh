#!/usr/bin/env bash
# What a server built on libnghttp2 reaches on the HTTP/2 1 KiB row, beside Swerve and h2o:
#   - nghttpd, nghttp2's own server (Debian nghttp2-server; libev, OpenSSL, files from disk, no compression or
#     caching logic);
#   - the do-nothing responder (lib/h2-responder.c, compiled here with cc): libnghttp2 and OpenSSL and nothing else,
#     every request answered with the same 1 KiB response from memory, headers never looked at.
# Each is held to CAP% of core 0 (lib/cap.sh), h2load -t1 -c64 -m10 on core 1, over TLS (ALPN h2), ROUNDS rounds of
# DURATION seconds per server in the order A B C D D C B A. Prints req/s and server CPU µs per request per run, then
# the medians.
#
#   sudo Benchmarks/h2-library-ceiling.sh          # CAP=35 ROUNDS=3 DURATION=4; needs nghttp2-server, h2o, h2load,
#                                                  # libnghttp2-dev, libssl-dev
#
# Why: issue 17 asks HTTP/2 to match the best peer per CPU, and requires libnghttp2 for framing and HPACK. What the
# responder reaches is what the two libraries leave any server: where it stays below the best peer, no server on them
# can reach that peer. The gap between the responder and Swerve is Swerve's own.
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib/cap.sh
source Benchmarks/lib/peers.sh
CAP=${CAP:-35} ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-4}
BIN=${BIN:-.build/release/swerve}
[[ -x $BIN ]] || swift build -c release --product swerve >/dev/null
WORK=$(mktemp -d /tmp/swerve-h2ceiling-XXXXXX)
servers=(nghttpd swerve h2o responder)
declare -A port=([nghttpd]=18481 [swerve]=18482 [h2o]=18483 [responder]=18484) pid=()
cleanup() {
    for s in "${!pid[@]}"; do kill "${pid[$s]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for s in "${servers[@]}"; do cap_remove "ceiling-$s"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
export PEER_TLS_CERT="$WORK/cert.pem" PEER_TLS_KEY="$WORK/key.pem" PEER_HTTP2=1
python3 Benchmarks/lib/make_site.py "$WORK/site" >/dev/null
taskset -c 0 nghttpd -d "$WORK/site" "${port[nghttpd]}" "$WORK/key.pem" "$WORK/cert.pem" >"$WORK/nghttpd.log" 2>&1 &
pid[nghttpd]=$!
taskset -c 0 "$BIN" --root "$WORK/site" --host 127.0.0.1 --port "${port[swerve]}" --workers 1 --access-log off \
    --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" >"$WORK/swerve.log" 2>&1 &
pid[swerve]=$!
peer_start h2o "$WORK/h2o" "$WORK/site" "${port[h2o]}"
pid[h2o]=$PEER_PID
cc -O2 -o "$WORK/h2-responder" Benchmarks/lib/h2-responder.c $(pkg-config --cflags --libs libnghttp2 openssl)
taskset -c 0 "$WORK/h2-responder" "${port[responder]}" "$WORK/cert.pem" "$WORK/key.pem" "$WORK/site/index.html" \
    >"$WORK/responder.log" 2>&1 &
pid[responder]=$!
for s in "${servers[@]}"; do
    for _ in $(seq 100); do curl -fsk -o /dev/null "https://127.0.0.1:${port[$s]}/index.html" && break; sleep 0.05; done
    cap_create "ceiling-$s" "$CAP"
    cap_add "ceiling-$s" $(peer_pids "${pid[$s]}")
done
echo "## capped at ${CAP}% of core 0, h2load -t1 -c64 -m10 on core 1, 1 KiB over TLS, $(date -u '+%F %T UTC'); uptime: $(uptime)"
echo "## versions: swerve $(git rev-parse --short HEAD), $(nghttpd --version), h2o $(h2o --version | head -1 | awk '{print $3}')"
results="$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    for s in nghttpd swerve h2o responder responder h2o swerve nghttpd; do
        mapfile -t tree < <(peer_pids "${pid[$s]}")
        before=0; for p in "${tree[@]}"; do before=$((before + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
        out=$(taskset -c 1 h2load -t1 -c64 -m10 -D "$DURATION" "https://127.0.0.1:${port[$s]}/index.html" 2>&1)
        after=0; for p in "${tree[@]}"; do after=$((after + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
        n=$(awk '/^requests:/ {print $8}' <<<"$out")
        rps=$(awk '/^finished in/ {print $4}' <<<"$out")
        us=$(awk -v t="$((after - before))" -v n="$n" 'BEGIN {printf "%.1f", t * 10000 / n}')
        echo "round $round $s $rps req/s, $us µs/req, $(awk '/^requests:/ {print $10, "failed"}' <<<"$out")"
        echo "$s $rps $us" >>"$results"
    done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    s, rps, us = line.split()
    rows.setdefault(s, []).append((float(rps), float(us)))
print()
print("| server | req/s (median) | µs/req (median) | / h2o |")
print("|---|---|---|---|")
h2o = statistics.median(r for r, _ in rows["h2o"])
for s in ("nghttpd", "responder", "swerve", "h2o"):
    r = statistics.median(x for x, _ in rows[s]); u = statistics.median(x for _, x in rows[s])
    print(f"| {s} | {r:.0f} | {u:.1f} | {r / h2o:.2f} |")
PY
