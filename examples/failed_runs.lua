#!/usr/bin/env lua5.4
-- Find every failed or cancelled sandbox run of an install, across all pages.
--
--   lua5.4 examples/failed_runs.lua <install_id> [since]
--
-- `since` is an RFC 3339 timestamp (e.g. 2025-01-01T00:00:00Z); paging stops
-- as soon as the runs get older than it.
local nuon = require "nuon"

local install_id = arg[1] or os.getenv("NUON_INSTALL_ID")
if not install_id then
  io.stderr:write("usage: failed_runs.lua <install_id> [since]\n")
  os.exit(2)
end

local client = nuon.new{ user_agent = "nuon-example/failed_runs" }
local where = { status = { "error", "access_error", "cancelled", "approval-denied" } }
if arg[2] then where.since = arg[2] end

local failed, err = client:all_sandbox_runs(install_id, { where = where })
if not failed then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end

for _, run in ipairs(failed) do
  local job = run.runner_job
  local created = (run.created_at or "?"):sub(1, 19):gsub("T", " ")
  print(("%s  %s  %-11s  %-14s  %s"):format(run.id, created, run.run_type or "?",
    run.status, run.status_description or (job and job.status_description) or ""))
end
print(("%d failed run(s)"):format(#failed))
client:close()
