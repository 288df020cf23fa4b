#!/usr/bin/env bash
# Swerve against nginx, h2o and lighttpd per CPU: every server held to CAP% of core 0 (cgroup quota, 10 ms period,
# lib/cap.sh), wrk -t1 on core 1 with headroom, so requests/s measures each server's own cost per request. ROUNDS
# rounds; in each, every row runs the servers in a rotated order and then in the reverse order, DURATION seconds each
# time (A B C D E E D C B A: a drift of the machine's speed across the round weighs on every server alike), and a
# server's figure for the round is the mean of its two runs. Medians of per-round ratios against the best peer of
# each row.
#
#   sudo Benchmarks/capped.sh                 # CAP=35 ROUNDS=4 DURATION=3; SCENARIOS="1k gzip identity 10m 404 close"
#   CEILING=0 Benchmarks/capped.sh            # without the do-nothing responder
#   TLS=1 Benchmarks/capped.sh                # HTTPS (HTTP/1.1 over TLS): SCENARIOS="1k gzip 10m close" by default
#   H2=1 Benchmarks/capped.sh                 # HTTP/2 over TLS (ALPN h2), h2load -m 10: SCENARIOS="1k gzip 10m"
#
# TLS=1: every server serves HTTPS with the same throwaway ECDSA P-256 certificate (made here with openssl), TLS 1.2-1.3
# with the same OpenSSL (Debian's libssl3 for all four), session tickets on, wrk offers only http/1.1 by ALPN and speaks TLS.
# The clients offer TLS 1.3's suites in the browsers' order (AES-128-GCM first), so every server negotiates the same
# suite; the version, suite and ALPN protocol each one negotiated are printed before the rows. The
# `close` row opens a new connection per request, so it measures full handshakes per second (wrk does not resume
# sessions). No responder in this mode.
#
# H2=1 (implies TLS=1): every server speaks HTTP/2 over that TLS (nginx `listen ... ssl http2`, h2o and lighttpd by
# ALPN), and the client is h2load -t1 with 10 streams in flight per connection (-m 10) instead of wrk; h2load gives
# no percentiles, so p99 is "-".
#
# Beside the four servers runs lib/responder.c under the same cap (CEILING=1, the default): per row, a process that
# parses nothing and answers every request with Swerve's exact bytes for it, sent as Swerve sends them. What it
# reaches is what the kernel's share of the row allows any server: where even it is not 1.05x the best peer, no
# server's own work could be.
#
# Needs root, wrk, gcc, and the Debian packages nginx, h2o, lighttpd. BIN defaults to a fresh release build.
# Why capped: ../shared/notes/capped-benchmark.md and docs/PERFORMANCE.md ("Method").
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/lib/cap.sh
source Benchmarks/lib/peers.sh
source Benchmarks/lib/responder.sh
CAP=${CAP:-35} ROUNDS=${ROUNDS:-4} DURATION=${DURATION:-3} CEILING=${CEILING:-1} TLS=${TLS:-0} H2=${H2:-0}
if [[ $H2 == 1 ]]; then
    TLS=1
    CEILING=0
    export PEER_HTTP2=1
    read -r -a scenarios <<<"${SCENARIOS:-1k gzip 10m}"
elif [[ $TLS == 1 ]]; then
    CEILING=0
    read -r -a scenarios <<<"${SCENARIOS:-1k gzip 10m close}"
else
    read -r -a scenarios <<<"${SCENARIOS:-1k gzip identity 10m 404 close}"
fi
servers=(swerve nginx h2o lighttpd)
[[ $CEILING == 1 ]] && servers+=(responder)
if [[ -z "${BIN:-}" ]]; then
    swift build -c release --product swerve >/dev/null
    BIN=.build/release/swerve
