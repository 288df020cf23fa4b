#!/usr/bin/env bash
# Instructions per HTTP/2 request, counted, for Swerve, h2o and the do-nothing responder (lib/h2-responder.c):
# each runs under valgrind's callgrind, takes two h2load runs that differ only in their request count
# (-t1 -c64 -m10, 1 KiB over TLS, ALPN h2), and the difference of the two counts divided by the difference of the
# requests is what one more request costs (handshakes and connection set-up cancel out). Prints Ir per request by
# object and the top functions by inclusive and exclusive Ir (lib/callgrind_costs.py).
#
#   sudo Benchmarks/h2-instructions.sh      # SHORT=10000 LONG=30000 SERVERS="swerve h2o responder" KEEP=DIR (keeps
#                                           # the callgrind files, for callgrind_annotate); needs valgrind, h2o, h2load,
#                                           # libnghttp2-dev, libssl-dev; about 2 minutes
#
# Why: on this machine one capped A/B round of the HTTP/2 1 KiB row swings ±30%, so a change of a few percent cannot
# be seen in requests/s within a session. An instruction count is the same on every run (to a few Ir per request),
# so each step toward the row's target can be measured on its own. Instructions are not time: a memcpy with
# `rep movsb` counts a byte per instruction (so totals are also given without memcpy and memset), AES-GCM does much
# work per instruction, and kernel work is not counted
# (it is about the same per request in every server here). The capped benchmark (capped.sh) stays the judge of the
# target; this says where the instructions go and whether a change removed any.
#
# The Swerve measured is a copy of this working tree built in $BUILD with one change: valgrind 3.19 (Debian 12)
# does not know openat2(2) (syscall 437, ENOSYS), which Swerve requires, so the copy's resolver falls back to openat(2)
# when openat2 is missing. That copy is for counting only (its resolver is not traversal-proof); nothing else in it
# differs, and the request measured is served from the open-file cache, which does not resolve. Its debug info is
# stripped (valgrind 3.19 cannot read Swift's DWARF 5); symbols stay.
set -euo pipefail
cd "$(dirname "$0")/.."
SHORT=${SHORT:-10000} LONG=${LONG:-30000} SERVERS=${SERVERS:-"swerve h2o responder"} TOP=${TOP:-25}
BUILD=${BUILD:-.build-valgrind}
for tool in valgrind callgrind_control h2load h2o cc; do
    command -v "$tool" >/dev/null || { echo "h2-instructions.sh: $tool is missing" >&2; exit 69; }
done
mkdir -p "$BUILD/src"
BUILD=$(realpath "$BUILD") TREE=$(realpath "${TREE:-.}")
# The working tree's files (tracked, and new ones not ignored), copied where newer (so a rebuild is incremental), and
# sources it no longer has removed from the copy; then the one change above.
(cd "$TREE" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -u -t "$BUILD/src")
(cd "$BUILD/src" && find Sources -type f) | while read -r f; do [[ -e "$TREE/$f" ]] || rm "$BUILD/src/$f"; done
shim="$BUILD/src/Sources/CSwerveSys/shim.c"
if ! grep -q COUNTING_ONLY "$shim"; then
    python3 - "$shim" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
call = "    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);\n"
assert call in text, "shim.c no longer has the openat2 call this script patches"
text = text.replace(call, "    int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);\n"
                    "    /* COUNTING_ONLY (Benchmarks/h2-instructions.sh): valgrind 3.19 lacks openat2. */\n"
                    "    if (fd < 0 && errno == ENOSYS) return openat(dirfd, path, (int)flags, (mode_t)mode);\n"
                    "    return fd;\n")
