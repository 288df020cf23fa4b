#!/usr/bin/env bash
# Scripts/revalidation-check.sh [BIN]
#
# Issue 18's "the upgrade never costs a client a re-download", checked with a real browser: Debian's headless
# Chromium loads the demo site (html/) over https:// from a fresh Swerve, so it caches the first pass's bodies
# (ETags -br); the script waits until Swerve's background recompression has swapped every one of them (-br11); then
# the same browser profile loads the page again. The site's `Cache-Control: no-cache` makes the browser revalidate
# every asset with If-None-Match carrying the first pass's tag, and the access log shows what each got: 304 (and no
# body) for every asset, not a 200 with the recompressed bytes.
# BIN defaults to .build/release/swerve. Needs `apt-get install -y chromium openssl curl`. Port 18720, stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(readlink -f "${1:-.build/release/swerve}")
WORK=$(mktemp -d /tmp/swerve-revalidate.XXXXXX)
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=18720
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
# Trusted by its key (--ignore-certificate-errors-spki-list), not by ignoring errors: Chromium keeps nothing in its HTTP
# cache from an origin with a certificate error, and then there is nothing to revalidate.
SPKI=$(openssl x509 -in "$WORK/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
cp -r html "$WORK/site"
"$BIN" "$WORK/site" --host 127.0.0.1 --port $PORT --workers 1 --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" \
    --access-log "$WORK/access.log" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/robots.txt" && break; sleep 0.05; done
: > "$WORK/access.log"

# One browser process does both loads (a headless run's disk cache is not kept across processes): the probe page
# loads / in a frame, polls with fetches of other URLs (the asset's path with `?poll`: the same file to Swerve, another
# entry to the browser's cache, so the cached first-pass entries stay as they are) until every asset's tag is
# brotli 11's, then navigates the frame to / again.
cat > "$WORK/site/probe.html" <<'HTML'
<!doctype html><html><head><meta charset="utf-8"><title>probe</title></head>
<body><iframe id="page" src="/"></iframe><pre id="out">running</pre>
<script>
const assets = ['/', '/css/site.css', '/js/app.js', '/img/logo.svg'];
const frame = document.getElementById('page');
let loads = 0;
frame.onload = async () => {
  loads += 1;
  if (loads === 1) {
    for (let i = 0; i < 300; i++) {
      const tags = await Promise.all(assets.map(async (a) => (await fetch(a + '?poll', {cache: 'no-store'})).headers.get('etag')));
      if (tags.every((t) => t && t.endsWith('-br11"'))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await fetch('/upgraded-marker', {cache: 'no-store'});
    frame.contentWindow.location.href = '/';
  } else {
    document.getElementById('out').textContent = 'reloaded';
  }
};
</script></body></html>
HTML
echo "== Chromium: load /, wait for the recompression, load / again in the same frame"
chromium --headless=new --no-sandbox --disable-gpu --no-first-run --ignore-certificate-errors-spki-list="$SPKI" \
    --user-data-dir="$WORK/profile" ${NETLOG:+--log-net-log=$NETLOG --net-log-capture-mode=IncludeSensitive} --virtual-time-budget=60000 --dump-dom "https://127.0.0.1:$PORT/probe.html" \
    2>/dev/null | grep -o '<pre id="out">[^<]*' | sed 's/.*>/   probe: /'
for _ in $(seq 100); do
    [[ $(grep -c '"GET /upgraded-marker ' "$WORK/access.log" || true) -gt 0 ]] &&
        [[ $(sed -n '/upgraded-marker/,$p' "$WORK/access.log" | grep -c '"GET /img/logo.svg ' || true) -gt 0 ]] && break
    sleep 0.1
done
browser() { grep 'HeadlessChrome' | grep -vE '"(HEAD |GET /upgraded-marker|GET /probe.html|GET [^ ]*\?poll)' || true; }
echo "== first load (first-pass bodies: -br tags), as the access log has it"
sed '/upgraded-marker/q' "$WORK/access.log" | grep -E '"GET (/|/css/site.css|/js/app.js|/img/logo.svg) ' | browser |
    awk '!seen[$7]++' | sed 's/^/   /'
echo "== second load, after the swap to brotli 11 (revalidation with the first pass's tags)"
sed -n '/upgraded-marker/,$p' "$WORK/access.log" | sed 1d | browser > "$WORK/second.log"
sed 's/^/   /' "$WORK/second.log"
total=$(grep -c '"GET ' "$WORK/second.log" || true)
not_modified=$(grep -c '"GET [^"]*" 304 ' "$WORK/second.log" || true)
echo "== $not_modified of $total GET requests answered 304"
[[ "$total" -gt 0 && "$not_modified" -eq "$total" ]]