fi
WORK=$(mktemp -d /tmp/swerve-capped-XXXXXX)
declare -A pid port responder_port
responder_pids=()
cleanup() {
    for s in "${servers[@]}"; do [[ -n "${pid[$s]:-}" ]] && kill "${pid[$s]}" 2>/dev/null || true; done
    for p in "${responder_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for s in "${servers[@]}"; do cap_remove "capped-$s"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
scheme=http
curl_tls=()
swerve_tls=()
if [[ $TLS == 1 ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
    export PEER_TLS_CERT="$WORK/cert.pem" PEER_TLS_KEY="$WORK/key.pem"
    scheme=https
    curl_tls=(-k)
    swerve_tls=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
fi
python3 Benchmarks/lib/make_site.py "$WORK/site"
gzip -9 -k -n "$WORK/site/app.js"
cp "$WORK/site/app.js" "$WORK/site/app2.js"

next_port=18800
for s in swerve nginx h2o lighttpd; do
    port[$s]=$next_port
    next_port=$((next_port + 1))
    if [[ $s == swerve ]]; then
        taskset -c 0 "$BIN" --root "$WORK/site" --host 127.0.0.1 --port "${port[$s]}" --workers 1 --access-log off \
            ${swerve_tls[@]+"${swerve_tls[@]}"} >"$WORK/swerve.log" 2>&1 &
        pid[$s]=$!
    else
        peer_start "$s" "$WORK/$s" "$WORK/site" "${port[$s]}"
        pid[$s]=$PEER_PID
    fi
    for _ in $(seq 100); do curl -fs ${curl_tls[@]+"${curl_tls[@]}"} -o /dev/null "$scheme://127.0.0.1:${port[$s]}/index.html" && break; sleep 0.05; done
    cap_create "capped-$s" "$CAP"
    cap_add "capped-$s" $(peer_pids "${pid[$s]}")
    # Warm every server's caches (open files, compressed bodies) before measuring.
    for scenario in "${scenarios[@]}"; do
        curl -s ${curl_tls[@]+"${curl_tls[@]}"} -o /dev/null -H 'Accept-Encoding: gzip' "$scheme://127.0.0.1:${port[$s]}$(peer_url_path "$s" "$scenario")"
    done
done
# Swerve compresses app2.js with zlib on the first request, then recompresses it with zopfli on an idle-priority
# thread of its own process, inside its cap: wait until that is done (the ETag names it), or it would be measured.
for _ in $(seq 300); do
    curl -s ${curl_tls[@]+"${curl_tls[@]}"} -o /dev/null -D - -H 'Accept-Encoding: gzip' "$scheme://127.0.0.1:${port[swerve]}/app2.js" | grep -qi '^etag: ".*-zopfli"' && break
    sleep 0.1
done

# The do-nothing responder: one process per row, answering with Swerve's bytes for that row's request.
if [[ $CEILING == 1 ]]; then
    build_responder "$WORK/responder"
    cap_create capped-responder "$CAP"
    for scenario in "${scenarios[@]}"; do
        dir="$WORK/responder-$scenario"
        mkdir -p "$dir"
        # The request wrk sends in this row, and how Swerve sends that answer's body.
        request=()
        options=()
        case "$scenario" in
            close) request=(-H 'Connection: close'); options=(close) ;;
            gzip) request=(-H 'Accept-Encoding: gzip'); options=(memfd) ;;   # from its cache: a memfd
        esac
        # Swerve writes a small body with its head in one writev: so does the responder (lib/responder.sh).
        responder_answer "$dir" "http://127.0.0.1:${port[swerve]}$(peer_url_path swerve "$scenario")" ${request[@]+"${request[@]}"}
        body="$dir/body"
        responder_port[$scenario]=$next_port
        next_port=$((next_port + 1))
        taskset -c 0 "$WORK/responder" "${responder_port[$scenario]}" "$dir/head" "$body" ${options[@]+"${options[@]}"} \
            >"$dir/log" 2>&1 &
        responder_pids+=($!)
        cap_add capped-responder $!
        for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:${responder_port[$scenario]}/" && break; sleep 0.05; done
    done
fi

url_of() {  # SERVER SCENARIO
    if [[ $1 == responder ]]; then
        echo "http://127.0.0.1:${responder_port[$2]}/"
    else
        echo "$scheme://127.0.0.1:${port[$1]}$(peer_url_path "$1" "$2")"
    fi
}

cpu_ticks() {  # PID...: utime + stime of these processes (ticks)
    local total=0 p
    for p in "$@"; do
        t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue   # a helper that has exited
        total=$((total + t))
    done
    echo "$total"
}

results="$WORK/results.tsv"
client="wrk -t1"
[[ $H2 == 1 ]] && client="h2load -t1 -m10"
echo "## capped at ${CAP}% of core 0, $client on core 1, $ROUNDS rounds of 2 x ${DURATION}s per server and row (rotated, then reversed), $(date -u '+%F %T UTC'); uptime: $(uptime)"
echo "## versions: swerve $(git rev-parse --short HEAD), $(nginx -v 2>&1 | sed 's/.*: //'), h2o $(h2o --version | head -1 | awk '{print $3}'), $(lighttpd -v | awk '{print $1}')"
if [[ $TLS == 1 ]]; then
    # The clients offer TLS 1.3's suites in the browsers' order (Chrome's and Firefox's: AES-128-GCM first), through
    # OpenSSL's configuration file, which wrk and h2load read at start (h2load's own default is this order already;
    # wrk's, OpenSSL's, starts with AES-256-GCM). Set only now, after every server started: the servers keep their
    # own configuration. Each server then negotiates the same suite, or the row is unfair: checked below with the
    # row's own client.
    cat >"$WORK/client-tls.cnf" <<'CNF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_section
[ssl_section]
system_default = client_defaults
[client_defaults]
Ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
CNF
    export OPENSSL_CONF="$WORK/client-tls.cnf"
    for s in swerve nginx h2o lighttpd; do
        if [[ $H2 == 1 ]]; then
            echo "## $s: $(h2load -n 1 -c 1 "$scheme://127.0.0.1:${port[$s]}/index.html" 2>/dev/null \
                | awk '/^TLS Protocol:/ {v=$3} /^Cipher:/ {c=$2} /^Application protocol:/ {a=$3} END {print v, c, "ALPN", a}')"
        else
            echo "## $s: $(openssl s_client -connect "127.0.0.1:${port[$s]}" -alpn http/1.1 </dev/null 2>/dev/null \
                | awk '/^New, / {v=$2; c=$5} /ALPN protocol/ {a=$3} END {print v, c, "ALPN", a}')"
        fi
    done
