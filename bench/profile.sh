#!/usr/bin/env bash
# bench/profile.sh [RUNS [DECODES]] : callgrind profiles of the decode (not
# run by `make bench`).  Builds nuon.core from the current sources into
# build/bench/core-prof/ and a Lua 5.4 host with symbols (bench/lua54_host.c),
# then decodes the RUNS-run body (default 25) DECODES times (default 200)
# with nuon and with the floor module, counting only instructions inside the
# decode (--toggle-collect), and prints the self cost by kind of work and by
# function (bench/cg_groups.py).  Outputs: build/bench/callgrind.{nuon,floor}.RUNS
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
runs=${1:-25}
decodes=${2:-200}
flavor=${BENCH_FLAVOR:-current}
file=build/bench/data/$flavor-$runs.json
${MAKE:-make} --no-print-directory -f bench/bench.mk all profile >/dev/null
${MAKE:-make} --no-print-directory LUA=5.4 BUILD=build/bench/core-prof build >/dev/null
export BENCH_CORE_DIR=$root/build/bench/core-prof
mkdir -p build/bench/data
luajit bench/gen.lua build/bench/data "$flavor" "$runs" >/dev/null
lua5.4 bench/decode_worker.lua warnings nuon "$file" >/dev/null
for impl in nuon floor; do
  case $impl in
    nuon) toggle=nuon_decode_runs ;;
    floor) toggle=l_build ;;
  esac
  out=build/bench/callgrind.$impl.$runs
  valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect="$toggle" \
    build/bench/lua54-host bench/profile_run.lua "$impl" "$file" "$decodes" 2>/dev/null
  echo "== $impl: $file, $decodes decodes, instructions inside $toggle"
  if command -v python3 >/dev/null 2>&1; then
    python3 bench/cg_groups.py "$out" 25
  else
    callgrind_annotate "$out" 2>/dev/null | sed -n '/file:function/,+28p'
  fi
done
