--- nuon.wait: the newest matching run, and waiting for a run to finish.
--
-- Both are client methods (`client:latest_sandbox_run`,
-- `client:wait_sandbox_run`); here they are functions taking the client
-- first, so they also work with anything that has the client's
-- `sandbox_runs` and `all_sandbox_runs` methods.
--
--    local run = assert(client:latest_sandbox_run(install_id, { run_type = "provision" }))
--    local final, err = client:wait_sandbox_run(install_id, run.id, {
--      timeout = 1800,
--      on_change = function(r, previous) print(previous, "->", r.status) end,
--    })
--
-- Which statuses are final is `nuon.summary`'s classification (success or
-- failure); a status it does not know is not final.
--
-- @module nuon.wait
local core = require "nuon.core"
local filter = require "nuon.filter"
local summary = require "nuon.summary"
local Pager = require "nuon.pager"
local args = require "nuon.args"
local errors = require "nuon.errors"

local type, next, tostring = type, next, tostring
local min = math.min
local format = string.format
local raise, callable = errors.raise, args.callable

local _M = { _VERSION = core.VERSION }

local DEFAULT_TIMEOUT = 3600   -- seconds: a sandbox-terraform job may run 60 minutes
local DEFAULT_INTERVAL = 5     -- seconds before the second poll
local BACKOFF = 1.5            -- each wait is 1.5 times the previous one ...
local CAP = 10                 -- ... up to 10 times the first (max_interval)
local DEFAULT_SEARCH = 100     -- newest runs looked through for the run id
local FIRST_PAGE = 10          -- the run is almost always on the first page

-- ---------------------------------------------------------------------------
-- latest_sandbox_run

--- The newest run of an install that matches `where`.
-- Pages newest first and stops at the first match (one request of one run
-- when `where` is empty).  A bad `where` raises, as for `nuon.filter`.
-- @tparam nuon.Client client
-- @tparam string install_id
-- @tparam[opt] table where as for `nuon.filter`: `status`, `run_type`,
--   `job_status`, `since`, `until`, `fn`
-- @return the run; `nil` (and no error) when no run matches; or nil, err
-- @usage local run, err = client:latest_sandbox_run(id, { run_type = "provision" })
-- if err then error(tostring(err)) elseif not run then print("none") end
function _M.latest_sandbox_run(client, install_id, where)
  args.client("latest_sandbox_run", client)
  args.install_id("latest_sandbox_run", install_id)
  local ok, msg = filter.check(where)
  if not ok then raise("latest_sandbox_run", msg) end
  local any = where == nil or next(where) == nil
  local runs, err = client:all_sandbox_runs(install_id, {
    where = where, max = 1, page_size = any and 1 or 100,
  })
  if not runs then return nil, err end
  return runs[1]
end

-- ---------------------------------------------------------------------------
-- wait_sandbox_run

-- The default sleep and clock: the C core's (a blocking sleep; monotonic
-- seconds, not a date).  A wait longer than core.sleep takes is cut short:
-- the loop polls and sleeps again until its deadline.
local MAX_SLEEP = core.limits.max_seconds
local core_sleep = core.sleep
local function default_sleep(s)
  core_sleep(min(s, MAX_SLEEP))
end
local default_clock = core.now

