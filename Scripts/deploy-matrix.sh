#!/usr/bin/env bash
# Scripts/deploy-matrix.sh BIN
#
# The end-to-end companion of Tests/SwerveServerTests/DeployTests.swift, for any build (an old one included).
# Runs five "deploy" scenarios against one swerve binary with real curl requests and prints, per scenario, whether
# the identity and gzip bodies are the expected bytes, whether the ETags changed, whether the old validator still
# gets a 304, and (scenario 4) how long a root-symlink swap takes to be served.
#
# Environment:
#   MIME_TYPES  mime.types to pass with --mime-types (default: the repository's; binaries before the compiled-in
#               table need it)
#   PORT_BASE   first port; scenarios use PORT_BASE+1 .. PORT_BASE+6 (default 18080)
#   ROUNDS      scenario 3: maximum rounds (default 30);  REUSES: stop after this many inode reuses (default 3)
#
# Every server is killed and every temp dir removed at the end of its scenario (and on exit).
set -u

BIN=${1:?usage: deploy-matrix.sh /path/to/swerve}
[ -x "$BIN" ] || { echo "not executable: $BIN" >&2; exit 2; }
BIN=$(readlink -f "$BIN")
HERE=$(cd "$(dirname "$0")" && pwd)
MIME_TYPES=${MIME_TYPES:-$HERE/../mime.types}
PORT_BASE=${PORT_BASE:-18080}
ROUNDS=${ROUNDS:-30}
REUSES=${REUSES:-3}
MTIME=@1700000000.123456789

MIME_ARGS=()
[ -f "$MIME_TYPES" ] && MIME_ARGS=(--mime-types "$MIME_TYPES")

SERVER_PID=""
WORK=""
RESULTS=()

cleanup() {
    stop_server
    [ -n "$WORK" ] && [ -d "$WORK" ] && rm -rf "$WORK"
    WORK=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------------------------------------------------------
# Server control

start_server() { # ROOT PORT
    local root=$1 port=$2
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
        log "!! port $port already answers; refusing to start"; return 1
    fi
    "$BIN" --root "$root" --host 127.0.0.1 --port "$port" --workers 1 --recompress off "${MIME_ARGS[@]}" \
        >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    PORT=$port
    local i
    for i in $(seq 1 200); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "!! server exited early:"; sed 's/^/   server: /' "$WORK/server.err"; SERVER_PID=""; return 1
        fi
        # any HTTP answer (even 404) means the port accepts
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
            log "   server pid $SERVER_PID on :$port (root $root)"; return 0
        fi
        sleep 0.05
    done
    log "!! server did not accept on :$port within 10 s"; return 1
}

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        if [ -s "$WORK/server.err" ]; then sed 's/^/   server stderr: /' "$WORK/server.err"; fi
        SERVER_PID=""
    fi
}

new_work() { cleanup; WORK=$(mktemp -d "${TMPDIR:-/tmp}/deploy-matrix.XXXXXX"); }

# ---------------------------------------------------------------------------------------------------------------
# Files

# gen FILE SEED: exactly 30,000 bytes of pseudo-random lowercase words (distinct per seed).
gen() {
    python3 - "$1" "$2" <<'EOF'
import random, sys
path, seed = sys.argv[1], sys.argv[2]
r = random.Random(seed)
out, n = [], 0
while n < 30000:
    w = ''.join(r.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(r.randint(2, 9)))
    w += '\n' if r.random() < 0.1 else ' '
    out.append(w); n += len(w)
data = ''.join(out).encode()[:30000]
with open(path, 'wb') as f:
    f.write(data)
EOF
}

ino() { stat -c %i "$1"; }

# ---------------------------------------------------------------------------------------------------------------
# Requests. Each sets: STATUS ETAG TIMING CENC and writes the decoded body to $WORK/body.

hdr() { grep -i "^$1:" "$WORK/hdr" | head -n1 | sed -e 's/^[^:]*: *//' -e 's/\r$//'; }

