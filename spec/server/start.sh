#!/usr/bin/env bash
# Start the test API server (nginx + ngx_lua) on 127.0.0.1 and a free port.
#
#   bash spec/server/start.sh        prints NUON_TEST_URL=http://127.0.0.1:PORT
#
# State lives in $NUON_TEST_SERVER_DIR (default build/server/): nginx.conf, the
# URL in `url`, logs, pid files. Two more listeners, for the reliability and
# security specs: the same API over HTTPS (URL in `tls_url`, and over HTTP/2
# in `h2_url`; a CA and
# certificate made now by spec/tls/mkcerts.sh into `tls/`, CA in tls/ca.crt;
# left out with a warning when openssl is missing) and "another host" that
# only records what reaches it (server/other.lua; URL in `other_url`, on
# 127.0.0.2 where the system allows it). A watchdog stops the server by
# itself after $NUON_TEST_SERVER_TTL seconds (default and maximum 1800) even
# if nobody calls spec/server/stop.sh. Starting again from the same directory
# replaces the previous instance.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${NUON_TEST_SERVER_DIR:-$root/build/server}
ttl=${NUON_TEST_SERVER_TTL:-1800}
nginx=${NGINX:-nginx}
[ "$ttl" -gt 1800 ] && ttl=1800

command -v "$nginx" >/dev/null 2>&1 || { echo "start.sh: nginx not found (make deps)" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "start.sh: curl not found (make deps)" >&2; exit 1; }
for m in ndk_http_module ngx_http_lua_module; do
  [ -f "/usr/lib/nginx/modules/$m.so" ] || { echo "start.sh: /usr/lib/nginx/modules/$m.so missing (make deps)" >&2; exit 1; }
done

NUON_TEST_SERVER_DIR=$dir bash "$here/stop.sh" >/dev/null 2>&1 || true
mkdir -p "$dir/tmp"
dir=$(cd "$dir" && pwd)
rm -f "$dir/url" "$dir/tls_url" "$dir/h2_url" "$dir/other_url" "$dir/error.log"

tls=""
if bash "$root/spec/tls/mkcerts.sh" "$dir/tls" >"$dir/mkcerts.out" 2>&1; then
  tls=1
else
  echo "start.sh: no HTTPS listener: spec/tls/mkcerts.sh failed:" >&2
  cat "$dir/mkcerts.out" >&2
fi

# Is this address:port free? (something answering there would cost nginx 2.5 s of retries)
port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
random_port() { echo $(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 )); }
other_host=127.0.0.2

user_line="# (not root: workers run as this user)"
[ "$(id -u)" = 0 ] && user_line="user root;"

started=""
for attempt in $(seq 1 25); do
  port=$(random_port)
  tls_port=$(random_port)
  other_port=$(random_port)
  h2_port=$(random_port)
  if [ "$(printf '%s\n' "$port" "$tls_port" "$other_port" "$h2_port" | sort -u | wc -l)" -ne 4 ]; then continue; fi
  if ! { port_free 127.0.0.1 "$port" && port_free 127.0.0.1 "$tls_port" && port_free "$other_host" "$other_port" \
         && port_free 127.0.0.1 "$h2_port"; }; then
    continue
  fi
  instance="$$-$attempt-$RANDOM"
  tls_sed="s|^@TLS@||"
  [ -n "$tls" ] || tls_sed="/^@TLS@/d"
  sed -e "$tls_sed" -e "s|@DIR@|$dir|g" -e "s|@ROOT@|$root|g" -e "s|@PORT@|$port|g" \
      -e "s|@TLS_PORT@|$tls_port|g" -e "s|@H2_PORT@|$h2_port|g" -e "s|@OTHER_HOST@|$other_host|g" -e "s|@OTHER_PORT@|$other_port|g" \
      -e "s|@INSTANCE@|$instance|g" -e "s|@USER@|$user_line|g" \
      "$here/nginx.conf.in" > "$dir/nginx.conf"
  setsid "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    </dev/null >"$dir/nginx.out" 2>&1 &
  pid=$!
  echo "$pid" > "$dir/master.pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if curl -fsS --max-time 2 "http://127.0.0.1:$port/__nuon/health" 2>/dev/null | grep -q "\"$instance\""; then
      started=1
      break
    fi
    sleep 0.1
  done
  [ -n "$started" ] && break
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # no 127.0.0.2 here (not every system routes all of 127/8): "another host" gets 127.0.0.1
  if [ "$other_host" != 127.0.0.1 ] && grep -q "Cannot assign requested address" "$dir/error.log" "$dir/nginx.out" 2>/dev/null; then
    other_host=127.0.0.1
    continue
  fi
  if ! grep -q "Address already in use" "$dir/error.log" "$dir/nginx.out" 2>/dev/null; then
    echo "start.sh: nginx did not start:" >&2
    cat "$dir/nginx.out" "$dir/error.log" >&2 2>/dev/null || true
    exit 1
  fi
done
[ -n "$started" ] || { echo "start.sh: no free port found" >&2; exit 1; }

# Watchdog: stop the server after $ttl seconds, or exit when it is gone.
# shellcheck disable=SC2016 # expanded by the inner bash
setsid bash -c '
  pid=$1; ttl=$2; end=$((SECONDS + ttl))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$end" ]; then
      kill -TERM "$pid" 2>/dev/null
      sleep 3
      kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
      exit 0
    fi
    sleep 1
  done' watchdog "$pid" "$ttl" </dev/null >/dev/null 2>&1 &
echo $! > "$dir/watchdog.pid"

url="http://127.0.0.1:$port"
[ -n "$tls" ] && echo "https://127.0.0.1:$tls_port" > "$dir/tls_url"
[ -n "$tls" ] && echo "https://127.0.0.1:$h2_port" > "$dir/h2_url"
echo "http://$other_host:$other_port" > "$dir/other_url"
echo "$url" > "$dir/url"
echo "NUON_TEST_URL=$url"
