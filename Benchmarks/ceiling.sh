#!/usr/bin/env bash
# What could any server reach in the client-bound scenarios, and what do the response heads cost there?
#
#   Benchmarks/ceiling.sh                 # 1 KiB, gzip and identity, 12 rounds of 2 s per server (~12 min)
#   ROUNDS=20 SECONDS_PER_RUN=1 Benchmarks/ceiling.sh
#
# In the 1 KiB, 100 KB gzip and 100 KB identity scenarios one wrk thread is the bottleneck (compare.sh's `wrk busy` ≈ 100%), so
# requests/s = 1 / (wrk's CPU per response). This script measures how far a server can move that. Next to nginx and
# Swerve it runs lib/responder.c, which does nothing but answer every request with fixed bytes (one read, the head,
# sendfile of the body, sockets set up like Swerve's), identical except for the head they send:
#   ideal-swerve-head   Swerve's exact head (361 bytes for the gzip body): what Swerve could reach with its headers;
#   ideal-nginx-head    nginx's head (no Vary, Cache-Control, Accept-Ranges, charset or Server-Timing);
#   ideal-minimal-head  status line, Content-Length and Content-Encoding only;
# and, for gzip, ideal-swerve-head-memfd: Swerve's head, the body from a memfd as Swerve's cache sends it (the others
# send from a file in the page cache, whose large folios are cheaper for the receiver than shmem's 4 KiB pages);
# for the 1 KiB file, ideal-swerve-head-one-write: Swerve's head and the body in one write, as Swerve sends it;
# and, in every scenario, the responder that sends like Swerve with `spin` (the label ends in -spin): it polls instead
# of sleeping while wrk is connected, so no request waits for a wake-up — what answering sooner could buy the client.
# All of them send Swerve's body (for gzip: zopfli's bytes from Swerve's cache; nginx's `gzip -9` file is larger),
# written to a file in the work directory.
# Output: ab.sh's per-round table and the median per-round ratios to nginx, per scenario.
set -euo pipefail

AB_ROUNDS="${ROUNDS:-12}"          # read before compare.sh sets its own default
AB_SECONDS="${SECONDS_PER_RUN:-2}"
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=compare.sh
source "$BENCH_DIR/compare.sh"      # the site, the build, starting and stopping servers, cleanup
source "$BENCH_DIR/lib/responder.sh"

RESPONDER_PORT=""
start_responder() {   # HEADFILE BODYFILE [memfd] [spin] -> RESPONDER_PORT (not a $(...) call: cleanup must see the pid)
    RESPONDER_PORT="$(free_port)"
    taskset -c "$SERVER_CPU" "$WORK/responder" "$RESPONDER_PORT" "$@" >>"$WORK/responder.log" 2>&1 &
    HELPER_PIDS+=($!)
    wait_listening "$RESPONDER_PORT" "$!" responder "$WORK/responder.log"
}

# HEADFILE for PATH from SERVER's real answer; with a gzip body of LENGTH bytes when given (nginx's own is larger).
save_head() {   # SERVER PATH GZIP(0/1) OUT [LENGTH]
    local args=(-s -o /dev/null -D "$4" "http://127.0.0.1:$(port_of "$1")$2")
    [[ "$3" == 1 ]] && args+=(-H 'Accept-Encoding: gzip')
    curl "${args[@]}"
    [[ -n "${5:-}" ]] && sed -i "s/^Content-Length: [0-9]*/Content-Length: $5/" "$4"
    grep -q '^Content-Length: ' "$4" || die "no Content-Length in $1's answer for $2"
}

