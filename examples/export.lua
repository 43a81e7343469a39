#!/usr/bin/env lua5.4
-- Export every sandbox run of an install, newest first, to stdout.
--
--   lua5.4 examples/export.lua [--format jsonl|csv] [--since TIME] <install_id> > runs.jsonl
--
-- jsonl (the default): one JSON object per line, every field, keys sorted.
--   Numbers keep their full precision (lua-cjson would round them to 14
--   digits): the encoder is nuon.format's.  An empty JSON array and an empty
--   object are the same Lua table: both come out as {}.
--   The `runner_job` the library adds for today's `runner_jobs` is left out.
-- csv: RFC 4180 (CRLF line ends, fields with , " CR or LF quoted, quotes
--   doubled), one row per run with the columns in CSV_COLUMNS.
--
-- Runs are written as the pages arrive, so memory stays flat for any number
-- of runs.  On an error mid-way the rows so far stay written, the error goes
-- to stderr and the exit status is 1.
local nuon = require "nuon"
local summary = require "nuon.summary"
local text = require "nuon.format"

local type, pairs, tostring = type, pairs, tostring
local format, gsub = string.format, string.gsub

local USAGE = "usage: export.lua [--format jsonl|csv] [--since TIME] <install_id>\n"

local function usage(msg)
  if msg then io.stderr:write("export.lua: ", msg, "\n") end
  io.stderr:write(USAGE)
  os.exit(2)
end

local fmt, since, install_id = "jsonl", nil, nil
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--format" then
    fmt = arg[i + 1]
    if fmt ~= "jsonl" and fmt ~= "csv" then usage("--format must be jsonl or csv") end
    i = i + 2
  elseif a == "--since" then
    since = arg[i + 1]
    if not since or not nuon.parse_time(since) then usage("--since needs an RFC 3339 time") end
    i = i + 2
  elseif a:sub(1, 1) == "-" then
    usage("unknown option " .. a)
  elseif install_id then
    usage()
  else
    install_id = a
    i = i + 1
  end
end
install_id = install_id or os.getenv("NUON_INSTALL_ID")
if not install_id then usage() end

---------------------------------------------------------------------------
-- JSON and CSV: nuon.format's

local function json_line(run)
  -- runner_job is the library's alias of runner_jobs[1] when the server sent runner_jobs
  if type(run.runner_jobs) == "table" and run.runner_job == run.runner_jobs[1] then
    local copy = {}
    for k, v in pairs(run) do copy[k] = v end
    copy.runner_job = nil
    run = copy
  end
  return text.json(run)
end

local CSV_COLUMNS = {
  "id", "created_at", "updated_at", "run_type", "status", "outcome", "status_description",
  "runner_job_id", "runner_job_status", "duration_seconds", "install_id",
}

local function csv_row(values) return text.csv_row(values, CSV_COLUMNS) end

local function csv_values(run)
  local job = type(run.runner_job) == "table" and run.runner_job or {}
  local outcome = summary.outcome(run)
  local duration
  if outcome == "success" or outcome == "failure" then
    local c, u = nuon.parse_time(run.created_at), nuon.parse_time(run.updated_at)
    -- to the microsecond the server stores (plain subtraction shows float noise)
    if c and u and u >= c then duration = (gsub(gsub(format("%.6f", u - c), "0+$", ""), "%.$", "")) end
  end
  return {
    id = run.id, created_at = run.created_at, updated_at = run.updated_at,
    run_type = run.run_type, status = run.status, outcome = outcome,
    status_description = run.status_description, runner_job_id = job.id,
    runner_job_status = job.status, duration_seconds = duration, install_id = run.install_id,
  }
end

---------------------------------------------------------------------------

local client = nuon.new{ user_agent = "nuon-example/export" }
local stdout = io.stdout
if fmt == "csv" then
  local header = {}
  for k = 1, #CSV_COLUMNS do header[CSV_COLUMNS[k]] = CSV_COLUMNS[k] end
  stdout:write(csv_row(header))
end

local count = 0
local ok, err = pcall(function()
  for run in client:each_sandbox_run(install_id, { where = since and { since = since } or nil }) do
    if fmt == "csv" then
      stdout:write(csv_row(csv_values(run)))
    else
      stdout:write(json_line(run), "\n")
    end
    count = count + 1
  end
end)
client:close()
stdout:flush()
if not ok then
  io.stderr:write(("export.lua: stopped after %d run(s): %s\n"):format(count, tostring(err)))
  os.exit(1)
end
io.stderr:write(("export.lua: %d run(s) of %s\n"):format(count, install_id))
