#!/usr/bin/env bash
# Scripts/browser-check.sh [BIN]
#
# Loads, in Debian's headless Chromium, what a browser user of Swerve meets first: a directory listing, an SPA
# fallback route, and cross-origin fetches from a page of one Swerve origin to another (an allowed one, whose
# ETag and Server-Timing the page can read, and a refused one). Prints what the page's DOM says after its scripts
# ran. BIN defaults to .build/release/swerve (build it with `swift build -c release --product swerve`).
# Needs `apt-get install -y chromium`. Servers run on 127.0.0.1:18701-18703 and are stopped on exit.
set -euo pipefail
BIN=$(readlink -f "${1:-.build/release/swerve}")
WORK=$(mktemp -d /tmp/swerve-browser.XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/a/files/sub" "$WORK/b" "$WORK/c"
cat > "$WORK/a/index.html" <<'HTML'
<!doctype html><html><head><meta charset="utf-8"><title>SPA</title></head>
<body><p id="route">loading</p>
<script>document.getElementById('route').textContent = 'SPA shell rendered route ' + location.pathname;</script>
</body></html>
HTML
cat > "$WORK/a/app.html" <<'HTML'
<!doctype html><html><head><meta charset="utf-8"><title>cross-origin</title></head>
<body><pre id="out">running</pre>
<script>
const out = [];
async function probe(label, url) {
  try {
    const r = await fetch(url);
    const body = await r.json();
    out.push(`${label}: status ${r.status}, items ${body.items.length}, ETag ${r.headers.get('ETag')}, ` +
             `Content-Encoding ${r.headers.get('Content-Encoding')}, Server-Timing ${r.headers.get('Server-Timing')}`);
    const timing = performance.getEntriesByName(url)[0];
    out.push(`${label}: resource timing serverTiming ${JSON.stringify(timing.serverTiming.map(t => t.name + ':' + t.description))}`);
  } catch (e) {
    out.push(`${label}: blocked (${e.name}: ${e.message})`);
  }
}
(async () => {
  await probe('allowed origin', 'http://127.0.0.1:18702/data.json');
  await probe('refused origin', 'http://127.0.0.1:18703/data.json');
  document.getElementById('out').textContent = out.join('\n');
})();
</script></body></html>
HTML
printf 'first file\n' > "$WORK/a/files/a & b.txt"
printf 'x\n' > "$WORK/a/files/<tag>.txt"
printf 'deep\n' > "$WORK/a/files/sub/deep.txt"
python3 -c "import json; print(json.dumps({'items': [{'n': i, 'text': 'swerve ' * 8} for i in range(40)]}))" > "$WORK/b/data.json"
cp "$WORK/b/data.json" "$WORK/c/data.json"

start() {  # PORT ROOT ARGS...
    local port=$1 root=$2; shift 2
    "$BIN" "$root" --host 127.0.0.1 --port "$port" --workers 1 "$@" >"$WORK/server-$port.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return; sleep 0.05; done
    echo "server on $port did not start" >&2; cat "$WORK/server-$port.log" >&2; exit 1
}
start 18701 "$WORK/a" --list-dirs --fallback index.html
start 18702 "$WORK/b" --cors http://127.0.0.1:18701
start 18703 "$WORK/c" --cors https://somewhere.else

dom() {
    chromium --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/profile" \
        --virtual-time-budget=5000 --dump-dom "$1" 2>/dev/null
}

echo "== listing: http://127.0.0.1:18701/files/"
dom http://127.0.0.1:18701/files/ | grep -E '<title>|<tr>' | sed -e 's/^/   /'
echo "== fallback route: http://127.0.0.1:18701/settings/profile"
dom http://127.0.0.1:18701/settings/profile | grep -E 'id="route"' | sed -e 's/^/   /'
echo "== missing asset: curl -H 'Accept: */*' http://127.0.0.1:18701/app.3f9a.js"
printf '   %s\n' "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: */*' http://127.0.0.1:18701/app.3f9a.js)"
echo "== cross-origin fetches from http://127.0.0.1:18701/app.html"
dom http://127.0.0.1:18701/app.html | sed -n '/<pre id="out">/,/<\/pre>/p' | sed -e 's/<[^>]*>//g' -e '/^$/d' -e 's/^/   /'
