# The peer servers of the benchmark, configured alike (sourced; needs root and the Debian packages nginx, h2o,
# lighttpd): one worker each, access logs off, keep-alive without a request limit, sendfile, gzip served from a
# sidecar or a cache rather than compressed per request. Every listener defers accepting until a connection's first
# bytes arrive (TCP_DEFER_ACCEPT, 1 s): h2o does by default, nginx with `listen … deferred`, lighttpd with
# `server.defer-accept`, and Swerve by default.
#
#   peer_start NAME DIR SITE PORT   start NAME (nginx|h2o|lighttpd) pinned to $SERVER_CPU (default 0), config and
#                                   logs in DIR; sets PEER_PID (the process whose tree is the server)
#   peer_pids PID                   PID and its children, one per line (nginx: master and worker)
#   peer_url_path NAME SCENARIO     the path NAME serves for SCENARIO (gzip: a sidecar or the compression cache)
#
# With PEER_TLS_CERT and PEER_TLS_KEY set (PEM files), every peer serves HTTPS instead, with that pair, TLS 1.2-1.3,
# session tickets on. wrk offers only http/1.1 by ALPN, so a wrk row compares HTTP/1.1. PEER_HTTP2=1 also turns on
# HTTP/2 where it is not on by default (nginx's `http2` listen flag; h2o and lighttpd 1.4.69 offer h2 by ALPN), for
# h2load rows.

peer_conf_nginx() {  # DIR SITE PORT
    mkdir -p "$1/tmp"
    cat >"$1/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 16384; use epoll; multi_accept on; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    gzip_static on;
    # On the fly for a file without a sidecar (compare.sh's uncapped rows); gzip_static wins where one exists.
    gzip on;
    gzip_types application/javascript text/javascript;
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    server {
        listen 127.0.0.1:$3 deferred${PEER_TLS_CERT:+ ssl}${PEER_HTTP2:+ http2};
        root $2;
$(if [[ -n "${PEER_TLS_CERT:-}" ]]; then cat <<TLS
        ssl_certificate $PEER_TLS_CERT;
        ssl_certificate_key $PEER_TLS_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
TLS
fi)
    }
}
EOF
}

peer_conf_h2o() {  # DIR SITE PORT
    cat >"$1/h2o.conf" <<EOF
listen:
  host: 127.0.0.1
  port: $3
$(if [[ -n "${PEER_TLS_CERT:-}" ]]; then cat <<TLS
  ssl:
    certificate-file: $PEER_TLS_CERT
    key-file: $PEER_TLS_KEY
    minimum-version: TLSv1.2
TLS
fi)
num-threads: 1
user: root
max-connections: 16384
error-log: $1/error.log
pid-file: $1/h2o.pid
http1-request-timeout: 65
file.send-compressed: ON
hosts:
  default:
    paths:
      /:
        file.dir: $2
EOF
}

peer_conf_lighttpd() {  # DIR SITE PORT
    mkdir -p "$1/cache"
    cat >"$1/lighttpd.conf" <<EOF
server.document-root = "$2"
server.bind = "127.0.0.1"
server.port = $3
server.defer-accept = 1
server.errorlog = "$1/error.log"
server.max-worker = 0
server.max-fds = 20000
server.max-connections = 16384
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 65
server.modules = ( "mod_deflate" )
deflate.cache-dir = "$1/cache"
deflate.mimetypes = ( "application/javascript", "text/javascript", "text/html", "text/css" )
deflate.allowed-encodings = ( "gzip" )
mimetype.assign = ( ".html" => "text/html", ".js" => "application/javascript", ".css" => "text/css",
                    ".txt" => "text/plain", ".bin" => "application/octet-stream" )
EOF
    if [[ -n "${PEER_TLS_CERT:-}" ]]; then
        # lighttpd-mod-openssl; ssl.pemfile takes the chain, ssl.privkey the key.
        cat >>"$1/lighttpd.conf" <<EOF
server.modules += ( "mod_openssl" )
ssl.engine = "enable"
ssl.pemfile = "$PEER_TLS_CERT"
ssl.privkey = "$PEER_TLS_KEY"
ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1.2", "Options" => "SessionTicket" )
EOF
    fi
}

peer_start() {  # NAME DIR SITE PORT
    local name=$1 dir=$2 site=$3 port=$4
    mkdir -p "$dir"
    "peer_conf_$name" "$dir" "$site" "$port"
    case "$name" in
        nginx) taskset -c "${SERVER_CPU:-0}" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' \
                   >"$dir/stdout.log" 2>&1 & ;;
        h2o) taskset -c "${SERVER_CPU:-0}" h2o -c "$dir/h2o.conf" >"$dir/stdout.log" 2>&1 & ;;
        lighttpd) taskset -c "${SERVER_CPU:-0}" lighttpd -D -f "$dir/lighttpd.conf" >"$dir/stdout.log" 2>&1 & ;;
        *) echo "unknown peer $name" >&2; return 1 ;;
    esac
    PEER_PID=$!
}

peer_pids() {  # PID
    echo "$1"
    pgrep -P "$1" || true
}

peer_url_path() {  # NAME SCENARIO
    case "$2" in
        1k|close) echo /index.html ;;
        # Swerve compresses app2.js once into memory; lighttpd once into its cache dir; nginx and h2o send app.js.gz.
        gzip) if [[ "$1" == swerve || "$1" == lighttpd ]]; then echo /app2.js; else echo /app.js; fi ;;
        identity) echo /app.js ;;
        10m) echo /big.bin ;;
        404) echo /missing.html ;;
    esac
}
