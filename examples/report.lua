#!/usr/bin/env lua5.4
-- A readable report of an install's sandbox runs: outcomes, statuses, run
-- types, runner job statuses, the latest success and failure, durations.
--
--   lua5.4 examples/report.lua [--since TIME] <install_id>
--
-- Built on nuon.summarize; success, failure and in progress are the
-- classification of nuon.summary (docs/API.md: "Run statuses").
local nuon = require "nuon"

local USAGE = "usage: report.lua [--since TIME] <install_id>\n"
local since, install_id
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--since" and arg[i + 1] and nuon.parse_time(arg[i + 1]) then
    since = arg[i + 1]
    i = i + 2
  elseif a:sub(1, 1) == "-" or install_id then
    io.stderr:write(USAGE)
    os.exit(2)
  else
    install_id = a
    i = i + 1
  end
end
install_id = install_id or os.getenv("NUON_INSTALL_ID")
if not install_id then
  io.stderr:write(USAGE)
  os.exit(2)
end

local client = nuon.new{ user_agent = "nuon-example/report" }
local runs, err = client:all_sandbox_runs(install_id, { where = since and { since = since } or nil })
client:close()
if not runs then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end

local s = nuon.summarize(runs)

local function day(run)
  return run and run.created_at and run.created_at:sub(1, 19):gsub("T", " ") or "?"
end

local function human(seconds)
  if not seconds then return "-" end
  seconds = math.floor(seconds + 0.5)
  local h, m, sec = math.floor(seconds / 3600), math.floor(seconds % 3600 / 60), seconds % 60
  if h > 0 then return ("%dh %02dm %02ds"):format(h, m, sec) end
  if m > 0 then return ("%dm %02ds"):format(m, sec) end
  return ("%ds"):format(sec)
end

local function percent(n)
  return s.total > 0 and ("%5.1f%%"):format(100 * n / s.total) or "     -"
end

-- A titled two-column table of counts, largest first (ties by name).
local function counts(title, t, order)
  local rows = {}
  if order then
    for _, k in ipairs(order) do rows[#rows + 1] = { k, t[k] or 0 } end
  else
    for k, n in pairs(t) do rows[#rows + 1] = { k, n } end
    table.sort(rows, function(a, b)
      if a[2] ~= b[2] then return a[2] > b[2] end
      return a[1] < b[1]
    end)
  end
  print()
  print(("%-24s %6s %7s"):format(title, "RUNS", "SHARE"))
  if #rows == 0 then print("  (none)") end
  for _, r in ipairs(rows) do
    local name = r[1] == "" and '""' or r[1]
    if order then name = name:gsub("_", " ") end -- in_progress -> in progress
    print(("  %-22s %6d %7s"):format(name, r[2], percent(r[2])))
  end
end

print(("Sandbox runs of %s%s"):format(install_id, since and (" since " .. since) or ""))
if s.total == 0 then
  print("no runs")
  os.exit(0)
end
print(("%d run(s), from %s to %s (UTC)"):format(s.total, day(s.oldest), day(s.newest)))

counts("OUTCOME", s.by_outcome, { "success", "failure", "in_progress", "unknown" })
counts("STATUS", s.by_status)
counts("RUN TYPE", s.by_run_type)
counts("RUNNER JOB STATUS", s.by_job_status)

local function latest(label, run)
  if not run then
    print(("%-15s none"):format(label))
    return
  end
  local desc = run.status_description
  print(("%-15s %s  %s  %-11s %s%s"):format(label, run.id or "?", day(run), run.run_type or "?",
    run.status or "?", desc and desc ~= "" and (": " .. desc) or ""))
end
print()
latest("Latest success", s.latest_success)
latest("Latest failure", s.latest_failure)

local d = s.duration
print()
print(("Duration of %d finished run(s) (updated_at - created_at): mean %s, longest %s%s"):format(
  d.count, human(d.mean), human(d.max), d.longest and (" (" .. d.longest.id .. ")") or ""))