req() { # MODE(id|gz) PATH [extra curl args...]
    local mode=$1 path=$2; shift 2
    local args=(-s -D "$WORK/hdr" -o "$WORK/raw" --max-time 10)
    [ "$mode" = gz ] && args+=(-H 'Accept-Encoding: gzip')
    curl "${args[@]}" "$@" "http://127.0.0.1:$PORT$path"
    STATUS=$(head -n1 "$WORK/hdr" | awk '{print $2}')
    ETAG=$(hdr etag); TIMING=$(hdr server-timing); CENC=$(hdr content-encoding)
    if printf '%s' "$CENC" | grep -qi gzip; then
        gzip -dc <"$WORK/raw" >"$WORK/body" 2>/dev/null || : >"$WORK/body"
    else
        cp "$WORK/raw" "$WORK/body"
    fi
    log "   GET $path [$mode] -> ${STATUS:-none}  ETag: ${ETAG:--}  Content-Encoding: ${CENC:-identity}  Server-Timing: ${TIMING:--}  ($(stat -c %s "$WORK/raw") bytes on the wire)"
}

# status only, for conditional requests
cond() { # MODE PATH ETAG
    local mode=$1 path=$2 tag=$3
    local args=(-s -o /dev/null -w '%{http_code}' --max-time 10 -H "If-None-Match: $tag")
    [ "$mode" = gz ] && args+=(-H 'Accept-Encoding: gzip')
    curl "${args[@]}" "http://127.0.0.1:$PORT$path"
}

# check EXPECTED [OLD [LABEL]]: compares $WORK/body with EXPECTED; sets VERDICT to ok, LABEL (default STALE) when
# the body is OLD's bytes instead, else WRONG
check() {
    local expected=$1 old=${2:-} label=${3:-STALE}
    if cmp -s "$WORK/body" "$expected"; then
        VERDICT=ok
    elif [ -n "$old" ] && cmp -s "$WORK/body" "$old"; then
        VERDICT=$label
    else
        VERDICT=WRONG
    fi
    log "      body vs expected: $VERDICT$( [ "$VERDICT" = ok ] || printf ' (%s)' "$(cmp "$WORK/body" "$expected" 2>&1 | head -n1)")"
}

yn_changed() { [ "$1" != "$2" ] && echo yes || echo NO; }

result() { # scenario id_ok gz_ok etag_changed stale304 extra
    RESULTS+=("$(printf '%-26s | %-11s | %-11s | %-17s | %-19s | %s' "$@")")
}

preload() { # PATH: identity once, gzip twice (second should be a cache hit)
    req id "$1"; PRE_ID_ETAG=$ETAG
    req gz "$1"
    req gz "$1"; PRE_GZ_ETAG=$ETAG
    log "      (second gzip Server-Timing: ${TIMING:--})"
}

# after-change check of PATH against EXPECTED (OLD content for the STALE label); sets ID_OK GZ_OK ETAGS STALE
after_change() { # PATH EXPECTED OLD
    local path=$1 exp=$2 old=$3
    req id "$path"; check "$exp" "$old"; ID_OK=$VERDICT; local id_tag=$ETAG
    req gz "$path"; check "$exp" "$old"; GZ_OK=$VERDICT; local gz_tag=$ETAG
    req gz "$path"; check "$exp" "$old"; [ "$VERDICT" = ok ] || GZ_OK=$VERDICT
    ETAGS="id:$(yn_changed "$PRE_ID_ETAG" "$id_tag") gz:$(yn_changed "$PRE_GZ_ETAG" "$gz_tag")"
    local c_gz c_id
    c_gz=$(cond gz "$path" "$PRE_GZ_ETAG"); c_id=$(cond id "$path" "$PRE_ID_ETAG")
    log "   If-None-Match old gzip tag $PRE_GZ_ETAG -> $c_gz;  old identity tag $PRE_ID_ETAG -> $c_id"
    STALE="gz:$c_gz id:$c_id"
    if [ "$c_gz" = 304 ] || [ "$c_id" = 304 ]; then STALE="YES ($STALE)"; else STALE="no ($STALE)"; fi
}

