# shellcheck shell=bash
# Shared by spec/sanitizers/{asan,valgrind}.sh (sourced, not run): a test
# server of their own, and TAP counting with the same rules and the same last
# line as spec/run.sh.
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

passed=0
failed=0

# A server of our own in build/sanitizers-server/, so that a `make test`
# running at the same time (its server is build/server/) is left alone.
export NUON_TEST_SERVER_DIR=$PWD/build/sanitizers-server
san_stop_server() { bash spec/server/stop.sh >/dev/null 2>&1; }
san_start_server() {
  local out
  trap san_stop_server EXIT
  trap 'san_stop_server; exit 130' INT
  trap 'san_stop_server; exit 143' TERM
  out=$(bash spec/server/start.sh) || { echo "# the test server did not start"; echo "0 passed, 1 failed"; exit 1; }
  export "${out?}"
  echo "# test server: $NUON_TEST_URL"
}

# count NAME LOG STATUS: adds up the `ok N` / `not ok N` lines of a TAP log.
# A run that exits non-zero without a failing test (a sanitizer report at
# exit, a crash) counts as one failure; so does one that ran no test.
count() {
  local name=$1 log=$2 status=$3 ok notok
  ok=$(grep -cE '^ok [0-9]+' "$log")
  notok=$(grep -cE '^not ok [0-9]+' "$log")
  if [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ]; then
    echo "# $name: no test ran (exit status $status)"
    notok=1
  elif [ "$status" -ne 0 ] && [ "$notok" -eq 0 ]; then
    echo "# $name: exit status $status without a failing test"
    notok=1
  fi
  echo "# $name: $ok passed, $notok failed"
  passed=$((passed + ok))
  failed=$((failed + notok))
}

summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
