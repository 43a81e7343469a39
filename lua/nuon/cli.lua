--- nuon.cli: the `nuon-runs` command (bin/nuon-runs calls `main`).
--
--    nuon-runs list INSTALL_ID [--status S]... [--run-type T]... [--job-status S]...
--                   [--since TIME] [--until TIME] [--max N] [--format table|json|csv]
--    nuon-runs get INSTALL_ID RUN_ID [--format table|json]
--    nuon-runs wait INSTALL_ID RUN_ID [--timeout S] [--interval S]
--    nuon-runs summary INSTALL_ID... [--since TIME] [--format table|json]
--
-- Credentials as the library finds them (NUON_API_TOKEN, NUON_ORG_ID,
-- NUON_API_URL, ~/.nuon or NUON_CONFIG_FILE).  Filters are `nuon.filter`'s,
-- final statuses and outcomes `nuon.summary`'s, waiting `nuon.wait`'s,
-- output `nuon.format`'s: this module only reads arguments and prints.
-- Every failure is one line on stderr and an exit status (see USAGE).
--
-- @module nuon.cli
local nuon = require "nuon"
local summary = require "nuon.summary"
local fmt = require "nuon.format"
local time = require "nuon.time"

local type, pairs, ipairs, tostring, tonumber, error, pcall = type, pairs, ipairs, tostring, tonumber, error, pcall
local format, match, gsub = string.format, string.match, string.gsub
local concat = table.concat
local floor = math.floor

local _M = { _VERSION = nuon.VERSION }

local EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT, EXIT_ERROR = 0, 1, 2, 3
_M.EXIT = { ok = EXIT_OK, failed = EXIT_FAILED, timeout = EXIT_TIMEOUT, error = EXIT_ERROR }

local USAGE = [[
usage: nuon-runs list INSTALL_ID [--status S]... [--run-type T]... [--job-status S]...
                      [--since TIME] [--until TIME] [--max N] [--format table|json|csv]
       nuon-runs get INSTALL_ID RUN_ID [--format table|json]
       nuon-runs wait INSTALL_ID RUN_ID [--timeout S] [--interval S]
       nuon-runs summary INSTALL_ID... [--since TIME] [--format table|json]
       nuon-runs --help | --version

The sandbox runs of Nuon installs, newest first, every page.

  list      the runs that match every filter given (a filter given twice
            matches either value); table (aligned columns), json (an array of
            the runs as decoded) or csv (with a header)
  get       one run by id (one request); table (its main fields) or json
            (the run as decoded)
  wait      polls a run until it ends; status changes on stderr, the final
            status on stdout
  summary   what became of each install's runs and of all together
            (nuon.summarize); the installs are fetched concurrently

Options of every command:
  --strict              an enum value the library does not know is an error
  --request-timeout S   seconds for one attempt of a request (default 30);
                        --timeout means the same except for wait
TIME is RFC 3339 (2024-05-01T00:00:00Z), a date (2024-05-01, UTC), epoch
seconds, or an age: 30m, 24h, 7d, 2w.

Credentials: NUON_API_TOKEN, NUON_ORG_ID and NUON_API_URL, else api_token,
org_id and api_url in ~/.nuon (or NUON_CONFIG_FILE).

Exit status: 0 done (wait: the run succeeded), 1 wait: the run failed,
2 wait: timed out, 3 any error (usage, configuration, network, API).
]]

-- Option kinds per command; "multi" may repeat.  Options of every command:
local COMMON = { strict = "flag", ["request-timeout"] = "seconds", timeout = "seconds" }
local COMMANDS = {
  list = {
    args = { "INSTALL_ID" },
    opts = { status = "multi", ["run-type"] = "multi", ["job-status"] = "multi", since = "time",
             ["until"] = "time", max = "count", format = { table = true, json = true, csv = true } },
  },
  get = {
    args = { "INSTALL_ID", "RUN_ID" },
    opts = { format = { table = true, json = true } },
  },
  wait = {
    args = { "INSTALL_ID", "RUN_ID" },
    opts = { timeout = "seconds", interval = "seconds" },
  },
  summary = {
    args = { "INSTALL_ID", more = true },
    opts = { since = "time", format = { table = true, json = true } },
  },
}

-- A usage error: raised as a table so that main tells it from a bug.
local function usage_error(msg) error({ usage = msg }, 0) end

local UNITS = { s = 1, m = 60, h = 3600, d = 86400, w = 604800 }