# ---------------------------------------------------------------------------------------------------------------
log "deploy-matrix: $BIN"
log "  sha256 $(sha256sum "$BIN" | cut -c1-16)…  mime: ${MIME_ARGS[*]:-(compiled in)}  kernel $(uname -r)  fs $(df --output=fstype "${TMPDIR:-/tmp}" | tail -n1)$( [ -d /proc/fs/jbd2 ] && ls /proc/fs/jbd2 | grep -q . || echo ' (no journal)')"
log "  $(date -u +%FT%TZ)"

# 1 ---------------------------------------------------------------------------------------------------------------
log ""; log "== 1. in-place rewrite, same size, mtime restored"
new_work
mkdir "$WORK/root"; gen "$WORK/v1" s1-old; gen "$WORK/v2" s1-new
cp "$WORK/v1" "$WORK/root/a.txt"; touch -d $MTIME "$WORK/root/a.txt"
if start_server "$WORK/root" $((PORT_BASE + 1)); then
    i0=$(ino "$WORK/root/a.txt"); preload /a.txt
    cp --no-preserve=all "$WORK/v2" "$WORK/root/a.txt"; touch -d $MTIME "$WORK/root/a.txt"
    log "   rewrote in place: inode $i0 -> $(ino "$WORK/root/a.txt"), size $(stat -c %s "$WORK/root/a.txt"), mtime $(stat -c %.9Y "$WORK/root/a.txt")"
    sleep 0.05
    after_change /a.txt "$WORK/v2" "$WORK/v1"
    result "1 in-place, mtime restored" "$ID_OK" "$GZ_OK" "$ETAGS" "$STALE" "inode kept"
else result "1 in-place, mtime restored" error error - - "server did not start"; fi
cleanup

# 2 ---------------------------------------------------------------------------------------------------------------
log ""; log "== 2. unlink + recreate, same size and mtime (tar-style)"
new_work
mkdir "$WORK/root"; gen "$WORK/v1" s2-old; gen "$WORK/v2" s2-new
cp "$WORK/v1" "$WORK/root/a.txt"; touch -d $MTIME "$WORK/root/a.txt"
if start_server "$WORK/root" $((PORT_BASE + 2)); then
    i0=$(ino "$WORK/root/a.txt"); preload /a.txt
    rm "$WORK/root/a.txt"; cp "$WORK/v2" "$WORK/root/a.txt"; touch -d $MTIME "$WORK/root/a.txt"
    i1=$(ino "$WORK/root/a.txt")
    reused=$([ "$i0" = "$i1" ] && echo "inode REUSED ($i0)" || echo "new inode ($i0 -> $i1)")
    log "   recreated: $reused"
    sleep 0.05
    after_change /a.txt "$WORK/v2" "$WORK/v1"
    result "2 unlink+recreate" "$ID_OK" "$GZ_OK" "$ETAGS" "$STALE" "$reused"
else result "2 unlink+recreate" error error - - "server did not start"; fi
cleanup