fi
for round in $(seq 1 "$ROUNDS"); do
    for scenario in "${scenarios[@]}"; do
        conns=64
        extra=()
        case "$scenario" in
            10m) conns=8 ;;
            gzip) extra=(-H 'Accept-Encoding: gzip') ;;
            close) extra=(-H 'Connection: close') ;;
        esac
        order=()
        for k in "${!servers[@]}"; do order+=("${servers[$(( (round + k) % ${#servers[@]} ))]}"); done
        for ((k = ${#servers[@]} - 1; k >= 0; k--)); do order+=("${order[$k]}"); done
        for s in "${order[@]}"; do
            if [[ $s == responder ]]; then tree=("${responder_pids[@]}"); else mapfile -t tree < <(peer_pids "${pid[$s]}"); fi
            before=$(cpu_ticks "${tree[@]}")
            # The client's own CPU (user + system seconds, from bash's `time`): near 100% of its core, the client set
            # the pace.
            if [[ $H2 == 1 ]]; then
                out=$( { TIMEFORMAT='wrkcpu %U %S'; time taskset -c 1 h2load -t1 -c"$conns" -m10 -D "$DURATION" "${extra[@]}" \
                    "$(url_of "$s" "$scenario")"; } 2>&1)
                requests=$(awk '/^requests:/ {print $8}' <<<"$out")
                rps=$(awk '/^finished in/ {print $4}' <<<"$out")
                p99=-
                seconds=$(awk '/^finished in/ {sub(/s,$/, "", $3); print $3}' <<<"$out")
            else
                out=$( { TIMEFORMAT='wrkcpu %U %S'; time taskset -c 1 wrk -t1 -c"$conns" -d"${DURATION}s" --latency "${extra[@]}" \
                    "$(url_of "$s" "$scenario")"; } 2>&1)
                requests=$(awk '/requests in/ {print $1}' <<<"$out")
                rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
                p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
                seconds=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' <<<"$out")
            fi
            after=$(cpu_ticks "${tree[@]}")
            wrk_busy=$(awk -v s="$seconds" '/^wrkcpu/ {printf "%.0f", ($2 + $3) / s * 100}' <<<"$out")
            server_busy=$(awk -v t="$((after - before))" -v s="$seconds" 'BEGIN {printf "%.0f", t / 100 / s * 100}')
            errors=$(awk '/Non-2xx|Socket errors/ {print} /^requests:/ && ($10 + $12 > 0) {print}' <<<"$out" | tr '\n' ' ')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scenario" "$s" "$rps" "$requests" "$(( (after - before) * 10000 ))" \
                "$p99" "$server_busy" "$wrk_busy" >>"$results"
            printf 'round %d %-9s %-9s %10s req/s  p99 %-9s server %3s%%  wrk %3s%%  %s\n' "$round" "$scenario" "$s" "$rps" "$p99" \
                "$server_busy" "$wrk_busy" "$errors"
        done
    done
done
python3 - "$results" "$CAP" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(lambda: collections.defaultdict(dict))
order = []
for line in open(sys.argv[1]):
    r, scenario, server, rps, n, cpu_us, p99, server_busy, wrk_busy = line.rstrip("\n").split("\t")
    rows[scenario][r].setdefault(server, []).append(
        {"rps": float(rps), "requests": int(n), "cpu_us": int(cpu_us), "server_busy": float(server_busy), "wrk_busy": float(wrk_busy)})
    if scenario not in order: order.append(scenario)
# A server's figures for a round: the mean of its two runs (req/s, CPU %), the sum of requests and CPU time.
for rounds in rows.values():
    for runs in rounds.values():
        for server, legs in runs.items():
            runs[server] = {key: (sum if key in ("requests", "cpu_us") else statistics.mean)(leg[key] for leg in legs)
                            for key in legs[0]}
ceiling = any("responder" in v for rounds in rows.values() for v in rounds.values())
servers = ("swerve", "nginx", "h2o", "lighttpd") + (("responder",) if ceiling else ())
print()
print(f"Server CPU % is utime + stime over the run in % of one core (the cap is {sys.argv[2]}%; softirq work is not")
print("charged to it); wrk CPU % near 100 means the client, not that server, set the pace in that row.")
print()
print("| scenario | Swerve req/s | nginx | h2o | lighttpd | best peer | Swerve / best (per-round) | "
      + ("responder req/s | responder / best | " if ceiling else "")
      + "server µs/req (" + ", ".join(servers) + ") | server CPU % (same order) | wrk CPU % (same order) |")
print("|---|---|---|---|---|---|---|" + ("---|---|" if ceiling else "") + "---|---|---|")
for scenario in order:
    rounds = rows[scenario]
    med = {s: statistics.median(v[s]["rps"] for v in rounds.values()) for s in servers}
    us = {s: statistics.median(v[s]["cpu_us"] / max(1, v[s]["requests"]) for v in rounds.values()) for s in med}
    best = max(("nginx", "h2o", "lighttpd"), key=lambda s: med[s])
    def against_best(server):
        ratios = [v[server]["rps"] / v[best]["rps"] for v in rounds.values()]
        return f"**{statistics.median(ratios):.2f}** ({' '.join(f'{x:.2f}' for x in ratios)})"
    print(f"| {scenario} | {med['swerve']:.0f} | {med['nginx']:.0f} | {med['h2o']:.0f} | {med['lighttpd']:.0f} | {best} | "
          f"{against_best('swerve')} | "
          + (f"{med['responder']:.0f} | {against_best('responder')} | " if ceiling else "")
          + ", ".join(f"{us[s]:.1f}" for s in servers) + " | "
          + ", ".join(f"{statistics.median(v[s]['server_busy'] for v in rounds.values()):.0f}" for s in servers) + " | "
          + ", ".join(f"{statistics.median(v[s]['wrk_busy'] for v in rounds.values()):.0f}" for s in servers) + " |")
PY
