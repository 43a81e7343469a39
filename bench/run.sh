#!/usr/bin/env bash
# bench/run.sh [--smoke]: builds the benchmark's C pieces (bench/bench.mk),
# starts a private test server in build/bench-server/, runs bench/bench.lua
# and stops the server on every exit.  `make bench` / `make bench-smoke`
# build nuon.core for Lua 5.4 and LuaJIT first.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

for f in build/lua5.4/nuon/core.so build/luajit/nuon/core.so; do
  [ -f "$f" ] || { echo "bench: $f missing (make && make LUA=luajit)" >&2; exit 1; }
done
${MAKE:-make} --no-print-directory -f bench/bench.mk

export NUON_TEST_SERVER_DIR="$root/build/bench-server"
export NUON_TEST_SERVER_TTL=900
trap 'NUON_TEST_SERVER_DIR="$NUON_TEST_SERVER_DIR" bash "$root/spec/server/stop.sh"' EXIT
trap 'exit 130' INT TERM
url_line=$(bash spec/server/start.sh)
export NUON_TEST_URL=${url_line#NUON_TEST_URL=}
unset NUON_TEST_TLS_URL NUON_TEST_OTHER_URL NUON_API_TOKEN NUON_ORG_ID NUON_API_URL NUON_CONFIG_FILE

lua5.4 bench/bench.lua "$@"