-- Looks for run_id among the `search` newest runs: run, or nil when it is
-- not there (or the deadline came before the next page), or nil, err.  Steps
-- by nuon.pager's rule, so it ends whatever the page headers say.
local function find_run(client, install_id, run_id, search, deadline, clock)
  local offset, limit = 0, min(FIRST_PAGE, search)
  while offset < search do
    if offset > 0 and clock() > deadline then return nil end
    local runs, err = client:sandbox_runs(install_id, { limit = limit, offset = offset })
    if not runs then return nil, err end
    for i = 1, #runs do
      local run = runs[i]
      if type(run) == "table" and run.id == run_id then return run end
    end
    local last
    offset, last = Pager.advance(offset, limit, #runs, runs.page)
    if last then return nil end
    limit = min(100, search - offset)
  end
  return nil
end

--- Whether err is a 404 from a server without the single-run route: gin's
-- plain-text "404 page not found" (no JSON error body), as opposed to the
-- JSON error of a run that does not exist.  Servers before October 2025
-- answer so; `wait_sandbox_run` then scans the list instead.
-- @tparam table err an error from `sandbox_run`
-- @treturn boolean
function _M.route_missing(err)
  return _M.not_found(err) and err.error == nil
end
local route_missing = _M.route_missing

--- Whether err is an HTTP 404 (from `sandbox_run`: no such run yet, or, see
-- `route_missing`, no such route).
-- @tparam table err
-- @treturn boolean
function _M.not_found(err)
  return type(err) == "table" and err.kind == "http" and err.status == 404
end
local not_found = _M.not_found

-- One poll (blocking): the run, or nil when it is not found (yet), or nil,
-- err.  One request to the run's own path; against a server without that
-- route (or a client without sandbox_run), a scan of the newest runs.
local function poll(client, st)
  if not st.scan and type(client.sandbox_run) == "function" then
    local run, err = client:sandbox_run(st.install_id, st.run_id)
    if run then return run end
    if not not_found(err) then return nil, err end
    if not route_missing(err) then return nil end -- no such run (yet)
  end
  st.scan = true
  return find_run(client, st.install_id, st.run_id, st.search, st.deadline, st.clock)
end

local function show_status(s)
  if s == nil then return "without a status" end
  return "'" .. tostring(s) .. "'"
end

local function timeout_error(st, timeout)
  local msg
  if st.seen and st.last_found then
    msg = format("run %s is still %s after %.1fs (timeout %gs)",
      st.run_id, show_status(st.status), st.elapsed, timeout)
  elseif st.seen and not st.scan then
    msg = format("run %s (last seen %s) is no longer found (HTTP 404) after %.1fs (timeout %gs)",
      st.run_id, show_status(st.status), st.elapsed, timeout)
  elseif st.seen then
    -- the list endpoint hides runs that end drift-detected or no-drift
    msg = format("run %s (last seen %s) is no longer among the %d newest"
      .. " runs of install %s after %.1fs (timeout %gs)",
      st.run_id, show_status(st.status), st.search, st.install_id, st.elapsed, timeout)
  elseif not st.scan then
    msg = format("run %s of install %s not found (HTTP 404) after %.1fs (timeout %gs)",
      st.run_id, st.install_id, st.elapsed, timeout)
  else
    msg = format("run %s not found among the %d newest runs of install %s"
      .. " after %.1fs (timeout %gs)", st.run_id, st.search, st.install_id, st.elapsed, timeout)
  end
  if st.last_error then msg = msg .. "; last error: " .. tostring(st.last_error.message) end
  return errors.new("timeout", msg, {
    retryable = true,
    run_id = st.run_id, install_id = st.install_id, run = st.run,
    run_status = st.status, elapsed = st.elapsed, timeout = timeout,
    last_error = st.last_error,
  })
end

--- The state of one wait, for event loops that poll themselves (nuon.nvim):
-- checks the arguments as `wait_sandbox_run` does (raising as `fname`, see
-- nuon.errors) and returns a table with the settings (`install_id`,
-- `run_id`, `search`, `clock`, `sleep`, ...).  Start the clock with
-- `start(st)`, poll, and give each poll's result to `feed`
-- (docs/EVENT_LOOPS.md).
function _M.new_state(fname, client, install_id, run_id, opts)
  args.client(fname, client)
  args.install_id(fname, install_id)
  args.run_id(fname, run_id)
  opts = args.opts(fname, opts, args.WAIT)
  if opts.max_interval and opts.interval and opts.max_interval < opts.interval then
    raise(fname, "option 'max_interval' must not be less than 'interval'")
  end

  local interval = opts.interval or DEFAULT_INTERVAL
  local st = {
    run_id = run_id, install_id = install_id, seen = false,
    sleep = opts.sleep or default_sleep, clock = opts.clock or default_clock,
    timeout = opts.timeout or DEFAULT_TIMEOUT, interval = interval,
    max_interval = opts.max_interval or interval * CAP,
    search = opts.search or DEFAULT_SEARCH, on_change = opts.on_change,
    is_final = summary.is_final,
  }
  local final = opts.final
  if final ~= nil and not callable(final) then
    local set = args.string_set(final)
    st.is_final = function(run) return set[run.status] == true end
  elseif final ~= nil then
    st.is_final = function(run) return final(run) and true or false end
  end
  return st
end

--- Starts the clock of a wait: its deadline is `timeout` seconds from now.
function _M.start(st)
  st.start = st.clock()
  st.deadline = st.start + st.timeout
end

--- After a poll that gave `run` (nil: not found) or `nil, err`: returns
-- `true, run` or `true, nil, err` when the wait is over, else `false, delay`
-- (seconds to wait before the next poll).  Calls `on_change`.
function _M.feed(st, run, err)
  local clock = st.clock
  local now = clock()
  st.elapsed = now - st.start
  if run then
    st.last_error, st.last_found = nil, true
    local status = run.status
    if not st.seen or status ~= st.status then
      local previous = st.status
      st.seen, st.status = true, status
      if st.on_change then st.on_change(run, previous, st.elapsed) end
    end
    st.run = run
    if st.is_final(run) then return true, run end
  elseif err then
    if not err.retryable then return true, nil, err end
    st.last_error = err
  else
    st.last_error, st.last_found = nil, false
  end

  now = clock()
  local remaining = st.deadline - now
  if remaining <= 0 then
    st.elapsed = now - st.start
    return true, nil, timeout_error(st, st.timeout)
  end
  local delay = min(st.interval, remaining)
  st.interval = min(st.interval * BACKOFF, st.max_interval)
  return false, delay
end

--- Polls a run until it reaches a final status.
--
-- Each poll is one small request for the run itself,
-- `GET .../sandbox-runs/{run_id}` (`client:sandbox_run`).  A server without
-- that route (before October 2025) answers it with gin's plain-text 404 (no
-- JSON error body, see `route_missing`): from then on each poll looks for
-- `run_id` among the install's newest runs instead (first a page of 10, then
-- up to `search`), paging no further than the deadline.  A JSON 404 (no such
-- run yet) is polled again, as a run not listed yet is.  `on_change(run, previous_status, elapsed)`
-- is called when the run is first seen and each time its status changes
-- (the final status included).  Between polls it sleeps `interval` seconds,
-- then 1.5 times longer each time up to `max_interval`, never past the
-- deadline; the last poll is at the deadline.
--
-- A run that is not found yet (it may not be listed yet) and retryable
-- errors (network, 429, 5xx: already retried by the client) are polled
-- again until the timeout; any other error is returned at once.
--
-- Final statuses are `nuon.summary`'s success and failure statuses; an
-- unknown status is not final.  Pass `final` to decide otherwise.
--
-- For OpenResty pass `sleep = ngx.sleep, clock = ngx.now`; without these
-- options the C core's `core.sleep` (blocking) and `core.now` (a monotonic
-- clock) are used.
--
-- When the time runs out the error has `kind = "timeout"`, a message naming
-- the run, its last status and the time waited, and the fields `run_id`,
-- `install_id`, `run_status` and `run` (the last status and run seen, nil if
-- never seen), `elapsed`, `timeout`, and `last_error` when the last poll
-- failed.  Its `status` field is left for HTTP statuses, as in every error.
--
-- @tparam nuon.Client client
-- @tparam string install_id
-- @tparam string run_id
-- @tparam[opt] table opts
--   `timeout` (seconds, 3600),
--   `interval` (seconds, 5: the first wait),
--   `max_interval` (seconds, 10 × interval),
--   `on_change` (function(run, previous_status, elapsed)),
--   `final` (a sequence of statuses, or function(run) -> boolean),
--   `search` (how many of the newest runs to look through, 100),
--   `sleep` (function(seconds)), `clock` (function() -> seconds)
-- @return the run in its final status, or nil, err (a timeout or a failed request)
-- @usage local run, err = client:wait_sandbox_run(install_id, run_id, { timeout = 1800 })
-- if not run then error(tostring(err)) end
-- print(run.status, require("nuon.summary").outcome(run))
function _M.wait_sandbox_run(client, install_id, run_id, opts)
  local st = _M.new_state("wait_sandbox_run", client, install_id, run_id, opts)
  _M.start(st)
  while true do
    local done, a, b = _M.feed(st, poll(client, st))
    if done then return a, b end
    st.sleep(a)
  end
end

return _M
