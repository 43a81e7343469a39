#!/usr/bin/env lua5.4
-- Wait for a sandbox run to finish, printing each status change: a CI gate.
--
--   lua5.4 examples/wait_for_provision.lua [--timeout S] [--interval S] <install_id> [run_id]
--
-- Without run_id it waits for the install's latest run.  Exit status:
--   0  the run succeeded (active, deprovisioned, ... see nuon.summary)
--   1  the run failed (error, access_error, cancelled, approval-denied, ...)
--   2  timeout, usage error, or the API could not be asked
--
-- In a pipeline, after triggering a (re)provision:
--   lua5.4 examples/wait_for_provision.lua --timeout 3600 "$INSTALL_ID" || exit 1
local nuon = require "nuon"
local summary = require "nuon.summary"

local USAGE = "usage: wait_for_provision.lua [--timeout SECONDS] [--interval SECONDS] <install_id> [run_id]\n"

local function usage(msg)
  if msg then io.stderr:write("wait_for_provision.lua: ", msg, "\n") end
  io.stderr:write(USAGE)
  os.exit(2)
end

-- Arguments: options anywhere, then the install id and an optional run id.
local opts = { timeout = 3600, interval = 5 }
local positional = {}
local i = 1
while i <= #arg do
  local a = arg[i]
  local name = a:match("^%-%-(%a+)$")
  if name == "timeout" or name == "interval" then
    local v = tonumber(arg[i + 1])
    if not v or v <= 0 then usage("--" .. name .. " needs a positive number of seconds") end
    opts[name] = v
    i = i + 2
  elseif a == "-h" or a == "--help" then
    io.stdout:write(USAGE)
    os.exit(0)
  elseif a:sub(1, 1) == "-" then
    usage("unknown option " .. a)
  else
    positional[#positional + 1] = a
    i = i + 1
  end
end
local install_id = positional[1] or os.getenv("NUON_INSTALL_ID")
local run_id = positional[2]
if not install_id or #positional > 2 then usage() end

local client = nuon.new{ user_agent = "nuon-example/wait_for_provision" }

if not run_id then
  local latest, err = client:latest_sandbox_run(install_id)
  if err then
    io.stderr:write(tostring(err), "\n")
    os.exit(2)
  elseif not latest then
    io.stderr:write("install ", install_id, " has no sandbox runs\n")
    os.exit(2)
  end
  run_id = latest.id
end

print(("waiting for run %s of install %s (timeout %gs)"):format(run_id, install_id, opts.timeout))

local run, err = client:wait_sandbox_run(install_id, run_id, {
  timeout = opts.timeout,
  interval = opts.interval,
  on_change = function(r, previous, elapsed)
    print(("[%7.1fs] %-12s %s%s"):format(elapsed, r.run_type or "?",
      previous and (previous .. " -> ") or "", tostring(r.status)))
  end,
})
client:close()

if not run then
  io.stderr:write(tostring(err), "\n")
  os.exit(2)
end

local outcome = summary.outcome(run)
local description = run.status_description and run.status_description ~= "" and (": " .. run.status_description) or ""
if outcome == "success" then
  print(("run %s succeeded (%s%s)"):format(run.id, run.status, description))
  os.exit(0)
end
io.stderr:write(("run %s failed (%s%s)\n"):format(run.id, tostring(run.status), description))
os.exit(1)
