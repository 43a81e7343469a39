#!/usr/bin/env bash
# `make demo`: run the examples against the test API server and its generated
# data, so nothing but this checkout is needed.  With NUON_API_TOKEN and
# NUON_ORG_ID already set (and NUON_INSTALL_ID naming one of your installs),
# the examples run against the real API instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LUA=${LUA:-lua5.4}
export LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;"
export LUA_CPATH="$PWD/build/lua5.4/?.so;;"

if [ -n "${NUON_API_TOKEN:-}" ] && [ -n "${NUON_ORG_ID:-}" ] && [ -n "${NUON_INSTALL_ID:-}" ]; then
  echo "== against ${NUON_API_URL:-https://api.nuon.co}"
  "$LUA" examples/list_runs.lua "$NUON_INSTALL_ID"
  "$LUA" examples/failed_runs.lua "$NUON_INSTALL_ID"
  "$LUA" examples/report.lua "$NUON_INSTALL_ID"
  "$LUA" examples/export.lua --format csv "$NUON_INSTALL_ID" | head -n 6
  "$LUA" examples/wait_for_provision.lua --timeout 60 "$NUON_INSTALL_ID" || echo "(exit status $?)"
  exit 0
fi

out=$(bash spec/server/start.sh)
export "${out?}"
trap 'bash spec/server/stop.sh >/dev/null 2>&1' EXIT

export NUON_API_URL=$NUON_TEST_URL
export NUON_API_TOKEN=nuon-test-token
export NUON_ORG_ID=orgnuontestorg000000000001
export NUON_CONFIG_FILE=/dev/null
install=inldemo250runsmixed0000003

echo "== test server at $NUON_API_URL (generated data), install $install"
echo
echo "\$ $LUA examples/list_runs.lua $install 15"
"$LUA" examples/list_runs.lua "$install" 15
echo
echo "\$ $LUA examples/failed_runs.lua $install"
"$LUA" examples/failed_runs.lua "$install"
echo
echo "\$ $LUA examples/report.lua $install"
"$LUA" examples/report.lua "$install"
echo
echo "\$ $LUA examples/export.lua $install | head -c 300     # JSON lines, every field"
"$LUA" examples/export.lua "$install" 2>/dev/null | head -c 300 || true
echo " ..."
echo
echo "\$ $LUA examples/export.lua --format csv $install | head -n 4"
"$LUA" examples/export.lua --format csv "$install" 2>/dev/null | head -n 4 || true
echo
echo "\$ $LUA examples/wait_for_provision.lua $install      # its latest run"
"$LUA" examples/wait_for_provision.lua "$install" || echo "(exit status $?)"

# A fleet: 50 generated installs whose newest runs are from today; the
# failed runs of the last 30 days across all of them.
fleet_file=$(mktemp)
now=$(date +%s)
for i in $(seq -w 1 50); do
  id="inldemofleet000000000000$i"
  echo "$id" >> "$fleet_file"
  curl -fsS -o /dev/null -X POST -H "Content-Type: application/json" \
    --data-binary "{\"id\":\"$id\",\"count\":40,\"flavor\":\"current\",\"seed\":$((10#$i)),\"now\":$now,\"latency_ms\":30}" \
    "$NUON_API_URL/__nuon/installs"
done
echo
echo "\$ $LUA examples/fleet_report.lua --hours 720 --file installs.txt     # 50 installs, 30 ms a page"
"$LUA" examples/fleet_report.lua --hours 720 --file "$fleet_file" || echo "(exit status $?)"
rm -f "$fleet_file"

# A run in flight: the test server serves a body we rewrite while the example
# waits (queued -> provisioning -> active).
wait_install=inldemowaitforprovision001
wait_run=sbrdemowaitforprovision001
serve_status() {
  curl -fsS -o /dev/null -X POST --data-binary @- "$NUON_API_URL/__nuon/installs/$wait_install/runs" <<JSON
[{"id":"$wait_run","created_at":"2025-12-20T10:00:00Z","updated_at":"2025-12-20T10:0$2:00Z",
  "install_id":"$wait_install","run_type":"provision","status":"$1","status_description":"$3"}]
JSON
}
serve_status queued 0 "queued"
( sleep 1; serve_status provisioning 1 "provisioning sandbox"
  sleep 2; serve_status active 4 "successfully provisioned" ) &
echo
echo "\$ $LUA examples/wait_for_provision.lua --interval 0.5 --timeout 20 $wait_install $wait_run"
"$LUA" examples/wait_for_provision.lua --interval 0.5 --timeout 20 "$wait_install" "$wait_run" \
  || echo "(exit status $?)"
wait
