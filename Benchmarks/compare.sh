#!/usr/bin/env bash
# Swerve against nginx, h2o and lighttpd on this machine. First per CPU: Benchmarks/capped.sh holds every server to
# CAP% of one core (default 35; CAP=0 skips it) and prints each row against the best peer. Then uncapped, all four
# side by side: throughput, p99 latency, server CPU per request, memory, the 10,000-connection row, syscalls per
# request, each row against the best peer.
#
# Beside the four servers, every uncapped row also runs the do-nothing responder (lib/responder.c, as in capped.sh):
# a process that parses nothing and answers every request with Swerve's exact bytes for that row, sent as Swerve sends
# them, pinned to the servers' CPU and uncapped like them, rotated with them, started fresh for each run. Where one
# wrk thread sets the pace (10m, c10k: wrk at ~100% of its core for every server), what it reaches is what the client
# leaves any server: where even "responder / best" is not at the target, no server could be. It is never the best
# peer, and it is not in the memory, sanity-check or syscall tables (only in the runs).
#
#   Benchmarks/compare.sh                      # full run: the capped table (~25 min), then 3 rounds of 10 s (~25 min)
#   DURATION=5 Benchmarks/compare.sh           # shorter runs
#   QUICK=1 Benchmarks/compare.sh              # CI smoke: 3 s runs, one round (capped and uncapped)
#   CAPPED_ROUNDS=8 Benchmarks/compare.sh      # rounds of the capped table (default 6, each 2 x CAPPED_DURATION=3 s per server)
#   SWERVE_SCRATCH=.build-bench Benchmarks/compare.sh   # build Swerve in its own scratch directory
#   CEILING=0 Benchmarks/compare.sh            # without the do-nothing responder (uncapped rows and capped.sh's)
#   RESULTS_DIR=/tmp/bench Benchmarks/compare.sh        # also keep the raw TSVs and wrk outputs there
#
# Needs root (apt installs, taskset, strace) and gcc for the responder. See Benchmarks/README.md for what each number
# means.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
source "$BENCH_DIR/lib/peers.sh"
source "$BENCH_DIR/lib/responder.sh"

SWERVE_SCRATCH="${SWERVE_SCRATCH:-.build}"   # relative paths are relative to the repository
QUICK="${QUICK:-0}"
if [[ "$QUICK" == 1 ]]; then
    DURATION="${DURATION:-3}"
    ROUNDS="${ROUNDS:-1}"
    CAPPED_ROUNDS="${CAPPED_ROUNDS:-1}"
else
    DURATION="${DURATION:-10}"
    ROUNDS="${ROUNDS:-3}"
    # Six: a single round's ratio spreads by ±10-15% here (the machine's speed drifts within a round), and the
    # median of four moved a row by 0.07 between two runs of the same build (1 KiB: 1.04 at 19:54, 1.11 at 21:11).
    CAPPED_ROUNDS="${CAPPED_ROUNDS:-6}"
fi
RESULTS_DIR="${RESULTS_DIR:-}"
CEILING="${CEILING:-1}"   # 0: no do-nothing responder, here or in capped.sh

SERVER_CPU=0          # both servers run on this CPU ...
CLIENT_CPU=1          # ... and every load generator on this one
IDLE_CONNS=2000       # idle keep-alive connections for the RSS-per-connection measurement
C10K_CONNS=10000      # connections in the c10k scenario
FD_LIMIT=20000        # the machine's hard cap; wrk and both servers inherit it

# Scenarios, in run order. Each is measured once per round for each server, side by side in time.
SCENARIOS=(1k js-gzip js-gzip-cache js-identity 10m 404 close pipeline16 c10k)
# Paths traced for syscalls per request.
STRACE_SCENARIOS=(1k 10m js-gzip js-gzip-cache 404)