# 2b --------------------------------------------------------------------------------------------------------------
# Extra: as 2, but the server is idle for 2.5 s first. A server that keeps the deleted file open (old: until the
# path's next lookup) pins its inode number; one that closes idle fds (new: ~1-1.5 s tick) lets ext4 hand the number
# to the new a.txt. Up to 5 attempts, stopping at the first inode reuse.
log ""; log "== 2b. as 2, but the server is idle for 2.5 s before the unlink (up to 5 attempts until the inode is reused)"
new_work
mkdir "$WORK/root"
if start_server "$WORK/root" $((PORT_BASE + 6)); then
    bad=0
    for attempt in 1 2 3 4 5; do
        log "  -- attempt $attempt"
        gen "$WORK/v1" "s2b-old-$attempt"; gen "$WORK/v2" "s2b-new-$attempt"
        cp "$WORK/v1" "$WORK/root/a.txt"; touch -d $MTIME "$WORK/root/a.txt"
        i0=$(ino "$WORK/root/a.txt"); preload /a.txt
        log "      server holds a.txt open: $(ls -l /proc/$SERVER_PID/fd 2>/dev/null | grep -c 'a.txt') fd(s)"
        sleep 2.5
        log "      after 2.5 s idle, server holds a.txt open: $(ls -l /proc/$SERVER_PID/fd 2>/dev/null | grep -c 'a.txt') fd(s)"
        rm "$WORK/root/a.txt"; cp "$WORK/v2" "$WORK/root/a.txt"; touch -d $MTIME "$WORK/root/a.txt"
        i1=$(ino "$WORK/root/a.txt")
        reused=$([ "$i0" = "$i1" ] && echo "inode REUSED ($i0)" || echo "new inode ($i0 -> $i1)")
        log "   recreated: $reused"
        sleep 0.05
        after_change /a.txt "$WORK/v2" "$WORK/v1"
        [ "$ID_OK/$GZ_OK" = ok/ok ] || bad=$((bad + 1))
        rm -f "$WORK/root/a.txt"
        [ "$i0" = "$i1" ] && break
        sleep 0.2 # next attempt: a fresh a.txt (the server drops its entry on the next lookup)
        req id /a.txt >/dev/null
    done
    result "2b idle 2.5s, unlink+recr." "$ID_OK" "$GZ_OK" "$ETAGS" "$STALE" "$reused, attempt $attempt, bad attempts $bad"
else result "2b idle 2.5s, unlink+recr." error error - - "server did not start"; fi
cleanup

# 3 ---------------------------------------------------------------------------------------------------------------
log ""; log "== 3. delete (404), then another path gets the freed inode"
new_work
mkdir "$WORK/root"
rounds=0; reuses=0; wrong=0; wrong_id=0; same_tag=0
if start_server "$WORK/root" $((PORT_BASE + 3)); then
    while [ $rounds -lt "$ROUNDS" ] && [ $reuses -lt "$REUSES" ]; do
        rounds=$((rounds + 1))
        log "  -- round $rounds"
        gen "$WORK/a$rounds" "s3-a-$rounds"; gen "$WORK/b$rounds" "s3-b-$rounds"
        cp "$WORK/a$rounds" "$WORK/root/a.txt"; touch -d $MTIME "$WORK/root/a.txt"
        ia=$(ino "$WORK/root/a.txt")
        preload /a.txt
        rm "$WORK/root/a.txt"
        req id /a.txt; [ "$STATUS" = 404 ] || log "      !! expected 404"
        # No pause here: this ext4 has no journal, and ext4 then skips inodes deleted in the last 30 s once their
        # inode-table block has been written back (recently_deleted()); only an immediate re-create reuses the number.
        cp "$WORK/b$rounds" "$WORK/root/b.txt"; touch -d $MTIME "$WORK/root/b.txt"
        ib=$(ino "$WORK/root/b.txt")
        if [ "$ia" = "$ib" ]; then
            reuses=$((reuses + 1))
            log "   b.txt got a.txt's inode $ia (reuse #$reuses)"
            sleep 0.05
            req gz /b.txt; check "$WORK/b$rounds" "$WORK/a$rounds" FOREIGN; g=$VERDICT; gtag=$ETAG
            req id /b.txt; check "$WORK/b$rounds" "$WORK/a$rounds" FOREIGN; d=$VERDICT
            [ "$gtag" = "$PRE_GZ_ETAG" ] && { same_tag=$((same_tag + 1)); log "      b.txt's gzip ETag equals a.txt's old one"; }
            [ "$g" = ok ] || wrong=$((wrong + 1))
            [ "$d" = ok ] || wrong_id=$((wrong_id + 1))
        else
            log "   b.txt inode $ib != a.txt's $ia (no reuse)"
        fi
        rm -f "$WORK/root/b.txt"
    done
    log "   rounds $rounds, inode reuses $reuses, gzip wrong $wrong, identity wrong $wrong_id, b.txt gzip ETag == a.txt's $same_tag"
    if [ $reuses -eq 0 ]; then g3="n/a"; d3="n/a"; else
        g3=$([ $wrong -eq 0 ] && echo ok || echo "FOREIGN $wrong/$reuses")
        d3=$([ $wrong_id -eq 0 ] && echo ok || echo "FOREIGN $wrong_id/$reuses"); fi
    t3=$([ $same_tag -eq 0 ] && echo "yes ($reuses/$reuses)" || echo "NO: a's tag $same_tag/$reuses")
    result "3 freed inode, other path" "$d3" "$g3" "$t3" "-" "$reuses reuses in $rounds rounds"
