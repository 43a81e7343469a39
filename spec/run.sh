#!/usr/bin/env bash
# The test runner `make test` calls (after `make build`).
#
#   bash spec/run.sh                      every suite
#   bash spec/run.sh spec/foo_spec.lua    only the Lua 5.4 busted suite, with
#                                         these arguments passed to busted
#   bash spec/run.sh --matrix SPEC...     these specs once per Lua named in
#                                         $NUON_MATRIX_LUAS (5.1 5.2 5.3 5.4
#                                         luajit), each with build/<lua>/'s core
#
# Starts the test API server (spec/server/start.sh; stopped again on exit, pass
# or fail), exports NUON_TEST_URL, runs each suite with TAP output and sums its
# `ok N` / `not ok N` lines. A suite that exits non-zero without a failing test,
# or that reports no test at all, counts as one failure. The last line is
# exactly `N passed, M failed`; the exit status is non-zero when M > 0.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

passed=0
failed=0

suite_pid=""
stop_server() {
  [ -n "${started_server:-}" ] && bash spec/server/stop.sh >/dev/null 2>&1
  started_server=""
}
# On INT/TERM: end the running suite (its own process group) and the server now.
abort() {
  [ -n "$suite_pid" ] && kill -TERM -- "-$suite_pid" 2>/dev/null
  stop_server
  echo "# interrupted"
  exit "$1"
}
trap stop_server EXIT
trap 'abort 130' INT
trap 'abort 143' TERM

# run_suite NAME CMD... : run one TAP-producing suite and add up its results.
run_suite() {
  local name=$1
  shift
  local log
  log=$(mktemp)
  echo "# suite $name: $*"
  # In the background and in its own session, so a signal to this script is
  # handled at once (`wait` is interruptible) and can end the whole suite.
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c '"${@:2}" 2>&1 | tee "$1"; exit "${PIPESTATUS[0]}"' run_suite "$log" "$@" &
  suite_pid=$!
  wait "$suite_pid"
  local status=$?
  suite_pid=""
  local ok notok
  ok=$(grep -cE '^ok [0-9]+' "$log")
  notok=$(grep -cE '^not ok [0-9]+' "$log")
  rm -f "$log"
  if [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ]; then
    echo "# suite $name: no test ran (exit status $status)"
    notok=1
  elif [ "$status" -ne 0 ] && [ "$notok" -eq 0 ]; then
    echo "# suite $name: exit status $status without a failing test"
    notok=1
  fi
  echo "# suite $name: $ok passed, $notok failed"
  passed=$((passed + ok))
  failed=$((failed + notok))
}

start_server() {
  if [ -n "${NUON_TEST_URL:-}" ] && curl -fsS --max-time 2 "$NUON_TEST_URL/__nuon/health" >/dev/null 2>&1; then
    echo "# using the test server at $NUON_TEST_URL"
    return 0
  fi
  local out
  if ! out=$(bash spec/server/start.sh); then
    return 1
  fi
  started_server=1
  export "${out?}"
  echo "# test server: $NUON_TEST_URL"
}

matrix=""
if [ "${1:-}" = "--matrix" ]; then
  matrix=1
  shift
fi

if start_server; then
  export NUON_TEST_URL
  if [ -n "$matrix" ]; then
    for v in ${NUON_MATRIX_LUAS:-5.1 5.2 5.3 5.4 luajit}; do
      if [ "$v" = luajit ]; then lua=luajit; build=build/luajit; else lua=lua$v; build=build/lua$v; fi
      run_suite "$lua" busted --lua="$lua" --cpath="$build/?.so" -o TAP "$@"
    done
  elif [ "$#" -gt 0 ]; then
    run_suite lua5.4 busted --lua=lua5.4 -o TAP "$@"
  else
    run_suite lua5.4 busted --lua=lua5.4 -o TAP spec
    # the same specs against the LuaJIT build (build/luajit/nuon/core.so)
    run_suite luajit busted --lua=luajit --run=luajit -o TAP spec
    # Neovim (LuaJIT): nuon.nvim on vim.loop, headless
    run_suite nvim nvim --headless -u NONE -i NONE -c "luafile spec/nvim/run.lua"
    # the plugin as installed (make nvim): only the checkout on the runtimepath
    run_suite nvim-plugin nvim --clean --headless --cmd "set rtp^=$PWD" -c "luafile spec/nvim/plugin.lua"
    # OpenResty: nuon.resty in a real nginx (its own instance, one worker)
    run_suite openresty env NUON_OPENRESTY_SPEC=1 busted --lua=lua5.4 -o TAP spec/openresty_spec.lua
  fi
else
  echo "# the test server did not start"
  failed=$((failed + 1))
fi

stop_server
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
