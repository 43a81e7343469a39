#!/usr/bin/env lua5.4
-- List an install's most recent sandbox runs as a table.
--
--   lua5.4 examples/list_runs.lua <install_id> [limit]
--
-- Credentials come from NUON_API_TOKEN / NUON_ORG_ID (or ~/.nuon); point
-- NUON_API_URL elsewhere to use another server (`make demo` does).
local nuon = require "nuon"

local install_id = arg[1] or os.getenv("NUON_INSTALL_ID")
if not install_id then
  io.stderr:write("usage: list_runs.lua <install_id> [limit]\n")
  os.exit(2)
end
local limit = tonumber(arg[2]) or 20

local client = nuon.new{ user_agent = "nuon-example/list_runs" }
local runs, err = client:sandbox_runs(install_id, { limit = limit })
if not runs then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end

local function row(id, created, run_type, status, job)
  print(("%-26s  %-20s  %-11s  %-16s  %s"):format(id, created, run_type, status, job))
end
row("ID", "CREATED", "RUN TYPE", "STATUS", "JOB STATUS")
for _, run in ipairs(runs) do
  local job = run.runner_job
  row(run.id or "?", (run.created_at or "?"):sub(1, 19):gsub("T", " "), run.run_type or "?",
      run.status or "?", job and job.status or "-")
end
print(("%d run(s)%s; %d warning(s)"):format(#runs,
  runs.page.next and ", more on the next page" or "", #runs.warnings))
-- The API grows: values no version of it has sent yet are kept and
-- reported, and so are nulls left out of typed arrays.  Show each kind once,
-- with how often it came up and one example.
local seen, order = {}, {}
for _, w in ipairs(runs.warnings) do
  local what = w.enum and ("unknown %s %q"):format(w.enum, w.value)
    or ("null where %s belongs, left out"):format(w.expected or "a value")
  if not seen[what] then
    seen[what] = { w = w, n = 0 }
    order[#order + 1] = what
  end
  seen[what].n = seen[what].n + 1
end
for _, what in ipairs(order) do
  local e = seen[what]
  print(("  %s: %d time(s), e.g. at %s"):format(what, e.n, e.w.path))
end
client:close()
