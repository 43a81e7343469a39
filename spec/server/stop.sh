#!/usr/bin/env bash
# Stop the test API server started by spec/server/start.sh, and its watchdog.
# Safe to call twice, or when nothing runs.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${NUON_TEST_SERVER_DIR:-$here/../../build/server}
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)

# Only signal a pid that is still the process we started (pids get reused).
ours() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "$2"
}

wd=$(cat "$dir/watchdog.pid" 2>/dev/null || true)
# ("watchdog" also matches spec/openresty's openresty-watchdog: its stop.sh runs this)
if ours "$wd" watchdog; then kill -TERM "$wd" 2>/dev/null || true; fi

pid=$(cat "$dir/master.pid" 2>/dev/null || true)
if ours "$pid" "$dir/nginx.conf"; then
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    ours "$pid" "$dir/nginx.conf" || break
    sleep 0.1
  done
  # still there: kill its whole process group (setsid made it the leader)
  if ours "$pid" "$dir/nginx.conf"; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
fi
rm -f "$dir/master.pid" "$dir/watchdog.pid" "$dir/url" "$dir/tls_url" "$dir/h2_url" "$dir/other_url"
exit 0
