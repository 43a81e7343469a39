#!/usr/bin/env bash
# Runs examples/openresty against the test API server that `make demo` uses
# (generated data, no Nuon account needed), asks it for a few runs, and stops
# everything again:
#
#   make && make LUA=luajit && bash examples/openresty/run.sh
#
# nginx listens on 127.0.0.1:8080 as nginx.conf says; logs in examples/openresty/logs/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

[ -f build/luajit/nuon/core.so ] || { echo "run.sh: build nuon.core for LuaJIT first: make LUA=luajit" >&2; exit 1; }
if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  echo "run.sh: 127.0.0.1:8080 is taken: stop what listens there, or change listen in nginx.conf" >&2
  exit 1
fi

# its own test server directory, so a server the specs use keeps running
export NUON_TEST_SERVER_DIR=${NUON_TEST_SERVER_DIR:-$PWD/build/openresty-example-server}
out=$(bash spec/server/start.sh)
export "${out?}"
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  bash spec/server/stop.sh >/dev/null 2>&1
  return 0
}
trap cleanup EXIT

# The test server's credentials, passed to the workers by nginx.conf's env lines.
export NUON_API_URL=$NUON_TEST_URL
export NUON_API_TOKEN=nuon-test-token
export NUON_ORG_ID=orgnuontestorg000000000001
export NUON_CONFIG_FILE=/dev/null

mkdir -p examples/openresty/logs
nginx -p "$PWD/examples/openresty" -c nginx.conf &
nginx_pid=$!
for _ in $(seq 1 50); do
  curl -fsS --max-time 1 http://127.0.0.1:8080/health >/dev/null 2>&1 && break
  sleep 0.1
done

show() {
  echo "\$ curl -s '$1'"
  curl -sS "$1"
  echo
}
show 'http://127.0.0.1:8080/runs/inldemo25runsmixed00000001?limit=3'
show 'http://127.0.0.1:8080/runs/inldemo120runsmixed0000002?all=1' | cut -c1-200
show 'http://127.0.0.1:8080/runs/inldemo25runsmixed00000001?limit=x'