measure() {   # SCENARIO NGINX_PATH SWERVE_PATH GZIP(0/1) BODYFILE
    local scenario="$1" gz="$4" body="$5" length dir="$WORK/$1"
    length="$(stat -c %s "$body")"
    mkdir -p "$dir"
    save_head swerve "$3" "$gz" "$dir/swerve.head"
    save_head nginx "$2" "$gz" "$dir/nginx.head" "$length"
    {
        printf 'HTTP/1.1 200 OK\r\nContent-Length: %s\r\n' "$length"
        [[ "$gz" == 1 ]] && printf 'Content-Encoding: gzip\r\n'
        printf '\r\n'
    } >"$dir/minimal.head"
    local name specs=("nginx=http://127.0.0.1:$NGINX_PORT$2" "swerve=http://127.0.0.1:$SWERVE_PORT$3")
    # What Swerve sends as it sends it: a small file's head and body in one writev, the gzip cache's body from a memfd.
    local like_swerve=swerve
    if sends_inline "$length"; then
        like_swerve=swerve-inline
        cat "$dir/swerve.head" "$body" >"$dir/swerve-inline.answer"
        : >"$dir/empty"
    fi
    [[ "$gz" == 1 ]] && like_swerve=swerve-memfd
    local variants=(swerve nginx minimal)
    [[ "$like_swerve" != swerve ]] && variants+=("$like_swerve")
    variants+=("$like_swerve-spin")   # the same, never asleep while wrk is connected
    for name in "${variants[@]}"; do
        local options=()
        [[ "$name" == *-memfd* ]] && options+=(memfd)
        [[ "$name" == *-spin ]] && options+=(spin)
        if [[ "$name" == *-inline* ]]; then
            start_responder "$dir/swerve-inline.answer" "$dir/empty" "${options[@]}"
        else
            start_responder "$dir/${name%%-*}.head" "$body" "${options[@]}"
        fi
        # The responder must answer with exactly the bytes it was given.
        curl -s "http://127.0.0.1:$RESPONDER_PORT/" | cmp -s - "$body" || die "responder ($name) sent other bytes"
        local label="ideal-${name%%-*}-head"
        [[ "$name" == *-memfd* ]] && label+="-memfd"
        [[ "$name" == *-inline* ]] && label+="-one-write"
        [[ "$name" == *-spin ]] && label+="-spin"
        specs+=("$label=http://127.0.0.1:$RESPONDER_PORT/")
    done
    echo "### $scenario: head sizes (bytes) swerve $(stat -c %s "$dir/swerve.head"), nginx $(stat -c %s "$dir/nginx.head"), minimal $(stat -c %s "$dir/minimal.head"); body $length"
    echo
    echo '```'
    local extra=()
    [[ "$gz" == 1 ]] && extra=(-- -H 'Accept-Encoding: gzip')
    "$BENCH_DIR/ab.sh" "$AB_ROUNDS" "$AB_SECONDS" "${specs[@]}" "${extra[@]}"
    echo '```'
    echo
}

ceiling_main() {
    install_dependencies gcc=gcc bc=bc /usr/bin/time=time    # the responder's compiler; ab.sh's arithmetic and timer
    WORK="$(mktemp -d /tmp/swerve-ceiling.XXXXXX)"
    trap cleanup EXIT INT TERM
    mkdir -p "$WORK/results"
    build_responder "$WORK/responder"
    make_site
    build_swerve
    start_swerve
    start_nginx
    warm_up                                          # until /app2.js is zopfli's body from Swerve's cache

    echo "## Client-bound ceiling — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), Swerve $(cd "$REPO_DIR" && git rev-parse --short HEAD)"
    echo
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $AB_ROUNDS rounds of ${AB_SECONDS}s, order rotated every round"
    echo
    curl -s -H 'Accept-Encoding: gzip' -o "$WORK/zopfli.gz" "http://127.0.0.1:$SWERVE_PORT/app2.js"
    gzip -dc "$WORK/zopfli.gz" | cmp -s - "$SITE/app2.js" || die "Swerve's gzip body does not decode to app2.js"
    measure 1k /index.html /index.html 0 "$SITE/index.html"
    measure js-gzip-cache /app.js /app2.js 1 "$WORK/zopfli.gz"
    measure js-identity /app.js /app.js 0 "$SITE/app.js"
}

ceiling_main "$@"