open(path, "w").write("#include <errno.h>\n#include <fcntl.h>\n" + text)
PY
fi
swift build -c release --product swerve --package-path "$BUILD/src" 2>&1 | tail -1
WORK=$(mktemp -d /tmp/swerve-h2ir-XXXXXX)
objcopy --strip-debug "$BUILD/src/.build/release/swerve" "$WORK/swerve"
vpid=
cleanup() {
    [[ -n $vpid ]] && kill "$vpid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
python3 Benchmarks/lib/make_site.py "$WORK/site" >/dev/null
source Benchmarks/lib/peers.sh
PORT=18491
PEER_TLS_CERT="$WORK/cert.pem" PEER_TLS_KEY="$WORK/key.pem" peer_conf_h2o "$WORK" "$WORK/site" "$PORT"
cc -O2 -o "$WORK/h2-responder" Benchmarks/lib/h2-responder.c $(pkg-config --cflags --libs libnghttp2 openssl)
url="https://127.0.0.1:$PORT/index.html"
echo "## $(date -u '+%F %T UTC'), swerve $(git -C "$TREE" rev-parse --short HEAD)$(git -C "$TREE" diff --quiet || echo '+changes'), h2o" \
     "$(h2o --version | head -1 | awk '{print $3}'), h2load -t1 -c64 -m10 -n $SHORT and -n $LONG, $url"
declare -A total bare
for s in $SERVERS; do
    case $s in
        swerve) cmd=("$WORK/swerve" --root "$WORK/site" --host 127.0.0.1 --port "$PORT" --workers 1 --access-log off
                     --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem") ;;
        h2o) cmd=(h2o -c "$WORK/h2o.conf") ;;
        responder) cmd=("$WORK/h2-responder" "$PORT" "$WORK/cert.pem" "$WORK/key.pem" "$WORK/site/index.html") ;;
        *) echo "h2-instructions.sh: unknown server $s" >&2; exit 64 ;;
    esac
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$s" "${cmd[@]}" >"$WORK/$s.log" 2>&1 &
    vpid=$!
    for _ in $(seq 200); do curl -fsk --http2 -o /dev/null "$url" && break; sleep 0.1; done
    load() {
        out=$(taskset -c 1 h2load -t1 -c64 -m10 -n "$1" "$url")
        grep -q "status codes: $1 2xx" <<<"$out" || { echo "h2-instructions.sh: $s did not answer $1 requests with 2xx" >&2; exit 1; }
    }
    load 2000  # warm: the file cached, the loop's pools filled
    callgrind_control -z "$vpid" >/dev/null 2>&1; load "$SHORT"; callgrind_control -d "$vpid" >/dev/null 2>&1
    callgrind_control -z "$vpid" >/dev/null 2>&1; load "$LONG"; callgrind_control -d "$vpid" >/dev/null 2>&1
    kill "$vpid"; wait "$vpid" 2>/dev/null || true; vpid=
    [[ -n ${KEEP:-} ]] && mkdir -p "$KEEP" && cp "$WORK/cg.$s.1" "$WORK/cg.$s.2" "$KEEP/"
    echo
    echo "### $s"
    python3 Benchmarks/lib/callgrind_costs.py "$WORK/cg.$s.1" "$WORK/cg.$s.2" $((LONG - SHORT)) "$TOP" | tee "$WORK/$s.costs"
    total[$s]=$(awk '/^total:/ {print $2; exit}' "$WORK/$s.costs")
    bare[$s]=$(awk '/^total:/ {print $NF; exit}' "$WORK/$s.costs")
done
echo
echo "## Ir per request: $(for s in $SERVERS; do printf '%s %s  ' "$s" "${total[$s]}"; done)"
echo "## without memcpy and memset: $(for s in $SERVERS; do printf '%s %s  ' "$s" "${bare[$s]}"; done)"
if [[ -n ${total[swerve]:-} && -n ${total[h2o]:-} ]]; then
    echo "## swerve / h2o: $(python3 -c "print(f'{${total[swerve]} / ${total[h2o]}:.2f}, without them {${bare[swerve]} / ${bare[h2o]}:.2f}')")"
fi
