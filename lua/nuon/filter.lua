--- nuon.filter: where-clauses over sandbox runs (`nuon.filter`).
--
-- `check` validates a where table once and returns a fast predicate: the
-- string conditions become sets, since/until become epoch numbers, and each
-- run's created_at is parsed at most once (a weak-keyed cache on the run).
-- Its messages name no function: `apply` (`nuon.filter`), `compile`, the
-- `where` option of the paging methods (nuon.args) and `latest_sandbox_run`
-- raise them under their own names.
--
-- @module nuon.filter
local type, setmetatable = type, setmetatable
local time = require "nuon.time"
local args = require "nuon.args"
local raise = require("nuon.errors").raise
local parse_uncached, check_epoch = time.parse_uncached, time.check_epoch
local string_set, callable, unknown_key = args.string_set, args.callable, args.unknown_key

local _M = {}

local KNOWN = { status = true, run_type = true, job_status = true,
                since = true, ["until"] = true, fn = true }
local SET_KEYS = { "status", "run_type", "job_status" }

-- run -> the created_at value last parsed, and its epoch (false: unparseable)
local cached_src = setmetatable({}, { __mode = "k" })
local cached_epoch = setmetatable({}, { __mode = "k" })

--- The epoch seconds of a run's created_at (a timestamp string or an epoch
-- number), or nil when it is absent or does not parse.  Cached per run.
-- @tparam table run
-- @return number or nil
local function created_epoch(run)
  local ca = run.created_at
  if ca == nil then return nil end
  if cached_src[run] == ca then return cached_epoch[run] or nil end
  local t
  if type(ca) == "string" then
    t = parse_uncached(ca)
  elseif type(ca) == "number" and ca == ca then
    t = ca
  end
  cached_src[run], cached_epoch[run] = ca, t or false
  return t
end
--- A run's `created_at` as epoch seconds, or nil when it has none or it
-- cannot be read (what `where.since` and `where.before` compare).
-- @function created_epoch
-- @tparam table run
-- @treturn ?number
_M.created_epoch = created_epoch

local function match_all() return true end

--- Validates a where table without raising (see `compile` for its keys).
-- @tparam[opt] table where
-- @return predicate, info; or nil and a message naming no function
--   ("unknown key 'x'", "'since' must be ...")
function _M.check(where)
  if where == nil then return match_all, {} end
  if type(where) ~= "table" then
    return nil, "where must be a table (got " .. type(where) .. ")"
  end
  local unknown = unknown_key(where, KNOWN)
  if unknown then return nil, "unknown key '" .. unknown .. "'" end

  local sets = {}
  for i = 1, #SET_KEYS do
    local key = SET_KEYS[i]
    local v = where[key]
    if v ~= nil then
      sets[key] = string_set(v)
      if not sets[key] then
        return nil, "'" .. key .. "' must be a string or a sequence of strings"
      end
    end
  end

  local since, until_, err
  if where.since ~= nil then
    since, err = check_epoch(where.since, "'since'")
    if since == nil then return nil, err end
  end
  if where["until"] ~= nil then
    until_, err = check_epoch(where["until"], "'until'")
    if until_ == nil then return nil, err end
  end

  local fn = where.fn
  if fn ~= nil and not callable(fn) then
    return nil, "'fn' must be a function (got " .. type(fn) .. ")"
  end

  local info = { since = since, ["until"] = until_ }
  local status, run_type, job_status = sets.status, sets.run_type, sets.job_status
  if not (status or run_type or job_status or since or until_ or fn) then
    return match_all, info
  end
  local timed = since ~= nil or until_ ~= nil

  -- Cheapest tests first; the user's fn last, only for runs that pass the rest.
  return function(run)
    if type(run) ~= "table" then return false end
    if status and not status[run.status] then return false end
    if run_type and not run_type[run.run_type] then return false end
    if job_status then
      local job = run.runner_job
      if type(job) ~= "table" or not job_status[job.status] then return false end
    end
    if timed then
      local t = created_epoch(run)
      if t == nil then return false end
      if since and t < since then return false end
      if until_ and t >= until_ then return false end
    end
    if fn and not fn(run) then return false end
    return true
  end, info
end

--- Compiles a where table into a predicate.
-- Keys: `status`, `run_type`, `job_status` (runner_job.status), each a
-- string or a sequence of strings (any of); `since` (created_at >= since) and
-- `until` (created_at < until), each epoch seconds or a timestamp string;
-- `fn`, a function(run) -> truthy.  All conditions must hold.  A nil where
-- matches everything.  A bad where is a programmer error and raises.
-- @tparam[opt] table where
-- @treturn function predicate(run) -> boolean
-- @treturn table info `{ since = epoch|nil, until = epoch|nil }`
function _M.compile(where)
  local pred, info = _M.check(where)
  if not pred then raise("filter.compile", info) end
  return pred, info
end

--- Returns a new sequence of the runs that match `where` (nuon.filter).
-- The result is a plain sequence: `page` and `warnings` are not copied.
-- @tparam table runs a sequence of runs
-- @tparam[opt] table where see compile
-- @treturn table
function _M.apply(runs, where)
  if type(runs) ~= "table" then raise("filter", "runs must be a table (got %s)", type(runs)) end
  local pred, info = _M.check(where)
  if not pred then raise("filter", info) end
  local out, n = {}, 0
  for i = 1, #runs do
    local run = runs[i]
    if pred(run) then
      n = n + 1
      out[n] = run
    end
  end
  return out
end

return _M
