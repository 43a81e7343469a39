#!/usr/bin/env bash
# Start the nginx of spec/openresty_spec.lua: nuon.resty in a real nginx
# (Debian's nginx + libnginx-mod-http-lua + lua-resty-core), one worker, on
# 127.0.0.1 and a free port, calling the test API server.
#
#   NUON_TEST_URL=http://127.0.0.1:PORT bash spec/openresty/start.sh
#       prints NUON_OPENRESTY_URL=http://127.0.0.1:PORT2 (also in build/openresty/url)
#   NUON_TEST_URL=... bash spec/openresty/start.sh example
#       the same for examples/openresty/nginx.conf as written but for its port,
#       from build/openresty-example/ (two levels down, as its $prefix/../../
#       paths want); stop it with NUON_OPENRESTY_DIR=build/openresty-example
#       bash spec/openresty/stop.sh
#
# Environment: NUON_TEST_URL (required: the test API server), NUON_TEST_TLS_URL
# and NUON_TEST_CA_FILE, NUON_TEST_OTHER_CA_FILE (HTTPS checks; left out when
# absent), NUON_OPENRESTY_DIR (default build/openresty), NUON_OPENRESTY_TTL
# (seconds, default and maximum 900) and NUON_OPENRESTY_PARENT (a pid: nginx
# stops when that process is gone). A watchdog enforces both, so nginx never
# outlives the spec; spec/openresty/stop.sh stops it at once.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=${1:-spec}
dir=${NUON_OPENRESTY_DIR:-$root/build/openresty}
template=$here/nginx.conf.in
if [ "$mode" = example ]; then
  dir=$root/build/openresty-example
  template=$root/examples/openresty/nginx.conf
elif [ "$mode" != spec ]; then
  echo "start.sh: unknown mode '$mode' (spec or example)" >&2
  exit 1
fi
ttl=${NUON_OPENRESTY_TTL:-900}
parent=${NUON_OPENRESTY_PARENT:-}
nginx=${NGINX:-nginx}
[ "$ttl" -gt 900 ] && ttl=900

api=${NUON_TEST_URL:?start.sh: NUON_TEST_URL must name the test API server}
tls_url=${NUON_TEST_TLS_URL:-}
ca_file=${NUON_TEST_CA_FILE:-}
other_ca_file=${NUON_TEST_OTHER_CA_FILE:-}

command -v "$nginx" >/dev/null 2>&1 || { echo "start.sh: nginx not found (make deps)" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "start.sh: curl not found (make deps)" >&2; exit 1; }
for m in ndk_http_module ngx_http_lua_module; do
  [ -f "/usr/lib/nginx/modules/$m.so" ] || { echo "start.sh: /usr/lib/nginx/modules/$m.so missing (make deps)" >&2; exit 1; }
done
[ -f "$root/build/luajit/nuon/core.so" ] || { echo "start.sh: build/luajit/nuon/core.so missing (make LUA=luajit)" >&2; exit 1; }

NUON_OPENRESTY_DIR=$dir bash "$here/stop.sh" >/dev/null 2>&1 || true
mkdir -p "$dir/tmp" "$dir/logs"
dir=$(cd "$dir" && pwd)
[ "$mode" = example ] && cp "$root/examples/openresty/runs.lua" "$dir/runs.lua"
rm -f "$dir/url" "$dir/error.log"

tls_sed="s|^@TLS@||"
if [ -z "$tls_url" ] || [ ! -f "$ca_file" ] || [ ! -f "$other_ca_file" ]; then
  tls_sed="/^@TLS@/d"
  tls_url=""
fi
multiarch=$( (gcc -print-multiarch || dpkg-architecture -qDEB_HOST_MULTIARCH) 2>/dev/null || echo x86_64-linux-gnu)
user_line="# (not root: workers run as this user)"
[ "$(id -u)" = 0 ] && user_line="user root;"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=""
for attempt in $(seq 1 25); do
  port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
  port_free "$port" || continue
  instance="$$-$attempt-$RANDOM"
  sed -e "$tls_sed" -e "s|@DIR@|$dir|g" -e "s|@ROOT@|$root|g" -e "s|@PORT@|$port|g" \
      -e "s|@API_URL@|$api|g" -e "s|@TLS_URL@|$tls_url|g" -e "s|@CA_FILE@|$ca_file|g" \
      -e "s|@OTHER_CA_FILE@|$other_ca_file|g" -e "s|@MULTIARCH@|$multiarch|g" \
      -e "s|@INSTANCE@|$instance|g" -e "s|@USER@|$user_line|g" \
      -e "s|listen 127\.0\.0\.1:8080;|listen 127.0.0.1:$port;|" \
      "$template" > "$dir/nginx.conf"
  if [ "$mode" = example ] && ! grep -q "listen 127.0.0.1:$port;" "$dir/nginx.conf"; then
    echo "start.sh: examples/openresty/nginx.conf no longer listens on 127.0.0.1:8080" >&2
    exit 1
  fi
  # what `resty.new()` without options reads (declared with `env` in nginx.conf)
  NUON_API_URL=$api NUON_API_TOKEN=nuon-test-token NUON_ORG_ID=orgnuontestorg000000000001 \
  NUON_CONFIG_FILE=/dev/null \
    setsid "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    </dev/null >"$dir/nginx.out" 2>&1 &
  pid=$!
  echo "$pid" > "$dir/master.pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if [ "$mode" = example ]; then
      ready=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/health" 2>/dev/null || true)
      [ "$ready" = ok ] && { started=1; break; }
    elif curl -fsS --max-time 2 "http://127.0.0.1:$port/ping" 2>/dev/null | grep -q "\"$instance\""; then
      started=1
      break
    fi
    sleep 0.1
  done
  [ -n "$started" ] && break
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if ! grep -q "Address already in use" "$dir/error.log" "$dir/logs/error.log" "$dir/nginx.out" 2>/dev/null; then
    echo "start.sh: nginx did not start:" >&2
    cat "$dir/nginx.out" "$dir/error.log" >&2 2>/dev/null || true
    exit 1
  fi
done
[ -n "$started" ] || { echo "start.sh: no free port found" >&2; exit 1; }

# Watchdog: stop nginx after $ttl seconds, or when $parent is gone; exit when
# nginx is gone.
# shellcheck disable=SC2016 # expanded by the inner bash
setsid bash -c '
  pid=$1; ttl=$2; parent=$3; end=$((SECONDS + ttl))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$end" ] || { [ -n "$parent" ] && ! kill -0 "$parent" 2>/dev/null; }; then
      kill -TERM "$pid" 2>/dev/null
      sleep 3
      kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
      exit 0
    fi
    sleep 1
  done' openresty-watchdog "$pid" "$ttl" "$parent" </dev/null >/dev/null 2>&1 &
echo $! > "$dir/watchdog.pid"

echo "http://127.0.0.1:$port" > "$dir/url"
echo "NUON_OPENRESTY_URL=http://127.0.0.1:$port"
