#!/usr/bin/env bash
# Stop the nginx started by spec/openresty/start.sh, and its watchdog: the
# same steps as for the test API server, in this server's directory.
# Safe to call twice, or when nothing runs.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NUON_TEST_SERVER_DIR=${NUON_OPENRESTY_DIR:-$here/../../build/openresty} exec bash "$here/../server/stop.sh"
