#!/usr/bin/env bash
# Start the test API server (nginx + ngx_lua) on 127.0.0.1 and a free port.
#
#   bash spec/server/start.sh        prints NUON_TEST_URL=http://127.0.0.1:PORT
#
# State lives in $NUON_TEST_SERVER_DIR (default build/server/): nginx.conf, the
# URL in `url`, logs, pid files. A watchdog stops the server by itself after
# $NUON_TEST_SERVER_TTL seconds (default and maximum 1800) even if nobody calls
# spec/server/stop.sh. Starting again from the same directory replaces the
# previous instance.
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
rm -f "$dir/url" "$dir/error.log"

user_line="# (not root: workers run as this user)"
[ "$(id -u)" = 0 ] && user_line="user root;"

started=""
for attempt in $(seq 1 25); do
  port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
  # something already answers there: pick another before nginx spends 2.5 s retrying
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
  instance="$$-$attempt-$RANDOM"
  sed -e "s|@DIR@|$dir|g" -e "s|@ROOT@|$root|g" -e "s|@PORT@|$port|g" \
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
echo "$url" > "$dir/url"
echo "NUON_TEST_URL=$url"