else result "3 freed inode, other path" error error - - "server did not start"; fi
cleanup

# 4 ---------------------------------------------------------------------------------------------------------------
log ""; log "== 4. root symlink swap (current -> releases/41, then releases/42)"
new_work
mkdir -p "$WORK/site/releases/41" "$WORK/site/releases/42"
echo "release 41" >"$WORK/site/releases/41/index.html"
echo "release 42" >"$WORK/site/releases/42/index.html"
ln -s releases/41 "$WORK/site/current"
if start_server "$WORK/site/current" $((PORT_BASE + 4)); then
    req id /index.html; log "      body: $(cat "$WORK/body")"
    ln -s releases/42 "$WORK/site/current.new" && mv -T "$WORK/site/current.new" "$WORK/site/current"
    log "   swapped: current -> $(readlink "$WORK/site/current")"
    t0=$(date +%s.%N); seen=""; polls=0
    while :; do
        polls=$((polls + 1))
        body=$(curl -s --max-time 2 "http://127.0.0.1:$PORT/index.html")
        t=$(date +%s.%N)
        if [ "$body" = "release 42" ]; then seen=$(awk -v a="$t0" -v b="$t" 'BEGIN{printf "%.2f", b-a}'); break; fi
        if awk -v a="$t0" -v b="$t" 'BEGIN{exit !(b-a >= 5)}'; then break; fi
        sleep 0.1
    done
    if [ -n "$seen" ]; then
        log "   \"release 42\" served after ${seen} s ($polls polls)"; swap="${seen} s"
    else
        log "   \"release 42\" NOT served within 5 s ($polls polls); last body: $body"; swap="never (>5 s)"
    fi
    result "4 root symlink swap" "-" "-" "-" "-" "new release after: $swap"
else result "4 root symlink swap" error error - - "server did not start"; fi
cleanup

# 5 ---------------------------------------------------------------------------------------------------------------
log ""; log "== 5. mtime @1 (content ETag), in-place rewrite, mtime restored to @1"
new_work
mkdir "$WORK/root"; gen "$WORK/v1" s5-old; gen "$WORK/v2" s5-new
cp "$WORK/v1" "$WORK/root/a.txt"; touch -d @1 "$WORK/root/a.txt"
if start_server "$WORK/root" $((PORT_BASE + 5)); then
    i0=$(ino "$WORK/root/a.txt"); preload /a.txt
    cp --no-preserve=all "$WORK/v2" "$WORK/root/a.txt"; touch -d @1 "$WORK/root/a.txt"
    log "   rewrote in place: inode $i0 -> $(ino "$WORK/root/a.txt"), mtime $(stat -c %.9Y "$WORK/root/a.txt")"
    log "   sha256 old $(sha256sum "$WORK/v1" | cut -c1-16)…  new $(sha256sum "$WORK/v2" | cut -c1-16)…"
    sleep 0.05
    after_change /a.txt "$WORK/v2" "$WORK/v1"
    result "5 mtime @1, in-place" "$ID_OK" "$GZ_OK" "$ETAGS" "$STALE" "content (sha256) ETag"
else result "5 mtime @1, in-place" error error - - "server did not start"; fi
cleanup

# ---------------------------------------------------------------------------------------------------------------
log ""; log "== summary for $BIN"
printf '%-26s | %-11s | %-11s | %-17s | %-19s | %s\n' scenario "id body" "gz body" "ETag changed" "stale 304?" notes
printf '%s\n' "${RESULTS[@]}"
