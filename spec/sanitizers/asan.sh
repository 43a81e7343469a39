#!/usr/bin/env bash
# make check-asan: the whole busted suite (Lua 5.4) with nuon.core built under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the allocation-failure
# test; LeakSanitizer checks every process at exit.  Expects what the
# Makefile target builds first:
#   build/asan/nuon/core.so   the module, -fsanitize=address,undefined, linked
#                             with -z nodelete so that lua_close's dlclose
#                             leaves it (and libcurl, whose global state lives
#                             until exit) mapped: leaks stay attributable and
#                             libcurl's globals reachable
#   build/asan/lua            spec/sanitizers/lua.c, a Lua 5.4 host linked with
#                             the ASan runtime (no LD_PRELOAD, which every
#                             child process would inherit)
#   build/asan/alloc_test     spec/alloc/alloc_test.c
# Environment: ALLOC_POINTS (default 600) failure points for the allocation
# test beyond the first 400 allocations, which are all tried.
# Last line: `N passed, M failed`, as spec/run.sh prints it.
set -u
# shellcheck source=spec/sanitizers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for f in build/asan/nuon/core.so build/asan/lua build/asan/alloc_test; do
  [ -e "$f" ] || { echo "asan.sh: $f missing: run make check-asan"; echo "0 passed, 1 failed"; exit 1; }
done

# No suppressions: with -z nodelete nothing is reported for libcurl, OpenSSL
# or Lua; anything LeakSanitizer finds is ours until shown otherwise.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=report_objects=1

san_start_server

log=$(mktemp)
# The suite as `make test` runs it, but one performance check of the test
# data generator (pure Lua, "in a few seconds") that ASan's malloc slows down.
echo "# suite busted under ASan+UBSan (build/asan/lua, build/asan/nuon/core.so)"
build/asan/lua /usr/bin/busted --cpath='build/asan/?.so' -o TAP \
  --filter-out='writes a 10,000%-run body of tens of megabytes in a few seconds' spec 2>&1 | tee "$log"
count "busted (asan)" "$log" "${PIPESTATUS[0]}"

echo "# allocation failures: spec/alloc/alloc_test.c over spec/alloc/calls.lua"
LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="build/asan/?.so;;" \
  build/asan/alloc_test spec/alloc/calls.lua "${ALLOC_POINTS:-600}" >"$log" 2>&1
status=$?
cat "$log"
if [ "$status" -eq 0 ]; then
  echo "ok 1 - allocation failures leak nothing and leave the library usable"
  passed=$((passed + 1))
else
  echo "not ok 1 - allocation failures leak nothing and leave the library usable (exit status $status)"
  failed=$((failed + 1))
fi
rm -f "$log"
summary