--- TIME on the command line -> epoch seconds (nil, message when it is not one).
-- @tparam string s
-- @tparam[opt=os.time()] number now
function _M.parse_time(s, now)
  local n, unit = match(s, "^(%d+)([smhdw])$")
  if n then return (now or os.time()) - tonumber(n) * UNITS[unit] end
  if match(s, "^%d+%.?%d*$") then return tonumber(s) end
  if match(s, "^%d%d%d%d%-%d%d%-%d%d$") then s = s .. "T00:00:00Z" end
  local t, err = time.parse(s)
  if not t then
    return nil, (gsub(err or "", "^nuon%.time%.parse: ", ""))
  end
  return t
end

local function check_value(kind, name, v)
  if type(kind) == "table" then
    if not kind[v] then
      local names = {}
      for k in pairs(kind) do names[#names + 1] = k end
      table.sort(names)
      usage_error(format("--%s must be %s (got '%s')", name, concat(names, ", "), v))
    end
    return v
  elseif kind == "seconds" then
    local x = tonumber(v)
    if not x or x ~= x or x <= 0 or x == math.huge then
      usage_error(format("--%s must be a positive number of seconds (got '%s')", name, v))
    end
    return x
  elseif kind == "count" then
    local x = tonumber(v)
    if not x or x < 0 or x ~= floor(x) or x >= 2^53 then
      usage_error(format("--%s must be a whole number (got '%s')", name, v))
    end
    return x
  elseif kind == "time" then
    local t, err = _M.parse_time(v)
    if not t then usage_error(format("--%s: %s", name, err)) end
    return t
  end
  return v
end

--- Parses the arguments (a sequence of strings): the command is the first
-- word, options may come anywhere after it (the common ones before it too),
-- as `--name value` or `--name=value`; `--` ends the options.
-- @return `{ command =, args = {...}, opts = {...} }`, `{ help = true }` or
--   `{ version = true }`; raises `{ usage = message }` on a mistake
function _M.parse(argv)
  local command, spec
  local opts, args = {}, {}
  local i = 1
  local only_words = false
  while i <= #argv do
    local a = argv[i]
    if not only_words and (a == "--help" or a == "-h") then return { help = true } end
    if not only_words and a == "--version" then return { version = true } end
    if only_words or a:sub(1, 1) ~= "-" or a == "-" then
      if not command then
        command = a
        spec = COMMANDS[a]
        if not spec then usage_error("unknown command '" .. a .. "' (list, get, wait or summary)") end
      else
        args[#args + 1] = a
      end
      i = i + 1
    elseif a == "--" then
      only_words = true
      i = i + 1
    else
      local name, value = match(a, "^%-%-([%w%-]+)=(.*)$")
      if not name then name = match(a, "^%-%-([%w%-]+)$") end
      if not name then usage_error("unknown option '" .. a .. "'") end
      local kind = spec and spec.opts[name] or COMMON[name]
      if not kind then
        if not command then
          usage_error("option --" .. name .. " before the command: give the command first")
        end
        usage_error(format("%s has no option --%s", command, name))
      end
      if kind == "flag" then
        if value then usage_error("--" .. name .. " takes no value") end
        opts[name] = true
        i = i + 1
      else
        if not value then
          value = argv[i + 1]
          if value == nil then usage_error("--" .. name .. " needs a value") end
          i = i + 2
        else
          i = i + 1
        end
        if kind == "multi" then
          local list = opts[name] or {}
          list[#list + 1] = value
          opts[name] = list
        else
          opts[name] = check_value(kind, name, value)
        end
      end
    end
  end
  if not command then usage_error("no command (list, get, wait or summary)") end
  local want = spec.args
  if #args < #want or (#args > #want and not want.more) then
    usage_error(format("%s takes %s%s (got %d argument%s)", command, concat(want, " "),
      want.more and "..." or "", #args, #args == 1 and "" or "s"))
  end
  for k = 1, #args do
    if args[k] == "" then usage_error(format("%s: an empty %s", command, want[k] or want[#want])) end
  end
  return { command = command, args = args, opts = opts }
end

-- ---------------------------------------------------------------------------
-- Running

-- A message from nuon.new (a configuration mistake) for a person at a shell.
local function config_message(msg)
  msg = gsub(tostring(msg), "^[^\n]-:%d+: ", "")
  msg = gsub(msg, "^nuon%.new: ", "")
  msg = gsub(msg, "pass token, ", "")
  msg = gsub(msg, "pass org_id, ", "")
  return msg
end

local function new_client(o, request_timeout)
  local ok, client = pcall(nuon.new, {
    strict = o.strict or nil,
    timeout = request_timeout,
    user_agent = "nuon-runs/" .. nuon.VERSION,
  })
  if not ok then return nil, config_message(client) end
  return client
end

-- The server's words for an error, on one line.
local function error_line(err)
  if nuon.is_error(err) then return (gsub(err.message or tostring(err), "[\r\n]+", " ")) end
  return (gsub(tostring(err), "[\r\n]+", " "))
end

-- Warnings (values no enum of this library knows) as one line: the count
-- and the first, so that stderr stays readable for any number of runs.
local function print_warnings(stderr, warnings, prefix)
  if type(warnings) ~= "table" or #warnings == 0 then return end
  local w = warnings[1]
  stderr:write(format("nuon-runs: %s%d warning%s: values this library does not know, e.g. %s '%s' (%s);"
    .. " --strict makes them errors\n", prefix or "", #warnings, #warnings == 1 and "" or "s",
    tostring(w.path), tostring(w.value), tostring(w.enum)))
end

local function where_of(o)
  local where = {}
  if o.status then where.status = o.status end
  if o["run-type"] then where.run_type = o["run-type"] end
  if o["job-status"] then where.job_status = o["job-status"] end
  if o.since then where.since = o.since end
  if o["until"] then where["until"] = o["until"] end
  return where
end

-- Writes lines to stdout, each with its newline.
local function write_lines(out, lines)
  for _, line in ipairs(lines) do out.stdout:write(line, "\n") end
end

local CSV_COLUMNS = { "id", "created_at", "updated_at", "run_type", "status", "job_status",
                      "status_description", "install_id" }

local function cmd_list(p, out)
  local o = p.opts
  local client, err = new_client(o, o["request-timeout"] or o.timeout)
  if not client then return out.fail(err) end
  local runs
  runs, err = client:all_sandbox_runs(p.args[1], { where = where_of(o), max = o.max })
  client:close()
  if not runs then return out.fail(error_line(err)) end
  local f = o.format or "table"
  if f == "json" then
    out.stdout:write(fmt.json(runs, { array = true }), "\n")
  elseif f == "csv" then
    local header = {}
    for _, c in ipairs(CSV_COLUMNS) do header[c] = c end
    out.stdout:write(fmt.csv_row(header, CSV_COLUMNS))
    for k = 1, #runs do out.stdout:write(fmt.csv_row(fmt.run_row(runs[k]), CSV_COLUMNS)) end
  else
    write_lines(out, fmt.table(fmt.run_rows(runs), fmt.RUN_COLUMNS))
  end
  print_warnings(out.stderr, runs.warnings)
  return EXIT_OK
end

local function cmd_get(p, out)
  local o = p.opts
  local client, err = new_client(o, o["request-timeout"] or o.timeout)
  if not client then return out.fail(err) end
  local run
  run, err = client:sandbox_run(p.args[1], p.args[2])
  client:close()
  if not run then return out.fail(error_line(err)) end
  if (o.format or "table") == "json" then
    local plain = {} -- the run as the server sent it, without the library's warnings
    for k, v in pairs(run) do if k ~= "warnings" then plain[k] = v end end
    out.stdout:write(fmt.json(plain), "\n")
  else
    write_lines(out, fmt.table(fmt.run_rows({ run }), fmt.RUN_COLUMNS))
  end
  print_warnings(out.stderr, run.warnings)
  return EXIT_OK
end

local function show_status(s) return s == nil and "(no status)" or tostring(s) end

local function cmd_wait(p, out)
  local o = p.opts
  local client, err = new_client(o, o["request-timeout"])
  if not client then return out.fail(err) end
  local install_id, run_id = p.args[1], p.args[2]
  local run
  run, err = client:wait_sandbox_run(install_id, run_id, {
    timeout = o.timeout, interval = o.interval,
    on_change = function(r, previous, elapsed)
      if previous == nil then
        out.stderr:write(format("nuon-runs: %s is %s (%.0fs)\n", run_id, show_status(r.status), elapsed))
      else
        out.stderr:write(format("nuon-runs: %s: %s -> %s (%.0fs)\n", run_id, show_status(previous),
          show_status(r.status), elapsed))
      end
      out.stderr:flush()
    end,
  })
  client:close()
  if not run then
    out.stderr:write("nuon-runs: ", error_line(err), "\n")
    return (type(err) == "table" and err.kind == "timeout") and EXIT_TIMEOUT or EXIT_ERROR
  end
  local outcome = summary.outcome(run)
  out.stdout:write(format("%s %s\n", run_id, show_status(run.status)))
  return outcome == "success" and EXIT_OK or EXIT_FAILED
end

local function duration_text(s)
  if s == nil then return "-" end
  s = floor(s + 0.5)
  if s < 60 then return s .. "s" end
  if s < 3600 then return format("%dm%02ds", floor(s / 60), s % 60) end
  return format("%dh%02dm", floor(s / 3600), floor(s % 3600 / 60))
end

local function brief(run)
  if not run then return nil end
  return { id = run.id, created_at = run.created_at, status = run.status, run_type = run.run_type }
end

-- A summary with its runs cut down to what identifies them, for JSON.
local function summary_json(s)
  return {
    total = s.total, by_status = s.by_status, by_run_type = s.by_run_type,
    by_job_status = s.by_job_status, by_outcome = s.by_outcome,
    latest_success = brief(s.latest_success), latest_failure = brief(s.latest_failure),
    newest = brief(s.newest), oldest = brief(s.oldest),
    duration = { count = s.duration.count, total = s.duration.total, mean = s.duration.mean,
                 max = s.duration.max, longest = brief(s.duration.longest) },
  }
end

local SUMMARY_COLUMNS = {
  { name = "install", title = "INSTALL" }, { name = "runs", title = "RUNS" },
  { name = "success", title = "SUCCESS" }, { name = "failure", title = "FAILURE" },
  { name = "in_progress", title = "IN PROGRESS" }, { name = "unknown", title = "UNKNOWN" },
  { name = "latest_success", title = "LATEST SUCCESS" }, { name = "latest_failure", title = "LATEST FAILURE" },
  { name = "mean", title = "MEAN DURATION" },
}

local function summary_row(name, s)
  local o = s.by_outcome
  return {
    install = name, runs = s.total, success = o.success, failure = o.failure,
    in_progress = o.in_progress, unknown = o.unknown,
    latest_success = s.latest_success and s.latest_success.created_at or "-",
    latest_failure = s.latest_failure and s.latest_failure.created_at or "-",
    mean = duration_text(s.duration.mean),
  }
end

local function cmd_summary(p, out)
  local o = p.opts
  local client, err = new_client(o, o["request-timeout"] or o.timeout)
  if not client then return out.fail(err) end
  local ids, seen = {}, {}
  for _, id in ipairs(p.args) do
    if not seen[id] then
      seen[id] = true
      ids[#ids + 1] = id
    end
  end
  -- every page of every install, the installs' requests in flight together
  local results = client:all_sandbox_runs_many(ids, { where = where_of(o), concurrency = 8 })
  client:close()

  local all, rows, by_install, failed = {}, {}, {}, 0
  for _, id in ipairs(ids) do
    local r = results[id]
    if r.runs then
      for k = 1, #r.runs do all[#all + 1] = r.runs[k] end
      local s = nuon.summarize(r.runs)
      rows[#rows + 1] = summary_row(id, s)
      by_install[id] = summary_json(s)
      print_warnings(out.stderr, r.runs.warnings, id .. ": ")
    else
      failed = failed + 1
      out.stderr:write(format("nuon-runs: %s: %s\n", id, error_line(r.err)))
      by_install[id] = { error = error_line(r.err) }
    end
  end
  local total = nuon.summarize(all)
  if (o.format or "table") == "json" then
    out.stdout:write(fmt.json({ installs = by_install, total = summary_json(total) }, { indent = "  " }), "\n")
  else
    rows[#rows + 1] = summary_row("total", total)
    write_lines(out, fmt.table(rows, SUMMARY_COLUMNS))
  end
  return failed > 0 and EXIT_ERROR or EXIT_OK
end

local RUN = { list = cmd_list, get = cmd_get, wait = cmd_wait, summary = cmd_summary }

--- Runs the command line `argv` (a sequence of strings); returns the exit
-- status.  Never raises: a bug is reported as one line too.
-- @tparam table argv
-- @tparam[opt] table io_ `stdout`, `stderr` (default io.stdout, io.stderr)
-- @treturn integer
function _M.main(argv, io_)
  io_ = io_ or {}
  local out = { stdout = io_.stdout or io.stdout, stderr = io_.stderr or io.stderr }
  function out.fail(msg)
    out.stderr:write("nuon-runs: ", msg, "\n")
    return EXIT_ERROR
  end
  local ok, status = pcall(function()
    local p = _M.parse(argv)
    if p.help then
      out.stdout:write(USAGE)
      return EXIT_OK
    elseif p.version then
      out.stdout:write("nuon-runs ", nuon.VERSION, "\n")
      return EXIT_OK
    end
    return RUN[p.command](p, out)
  end)
  if ok then return status end
  if type(status) == "table" and status.usage then
    out.stderr:write("nuon-runs: ", status.usage, "\nTry 'nuon-runs --help'.\n")
    return EXIT_ERROR
  end
  out.stderr:write("nuon-runs: internal error: ", (gsub(tostring(status), "[\r\n]+", " ")), "\n")
  return EXIT_ERROR
end

return _M
