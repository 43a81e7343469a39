#!/usr/bin/env bash
# make check-valgrind: the specs that drive the C core, under valgrind
# memcheck: zero errors, zero definite leaks.  Expects build/valgrind/nuon/
# core.so (-O1 -g, linked with -z nodelete for the reason given in asan.sh).
#
# A subset, for time: valgrind runs everything 20-50 times slower, and the
# pure-Lua specs (config, filter, time, generator, summary, the test server's
# own) never enter nuon.core.  Of the subset, the #timing tests (bounds in
# seconds; ASan runs them) and the #big ones (60 MB bodies) are left out.
# Last line: `N passed, M failed`, as spec/run.sh prints it.
set -u
# shellcheck source=spec/sanitizers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SPECS=${VALGRIND_SPECS:-"spec/client_spec.lua spec/request_spec.lua spec/decode_spec.lua spec/hostile_body_spec.lua spec/reliability_spec.lua spec/security_spec.lua spec/wait_spec.lua spec/paging_spec.lua spec/limits_spec.lua spec/fleet_spec.lua"}

[ -e build/valgrind/nuon/core.so ] || { echo "valgrind.sh: build/valgrind/nuon/core.so missing: run make check-valgrind"; echo "0 passed, 1 failed"; exit 1; }
command -v valgrind >/dev/null 2>&1 || { echo "valgrind.sh: valgrind not found (make deps)"; echo "0 passed, 1 failed"; exit 1; }

san_start_server

log=$(mktemp)
vglog=$(mktemp -d)
echo "# suite busted under valgrind memcheck: $SPECS"
# shellcheck disable=SC2086 # SPECS is a list
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --num-callers=40 --log-file="$vglog/vg.%p" \
  lua5.4 /usr/bin/busted --cpath='build/valgrind/?.so' -o TAP --exclude-tags=timing,big $SPECS 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# valgrind's own report (empty with --quiet unless it found something)
if [ -n "$(cat "$vglog"/vg.* 2>/dev/null)" ]; then
  echo "# valgrind reported:"
  cat "$vglog"/vg.*
fi
count "busted (valgrind)" "$log" "$status"

# The module as users build it (build/lua5.4, unloaded at lua_close, no
# -z nodelete), one request and a decode, with the suppression file for
# libcurl's one-time libldap initialisation and nothing else: any other
# definite leak fails.  --keep-debuginfo names frames of the unloaded module.
if [ -e build/lua5.4/nuon/core.so ]; then
  rm -f "$vglog"/vg.*
  valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --keep-debuginfo=yes --num-callers=40 \
    --suppressions=spec/sanitizers/valgrind.supp --log-file="$vglog/vg.%p" \
    lua5.4 -e '
      package.cpath = "build/lua5.4/?.so;" .. package.cpath
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      local nuon = require "nuon"
      local c = nuon.new{ base_url = os.getenv("NUON_TEST_URL"), token = "nuon-test-token",
        org_id = "orgnuontestorg000000000001" }
      local runs = assert(c:all_sandbox_runs("inldemo120runsmixed0000002"))
      assert(#runs == 120)
      assert(nuon.decode_sandbox_runs("[{}]"))
      c:close()
      print("ok 1 - the plain build, one paging call and a decode: no definite leak")' >"$log" 2>&1
  status=$?
  cat "$log"
  if [ -n "$(cat "$vglog"/vg.* 2>/dev/null)" ]; then
    echo "# valgrind reported:"
    cat "$vglog"/vg.*
  fi
  count "plain build (valgrind)" "$log" "$status"
fi
rm -rf "$log" "$vglog"
summary
