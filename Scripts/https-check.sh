#!/usr/bin/env bash
# Scripts/https-check.sh [BIN]
#
# Loads the demo site (html/) over https:// in Debian's headless Chromium, from a Swerve with a throwaway certificate,
# and prints what the browser reports for the page and each asset it loaded: the protocol
# (PerformanceResourceTiming.nextHopProtocol), and for a second fetch of each asset its status, Content-Encoding,
# decoded size and ETag. Then the same through plain HTTP to --redirect-http, which must lead to the https page.
# BIN defaults to .build/release/swerve (`swift build -c release --product swerve`). Needs `apt-get install -y
# chromium openssl`. The server runs on 127.0.0.1:18710 (https) and :18711 (redirect), stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(readlink -f "${1:-.build/release/swerve}")
WORK=$(mktemp -d /tmp/swerve-https.XXXXXX)
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
cp -r html "$WORK/site"
cat > "$WORK/site/probe.html" <<'HTML'
<!doctype html><html><head><meta charset="utf-8"><title>probe</title></head>
<body><iframe id="page" src="/index.html"></iframe><pre id="out">running</pre>
<script>
document.getElementById('page').onload = async (event) => {
  const w = event.target.contentWindow;
  const out = [];
  const nav = w.performance.getEntriesByType('navigation')[0];
  out.push(`page ${new URL(nav.name).pathname}: ${nav.nextHopProtocol}, transfer ${nav.encodedBodySize} B, decoded ${nav.decodedBodySize} B`);
  for (const entry of w.performance.getEntriesByType('resource')) {
    const r = await fetch(entry.name, {cache: 'no-store'});
    const body = await r.arrayBuffer();
    out.push(`${new URL(entry.name).pathname}: ${entry.nextHopProtocol}, ${r.status}, Content-Encoding ${r.headers.get('content-encoding')}, ` +
             `${body.byteLength} B decoded, ETag ${r.headers.get('etag')}`);
  }
  out.push(`scheme ${location.protocol}`);
  document.getElementById('out').textContent = out.join('\n');
};
</script></body></html>
HTML
"$BIN" "$WORK/site" --host 127.0.0.1 --port 18710 --workers 1 --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" \
    --redirect-http 127.0.0.1:18711 --access-log "$WORK/access.log" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sk -o /dev/null https://127.0.0.1:18710/ && break; sleep 0.05; done

dom() {
    chromium --headless=new --no-sandbox --disable-gpu --no-first-run --ignore-certificate-errors \
        --user-data-dir="$WORK/profile" --virtual-time-budget=5000 --dump-dom "$1" 2>/dev/null
}
echo "== https://127.0.0.1:18710/probe.html"
dom https://127.0.0.1:18710/probe.html | sed -n '/<pre id="out">/,/<\/pre>/p' | sed -e 's/<[^>]*>//g' -e '/^$/d' -e 's/^/   /'
echo "== http://127.0.0.1:18711/probe.html (the redirect listener)"
dom http://127.0.0.1:18711/probe.html | sed -n '/<pre id="out">/,/<\/pre>/p' | sed -e 's/<[^>]*>//g' -e '/^$/d' -e 's/^/   /'
echo "== the server's startup line"
grep -m1 ' serving ' "$WORK/server.log" | sed -e 's/^/   /'
