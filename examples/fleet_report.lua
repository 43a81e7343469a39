#!/usr/bin/env lua5.4
-- Which sandbox runs failed in the last N hours, across many installs?
--
--   lua5.4 examples/fleet_report.lua [--hours N] [--concurrency N] <install_id>...
--   lua5.4 examples/fleet_report.lua [--hours N] --file installs.txt
--
-- Every page of every install is fetched, the pages of different installs in
-- flight together (client:all_sandbox_runs_many), paging stopping at each
-- install's first run older than the window.  A progress line goes to stderr
-- while it works; then the failed runs, newest first.  Exit status: 0, or 1
-- when an install could not be read (its error is on stderr), 2 for usage.
local nuon = require "nuon"
local summary = require "nuon.summary"

local function usage(msg)
  if msg then io.stderr:write("fleet_report: ", msg, "\n") end
  io.stderr:write("usage: fleet_report.lua [--hours N] [--concurrency N] (--file FILE | INSTALL_ID...)\n")
  os.exit(2)
end

local hours, concurrency, ids = 24, 16, {}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--hours" or a == "--concurrency" then
    local n = tonumber(arg[i + 1])
    if not n or n <= 0 then usage(a .. " needs a positive number") end
    if a == "--hours" then hours = n else concurrency = math.floor(n) end
    i = i + 2
  elseif a == "--file" then
    local f, err = io.open(arg[i + 1] or "", "r")
    if not f then usage("cannot read " .. tostring(arg[i + 1]) .. ": " .. tostring(err)) end
    for line in f:lines() do
      local id = line:match("^%s*([^%s#]+)")
      if id then ids[#ids + 1] = id end
    end
    f:close()
    i = i + 2
  elseif a:sub(1, 2) == "--" then
    usage("unknown option " .. a)
  else
    ids[#ids + 1] = a
    i = i + 1
  end
end
if #ids == 0 then usage("no install ids") end

local since = os.time() - hours * 3600
local tty = os.getenv("TERM") ~= nil and os.getenv("TERM") ~= "dumb"
local client = nuon.new{ user_agent = "nuon-example/fleet_report" }
local results = client:all_sandbox_runs_many(ids, {
  concurrency = concurrency,
  where = { since = since, fn = function(run) return summary.outcome(run.status) == "failure" end },
  on_progress = function(p)
    io.stderr:write(("%s%d/%d installs, %d pages, %d failed runs%s"):format(tty and "\r" or "",
      p.installs_done, p.installs_total, p.pages, p.runs, tty and "" or "\n"))
  end,
})
if tty then io.stderr:write("\n") end
client:close()

local failed, unreadable = {}, 0
for _, id in ipairs(ids) do
  local r = results[id]
  if r and r.err then
    unreadable = unreadable + 1
    io.stderr:write(("%s: %s\n"):format(id, tostring(r.err)))
  elseif r then
    for _, run in ipairs(r.runs) do failed[#failed + 1] = run end
  end
end
table.sort(failed, function(a, b)
  local ta, tb = nuon.parse_time(a.created_at) or 0, nuon.parse_time(b.created_at) or 0
  if ta ~= tb then return ta > tb end
  return a.id > b.id
end)

print(("%-19s  %-26s  %-26s  %-11s  %-15s  %s"):format("CREATED (UTC)", "INSTALL", "RUN", "TYPE",
  "STATUS", "DESCRIPTION"))
for _, run in ipairs(failed) do
  print(("%-19s  %-26s  %-26s  %-11s  %-15s  %s"):format(
    (run.created_at or "?"):sub(1, 19):gsub("T", " "), run.install_id or "?", run.id or "?",
    run.run_type or "?", run.status or "?", (run.status_description or ""):sub(1, 60)))
end
print(("%d failed run(s) in the last %g hours across %d installs%s"):format(#failed, hours, #ids,
  unreadable > 0 and (", %d could not be read"):format(unreadable) or ""))
os.exit(unreadable > 0 and 1 or 0)