WORK=""               # temp dir: the site, configs, logs, results
SITE=""
SWERVE_BIN=""
SERVERS=(swerve nginx h2o lighttpd)   # Swerve first; the others are its peers (lib/peers.sh)
SWERVE_PID="" ; SWERVE_PORT=""        # the same as PID[swerve] / PORT[swerve], for ceiling.sh
NGINX_PID=""  ; NGINX_PORT=""
HELPER_PIDS=()        # strace / connection holders we started
# The do-nothing responder of the uncapped rows: its name in runs.tsv (report.py never takes it for a peer), the
# compiled lib/responder.c, the process of the run in progress, and per answer kind the directory holding the
# HEADFILE and BODYFILE it is given (head, body) and its options (memfd, close).
RESPONDER=responder
RESPONDER_EXE=""
RESPONDER_RUN_PID="" ; RESPONDER_RUN_PORT=""
declare -A RESPONDER_DIR=() RESPONDER_OPTIONS=()
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------------------
# Cleanup: stop every process this script started (by pid only) and remove the temp dir.
# ---------------------------------------------------------------------------------------------------------------
# True while PID runs (an exited child that was not reaped yet is a zombie: not running).
running() {
    [[ -r "/proc/$1/stat" ]] || return 1
    [[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]]
}

stop_pid() {   # TERM, up to 3 s grace, then KILL; reaps the child
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    running "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
        running "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? pid name
    trap - EXIT INT TERM
    for pid in "${HELPER_PIDS[@]}"; do stop_pid "$pid"; done
    stop_pid "${RESPONDER_RUN_PID:-}"
    for name in "${!PID[@]}"; do stop_pid "${PID[$name]}"; done   # TERM to the nginx master stops its worker too
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ -n "$RESULTS_DIR" ]]; then
            mkdir -p "$RESULTS_DIR"
            cp -r "$WORK/results/." "$RESULTS_DIR/" 2>/dev/null || true
            cp "$WORK"/*.log "$RESULTS_DIR/" 2>/dev/null || true
        fi
        rm -rf "$WORK"
    fi
    exit "$status"
}

# ---------------------------------------------------------------------------------------------------------------
# Step 1: tools. Installs with apt only what is missing (apt-get update once, first).
# ---------------------------------------------------------------------------------------------------------------
install_dependencies() {   # [COMMAND=PACKAGE ...]: more tools a caller needs (ceiling.sh)
    [[ "$(id -u)" == 0 ]] || die "run as root (apt installs, strace attach)"
    # command -> Debian package
    local -A needs=(
        [wrk]=wrk [nginx]=nginx [curl]=curl [gzip]=gzip [taskset]=util-linux
        [pgrep]=procps [strace]=strace [python3]=python3 [getconf]=libc-bin [h2o]=h2o [lighttpd]=lighttpd
    )
    if [[ "$CEILING" != 0 ]]; then needs[gcc]=gcc; fi   # the responder (here and in capped.sh)
    local extra
    for extra in "$@"; do needs[${extra%%=*}]=${extra#*=}; done
    local missing=() cmd
    for cmd in "${!needs[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}")
    done
    # nginx also needs its mime.types file
    [[ -f /etc/nginx/mime.types ]] || missing+=(nginx-common)
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q "${missing[@]}" >/dev/null
    fi
    command -v swift >/dev/null 2>&1 || die "swift is not on PATH"
    ulimit -n "$FD_LIMIT" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

# ---------------------------------------------------------------------------------------------------------------
# Step 2: where and what we run on.
# ---------------------------------------------------------------------------------------------------------------
print_environment() {
    echo "## Swerve vs nginx, h2o and lighttpd — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo
    echo "- host: $(uname -srm), nproc $(nproc), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)  (uptime: $(uptime))"
    echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), h2o: $(h2o --version | head -1 | awk '{print $3}'), lighttpd: $(lighttpd -v | awk '{print $1}' | sed 's/^lighttpd\///')"
    echo "- wrk: $( (wrk -v 2>&1 || true) | head -1 | awk '{print $1, $2}')"
    echo "- swift: $(swift --version 2>&1 | head -1)"
    echo "- Swerve: $(cd "$REPO_DIR" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$REPO_DIR" && git diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ uncommitted changes in Sources/)')"
    echo "- servers pinned to CPU $SERVER_CPU, wrk -t1 pinned to CPU $CLIENT_CPU; $ROUNDS round(s) of ${DURATION}s per server and scenario, order rotated every round; fd limit $(ulimit -n)"
    if [[ "$CEILING" != 0 ]]; then
        echo "- uncapped rows also run the do-nothing responder (lib/responder.c) with Swerve's bytes for each row, rotated with the servers, a fresh process per run"
    fi
    echo
}

# ---------------------------------------------------------------------------------------------------------------
# Step 3: the deterministic site.
# ---------------------------------------------------------------------------------------------------------------
make_site() {
    SITE="$WORK/site"
    python3 "$BENCH_DIR/lib/make_site.py" "$SITE"     # index.html 1 KiB, app.js 100 KiB (~4x gzip), big.bin 10 MiB
    gzip -9 -k -n "$SITE/app.js"                     # app.js.gz: nginx gzip_static and Swerve's sidecar; same mtime
    cp "$SITE/app.js" "$SITE/app2.js"                # same bytes, no sidecar: Swerve compresses once and caches
    log "site: $(cd "$SITE" && stat -c '%n %s' index.html app.js app.js.gz app2.js big.bin | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------------------------
# Step 4: build Swerve (release) in its own scratch directory.
# ---------------------------------------------------------------------------------------------------------------
build_swerve() {
    log "building swerve (release, scratch path $SWERVE_SCRATCH)..."
    (cd "$REPO_DIR" && swift build -c release --static-swift-stdlib --scratch-path "$SWERVE_SCRATCH" --product swerve >"$WORK/build.log" 2>&1) \
        || { tail -30 "$WORK/build.log" >&2; die "swift build failed"; }
    SWERVE_BIN="$(cd "$REPO_DIR" && swift build -c release --static-swift-stdlib --scratch-path "$SWERVE_SCRATCH" --show-bin-path)/swerve"
    [[ -x "$SWERVE_BIN" ]] || die "no binary at $SWERVE_BIN"
}

# ---------------------------------------------------------------------------------------------------------------
# Servers: start, wait until listening, stop. Each is pinned to SERVER_CPU; its pids are what we measure.
# Swerve is started here; nginx, h2o and lighttpd by lib/peers.sh, configured as capped.sh runs them.
# ---------------------------------------------------------------------------------------------------------------
declare -A PID=() PORT=()

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True once something LISTENs on 127.0.0.1:PORT (read from /proc/net/tcp: no request is sent).
is_listening() {
    local hex; hex="$(printf '%04X' "$1")"
    grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A" /proc/net/tcp
}

wait_listening() {   # PORT PID NAME LOGFILE
    for _ in $(seq 1 100); do
        is_listening "$1" && return 0
        running "$2" || { cat "$4" >&2; die "$3 exited during start-up"; }
        sleep 0.1
    done
    cat "$4" >&2
    die "$3 is not listening on port $1 after 10 s"
}

start_server() {   # NAME
    local name="$1" port log
    port="$(free_port)"
    if [[ "$name" == swerve ]]; then
        # The peers run with access logs off; so does Swerve (its log's cost is measured by Benchmarks/access-log.sh).
        log="$WORK/swerve.log"
        taskset -c "$SERVER_CPU" "$SWERVE_BIN" --root "$SITE" --host 127.0.0.1 --port "$port" --workers 1 \
            --access-log off >>"$log" 2>&1 &
        PID[$name]=$!
    else
        log="$WORK/$name/error.log"
        peer_start "$name" "$WORK/$name" "$SITE" "$port"
        PID[$name]=$PEER_PID
    fi
    PORT[$name]=$port
    wait_listening "$port" "${PID[$name]}" "$name" "$log"
    # nginx's master binds, then forks the worker: wait for the worker too.
    if [[ "$name" == nginx ]]; then
        for _ in $(seq 1 50); do
            [[ -n "$(nginx_worker)" ]] && break
            sleep 0.1
        done
        [[ -n "$(nginx_worker)" ]] || die "nginx worker did not start"
    fi
    # ceiling.sh reads these two.
    [[ "$name" == swerve ]] && SWERVE_PID="${PID[swerve]}" SWERVE_PORT="$port"
    [[ "$name" == nginx ]] && NGINX_PID="${PID[nginx]}" NGINX_PORT="$port"
    return 0
}

stop_server() {   # NAME (TERM to the nginx master stops its worker too)
    stop_pid "${PID[$1]:-}"
    PID[$1]=""
    [[ "$1" == swerve ]] && SWERVE_PID=""
    [[ "$1" == nginx ]] && NGINX_PID=""
    return 0
}

start_swerve() { start_server swerve; }
start_nginx()  { start_server nginx; }

nginx_worker() { pgrep -P "${PID[nginx]}" | head -1 || true; }

port_of() { echo "${PORT[$1]}"; }

# Every process whose CPU time counts for SERVER (nginx: master + worker; h2o: itself and its idle helper).
pids_of() { peer_pids "${PID[$1]}" | tr '\n' ' '; }

# The process that holds the connections (for RSS): nginx's worker, the only process of the others.
conn_pid_of() { if [[ "$1" == nginx ]]; then nginx_worker; else echo "${PID[$1]}"; fi; }

# ---------------------------------------------------------------------------------------------------------------
# /proc readers
# ---------------------------------------------------------------------------------------------------------------
# utime + stime (fields 14 and 15 of /proc/PID/stat, all threads) summed over PIDS, in clock ticks.
cpu_ticks() {
    local total=0 t pid
    for pid in "$@"; do
        # strip "pid (comm) " first: comm may contain spaces; then field 12 = stat field 14
        t="$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')"
        total=$((total + t))
    done
    echo "$total"
}

status_kb() {   # PID FIELD (VmRSS, VmHWM) -> KiB
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# ---------------------------------------------------------------------------------------------------------------
# Correctness check before measuring anything, and cache warm-up.
# ---------------------------------------------------------------------------------------------------------------
# Prints one markdown row: what each server answers for PATH (with optional Accept-Encoding: gzip).
check_row() {   # SERVER PATH GZIP(0/1)
    local server="$1" path="$2" gz="$3" port hdrs body code enc len timing ok
    port="$(port_of "$server")"
    hdrs="$WORK/check.headers"; body="$WORK/check.body"
    local args=(-s -o "$body" -D "$hdrs" -w '%{http_code}')
    [[ "$gz" == 1 ]] && args+=(-H 'Accept-Encoding: gzip')
    code="$(curl "${args[@]}" "http://127.0.0.1:$port$path")"
    enc="$(awk -F': ' 'tolower($1) == "content-encoding" {print $2}' "$hdrs" | tr -d '\r')"
    len="$(awk -F': ' 'tolower($1) == "content-length" {print $2}' "$hdrs" | tr -d '\r')"
    timing="$(awk -F': ' 'tolower($1) == "server-timing" {print $2}' "$hdrs" | tr -d '\r')"
    # Body check: decoded body must equal the file (404: nothing to compare).
    local file="$SITE${path}"
    if [[ "$code" == 404 ]]; then
        ok="n/a"
    elif [[ "$enc" == gzip ]]; then
        if gzip -dc "$body" | cmp -s - "$file"; then ok=yes; else ok=NO; fi
    else
        if cmp -s "$body" "$file"; then ok=yes; else ok=NO; fi
    fi
    echo "| $server | \`$path\` | $([[ "$gz" == 1 ]] && echo gzip || echo -) | $code | ${enc:--} | ${len:--} | ${timing:--} | $ok |"
}

# Swerve compresses app2.js off the event loop on the first request (zlib), then recompresses it with zopfli on an
# idle-priority thread: ask until the answer is zopfli's body from the cache (ETag ends in -zopfli).
warm_up() {
    local server port path
    for server in "${!PORT[@]}"; do   # the servers started (ceiling.sh starts only Swerve and nginx)
        port="$(port_of "$server")"
        for path in /index.html /app.js /app2.js /big.bin /missing; do
            curl -s -o /dev/null "http://127.0.0.1:$port$path" || true
            curl -s -o /dev/null -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port$path" || true
        done
    done
    local head
    for _ in $(seq 1 300); do
        head="$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "http://127.0.0.1:$SWERVE_PORT/app2.js")"
        grep -qi '^server-timing: cache;desc="hit"' <<<"$head" && grep -qi '^etag: ".*-zopfli"' <<<"$head" && return 0
        sleep 0.1
    done
    log "warning: Swerve never answered /app2.js with zopfli's body from its cache"
}

sanity_check() {
    echo "### What each server answers (checked before measuring)"
    echo
    echo "| server | path | Accept-Encoding | status | Content-Encoding | Content-Length | Server-Timing | body = file |"
    echo "|---|---|---|--:|---|--:|---|---|"
    local server
    for server in "${SERVERS[@]}"; do
        check_row "$server" /index.html 0
        check_row "$server" /app.js 1
        check_row "$server" /app2.js 1
        check_row "$server" /app.js 0
        check_row "$server" /big.bin 0
        check_row "$server" /missing 0
    done
    echo
}

# ---------------------------------------------------------------------------------------------------------------
# Memory: idle RSS right after start, RSS per idle keep-alive connection.
# ---------------------------------------------------------------------------------------------------------------
record_memory() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$WORK/results/memory.tsv"; }

measure_idle_rss() {
    local server
    for server in "${SERVERS[@]}"; do
        record_memory "$server" idle_rss_kb "$(status_kb "$(conn_pid_of "$server")" VmRSS)"
    done
    record_memory nginx master_rss_kb "$(status_kb "${PID[nginx]}" VmRSS)"
}

measure_conn_rss() {   # SERVER
    local server="$1" pid port out holder before after n
    pid="$(conn_pid_of "$server")"; port="$(port_of "$server")"
    out="$WORK/holder-$server.out"
    before="$(status_kb "$pid" VmRSS)"
    : >"$out"
    taskset -c "$CLIENT_CPU" python3 "$BENCH_DIR/lib/hold_connections.py" "$port" "$IDLE_CONNS" /index.html 120 \
        >"$out" 2>&1 &
    holder=$!
    HELPER_PIDS+=("$holder")
    for _ in $(seq 1 600); do
        grep -q '^ready' "$out" && break
        running "$holder" || break
        sleep 0.1
    done
    if ! grep -q '^ready' "$out"; then
        log "warning: idle-connection holder for $server failed: $(tail -3 "$out")"
        stop_pid "$holder"
        return 0
    fi
    sleep 0.5
    after="$(status_kb "$pid" VmRSS)"
    n="$(awk '/^ready/ {print $2}' "$out")"
    stop_pid "$holder"
    record_memory "$server" conn_base_kb "$before"
    record_memory "$server" conn_loaded_kb "$after"
    record_memory "$server" conn_count "$n"
    log "$server: VmRSS ${before} KiB -> ${after} KiB with $n idle keep-alive connections"
    sleep 1   # let the server reap the closed connections
}

# ---------------------------------------------------------------------------------------------------------------
# The do-nothing responder (CEILING=1): lib/responder.c answering with Swerve's bytes for the row, as capped.sh runs
# it, but pinned to SERVER_CPU and uncapped like the servers here. A fresh process for every run: nothing carries over
# between runs, and the c10k run meets a new process, as every server there.
# ---------------------------------------------------------------------------------------------------------------
# The answer a row's responder sends: pipeline16 and c10k ask for /index.html as 1k does.
responder_kind() {   # SCENARIO
    case "$1" in
        pipeline16|c10k) echo 1k ;;
        *) echo "$1" ;;
    esac
}

# Per answer kind: Swerve's answer to the row's own request (wrk's headers, Swerve's path), fetched from the running
# Swerve after warm_up (so the cached gzip body is zopfli's), given to the responder as Swerve sends it: a body up to
# SWERVE_INLINE_BODY_MAX in one write with its head (HEADFILE = head + body, an empty BODYFILE); the gzip cache's body
# from a memfd; after `Connection: close`, the connection closed with the answer. The js-gzip body is Swerve's sidecar
# app.js.gz, sent from a file in the page cache as Swerve sends it (no memfd); 404 is Swerve's 404 answer, as in
# capped.sh. Each is checked: the responder must answer that request with exactly Swerve's bytes.
prepare_responder() {
    local kind dir url options size
    for kind in 1k js-gzip js-gzip-cache js-identity 10m 404 close; do
        dir="$WORK/responder-$kind"
        mkdir -p "$dir"
        scenario_setup "$kind" swerve     # PATH_ and WRK_ARGS: only -H headers in these rows, which curl takes as wrk does
        url="http://127.0.0.1:$SWERVE_PORT$PATH_"
        responder_answer "$dir" "$url" "${WRK_ARGS[@]}" || die "curl $url failed"
        options=""
        case "$kind" in
            js-gzip-cache)
                options=memfd
                if ! { grep -qi '^server-timing: cache;desc="hit"' "$dir/swerve.head" && grep -qi '^etag: ".*-zopfli"' "$dir/swerve.head"; }; then
                    log "warning: Swerve's answer for the js-gzip-cache responder is not zopfli's body from its cache"
                fi ;;
            close) options=close ;;
        esac
        size="$(stat -c %s "$dir/swerve.body")"
        RESPONDER_DIR[$kind]="$dir"
        RESPONDER_OPTIONS[$kind]="$options"
        start_row_responder "$kind"
        curl -s -D "$dir/check.head" -o "$dir/check.body" "${WRK_ARGS[@]}" "http://127.0.0.1:$RESPONDER_RUN_PORT$PATH_" || true
        stop_row_responder
        if ! { cmp -s "$dir/check.head" "$dir/swerve.head" && cmp -s "$dir/check.body" "$dir/swerve.body"; }; then
            die "the responder for $kind does not answer with Swerve's bytes ($dir)"
        fi
        log "responder $kind: head $(stat -c %s "$dir/swerve.head") B, body $size B$(sends_inline "$size" && echo ' (one write)')${options:+, $options}"
    done
}

# Starts the responder for SCENARIO on a free port, pinned to SERVER_CPU -> RESPONDER_RUN_PID, RESPONDER_RUN_PORT
# (not a $(...) call: cleanup must see the pid).
start_row_responder() {   # SCENARIO
    local kind dir options=()
    kind="$(responder_kind "$1")"
    dir="${RESPONDER_DIR[$kind]}"
    read -r -a options <<<"${RESPONDER_OPTIONS[$kind]}"
    RESPONDER_RUN_PORT="$(free_port)"
    taskset -c "$SERVER_CPU" "$RESPONDER_EXE" "$RESPONDER_RUN_PORT" "$dir/head" "$dir/body" "${options[@]}" \
        >>"$WORK/responder.log" 2>&1 &
    RESPONDER_RUN_PID=$!
    wait_listening "$RESPONDER_RUN_PORT" "$RESPONDER_RUN_PID" responder "$WORK/responder.log"
}

stop_row_responder() {
    stop_pid "$RESPONDER_RUN_PID"
    RESPONDER_RUN_PID="" RESPONDER_RUN_PORT=""
}

# ---------------------------------------------------------------------------------------------------------------
# One wrk run.
# ---------------------------------------------------------------------------------------------------------------
# Sets PATH_ (the URL path), CONNS and WRK_ARGS (extra wrk arguments) for SCENARIO and SERVER.
scenario_setup() {   # SCENARIO SERVER
    WRK_ARGS=()
    CONNS=64
    case "$1" in
        1k)            PATH_=/index.html ;;
        js-gzip)       PATH_=/app.js; WRK_ARGS=(-H 'Accept-Encoding: gzip') ;;           # Swerve: sidecar
        js-gzip-cache) WRK_ARGS=(-H 'Accept-Encoding: gzip')     # Swerve: memory cache; lighttpd: its cache dir
                       PATH_="$(peer_url_path "$2" gzip)" ;;        # nginx and h2o: the sidecar app.js.gz
        js-identity)   PATH_=/app.js ;;
        10m)           PATH_=/big.bin; CONNS=8 ;;
        404)           PATH_=/missing ;;
        close)         PATH_=/index.html; WRK_ARGS=(-H 'Connection: close') ;;
        pipeline16)    PATH_=/index.html; WRK_ARGS=(-s "$BENCH_DIR/lua/pipeline.lua") ;;
        c10k)          PATH_=/index.html; CONNS="$C10K_CONNS" ;;
        *)             die "unknown scenario $1" ;;
    esac
}

# Latency like "1.23ms" / "850.00us" / "1.02s" / "2.00m" -> milliseconds.
to_ms() {
    [[ -n "$1" ]] || { echo "-"; return 0; }
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

RUN_HEADER=$'round\tscenario\tserver\tpath\tconns\trequests\tseconds\trps\tp99_ms\tcpu_ticks\tcpu_us_per_req\tsocket_errors\tnon2xx\ttransfer\tpeak_rss_kb\tserver_busy_pct\twrk_busy_pct\twrk_us_per_req'

run_one() {   # ROUND SCENARIO SERVER (or $RESPONDER)
    local round="$1" scenario="$2" server="$3"
    local port pids out t0 t1 requests seconds rps p99 socket non2xx transfer ticks cpu busy wrk_busy wrk_cpu peak="-"
    if [[ "$server" == "$RESPONDER" ]]; then
        # Swerve's request for the row (its path, wrk's headers), answered by a fresh responder.
        scenario_setup "$scenario" swerve
        start_row_responder "$scenario"
        port="$RESPONDER_RUN_PORT"
        pids="$RESPONDER_RUN_PID"
    else
        scenario_setup "$scenario" "$server"
        if [[ "$scenario" == c10k ]]; then
            # A fresh server, so VmHWM is this scenario's peak.
            stop_server "$server"
            start_server "$server"
            warm_up >/dev/null
        fi
        port="$(port_of "$server")"
        pids="$(pids_of "$server")"
    fi
    out="$WORK/results/wrk-r$round-$scenario-$server.txt"

    t0="$(cpu_ticks $pids)"
    # bash's `time` keyword reports the user+system CPU seconds of wrk itself: is the load generator saturated?
    local TIMEFORMAT='%U %S'
    { time taskset -c "$CLIENT_CPU" wrk -t1 -c "$CONNS" -d "${DURATION}s" --latency "${WRK_ARGS[@]}" \
        "http://127.0.0.1:$port$PATH_" >"$out" 2>&1; } 2>"$out.time" || log "warning: wrk exited non-zero ($out)"
    t1="$(cpu_ticks $pids)"

    # "  123456 requests in 10.00s, 140.12MB read"
    requests="$(awk '/requests in/ {print $1}' "$out")"
    seconds="$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$out")"
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    transfer="$(awk '/^Transfer\/sec:/ {print $2}' "$out")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    # "  Socket errors: connect 0, read 3, write 0, timeout 12" (absent when there were none)
    socket="$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 "/" $6 "/" $8 "/" $10}' "$out")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    requests="${requests:-0}"; rps="${rps:-0}"; socket="${socket:-0/0/0/0}"; non2xx="${non2xx:-0}"
    ticks=$((t1 - t0))
    cpu="$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print "-" }')"
    # Busy = CPU seconds / wall seconds of the run, in % of one core (server: all its processes; wrk: itself).
    busy="$(awk -v t="$ticks" -v hz="$CLK_TCK" -v s="${seconds:-0}" 'BEGIN { if (s > 0) printf "%.0f", t / hz / s * 100; else print "-" }')"
    wrk_busy="$(awk -v s="${seconds:-0}" '{ if (s > 0) printf "%.0f", ($1 + $2) / s * 100; else print "-" }' "$out.time")"
    # The load generator's own CPU per response: when wrk is saturated, this (not the server) sets req/s, and it
    # differs between servers only through what they put on the wire.
    wrk_cpu="$(awk -v n="$requests" '{ if (n > 0) printf "%.2f", ($1 + $2) * 1e6 / n; else print "-" }' "$out.time")"
    # The responder's memory is no target: its peak is not recorded.
    if [[ "$scenario" == c10k && "$server" != "$RESPONDER" ]]; then peak="$(status_kb "$(conn_pid_of "$server")" VmHWM)"; fi

    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scenario" "$server" "$PATH_" \
        "$CONNS" "$requests" "${seconds:-0}" "$rps" "$p99" "$ticks" "$cpu" "$socket" "$non2xx" "${transfer:--}" \
        "$peak" "$busy" "$wrk_busy" "$wrk_cpu" >>"$WORK/results/runs.tsv"
    log "$(printf '[round %s] %-13s %-6s %10s req/s  p99 %8s ms  CPU %7s µs/req  busy %3s%% (wrk %3s%%, %s µs/req)  errors %s non-2xx %s%s' \
        "$round" "$scenario" "$server" "$rps" "$p99" "$cpu" "$busy" "$wrk_busy" "$wrk_cpu" "$socket" "$non2xx" \
        "$([[ "$peak" != - ]] && echo "  VmHWM ${peak} KiB")")"
    if [[ "$server" == "$RESPONDER" ]]; then stop_row_responder; fi
    sleep 1   # let connections from this run close before the next one
}

run_benchmarks() {
    echo "$RUN_HEADER" >"$WORK/results/runs.tsv"
    # The servers and, unless CEILING=0, the responder: rotated alike.
    local runners=("${SERVERS[@]}")
    if [[ "$CEILING" != 0 ]]; then runners+=("$RESPONDER"); fi
    local round scenario
    for round in $(seq 1 "$ROUNDS"); do
        # Rotate which server goes first, so a drift in machine speed does not always favour the same one.
        local count=${#runners[@]} k
        for scenario in "${SCENARIOS[@]}"; do
            for k in $(seq 0 $((count - 1))); do
                run_one "$round" "$scenario" "${runners[$(( (round - 1 + k) % count ))]}"
            done
        done
    done
}

# ---------------------------------------------------------------------------------------------------------------
# Syscalls per request: strace -c on the serving process while wrk -c 8 runs for 2 s.
# ---------------------------------------------------------------------------------------------------------------
trace_one() {   # SCENARIO SERVER
    local scenario="$1" server="$2" pid port out wrkout strace_pid requests
    scenario_setup "$scenario" "$server"
    pid="$(conn_pid_of "$server")"; port="$(port_of "$server")"
    out="$WORK/results/strace-$scenario-$server.txt"
    wrkout="$WORK/results/strace-wrk-$scenario-$server.txt"
    strace -c -f -p "$pid" -o "$out" 2>/dev/null &
    strace_pid=$!
    HELPER_PIDS+=("$strace_pid")
    sleep 1   # attach to every thread before the load starts
    taskset -c "$CLIENT_CPU" wrk -t1 -c 8 -d 2s "${WRK_ARGS[@]}" "http://127.0.0.1:$port$PATH_" >"$wrkout" 2>&1 || true
    kill -INT "$strace_pid" 2>/dev/null || true
    wait "$strace_pid" 2>/dev/null || true
    requests="$(awk '/requests in/ {print $1}' "$wrkout")"
    # strace -c rows: "% time  seconds  usecs/call  calls  [errors]  syscall"
    awk -v s="$server" -v sc="$scenario" -v n="${requests:-0}" '
        $1 ~ /^[0-9.]+$/ && $NF != "total" {
            errors = (NF == 6) ? $5 : 0
            printf "%s\t%s\t%s\t%s\t%s\t%s\n", s, sc, n, $NF, $4, errors
        }' "$out" >>"$WORK/results/strace.tsv"
    log "strace $scenario $server: ${requests:-0} requests"
    sleep 1
}

run_syscalls() {
    printf 'server\tscenario\trequests\tsyscall\tcalls\terrors\n' >"$WORK/results/strace.tsv"
    warm_up >/dev/null
    local scenario server
    for scenario in "${STRACE_SCENARIOS[@]}"; do
        for server in "${SERVERS[@]}"; do
            trace_one "$scenario" "$server"
        done
    done
}

# ---------------------------------------------------------------------------------------------------------------
main() {
    install_dependencies
    WORK="$(mktemp -d /tmp/swerve-compare.XXXXXX)"
    trap cleanup EXIT INT TERM
    mkdir -p "$WORK/results"
    printf 'server\tkey\tvalue\n' >"$WORK/results/memory.tsv"

    print_environment
    make_site
    build_swerve
    if [[ "$CEILING" != 0 ]]; then
        RESPONDER_EXE="$WORK/responder"
        build_responder "$RESPONDER_EXE" || die "could not compile lib/responder.c"
    fi
    if [[ "${CAP:-35}" != 0 ]]; then
        # Per CPU, against the best of the three peers: the numbers that decide (see capped.sh and docs/PERFORMANCE.md).
        BIN="$SWERVE_BIN" CAP="${CAP:-35}" ROUNDS="$CAPPED_ROUNDS" DURATION="${CAPPED_DURATION:-3}" CEILING="$CEILING" \
            "$BENCH_DIR/capped.sh"
        echo
    fi

    local server
    for server in "${SERVERS[@]}"; do start_server "$server"; done
    measure_idle_rss               # before any request
    warm_up
    sanity_check
    for server in "${SERVERS[@]}"; do measure_conn_rss "$server"; done
    if [[ "$CEILING" != 0 ]]; then prepare_responder; fi   # Swerve's answers, now that its caches are warm

    run_benchmarks
    run_syscalls

    python3 "$BENCH_DIR/lib/report.py" "$WORK/results"
    echo "_Finished $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average at end: $(cut -d' ' -f1-3 /proc/loadavg)._"
}

# Run only when executed: Benchmarks/ceiling.sh sources this file for its functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
