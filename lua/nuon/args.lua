--- nuon.args: what every argument and option must be, checked in one place.
--
-- One table of value kinds (`KINDS`: the test and the words of each) serves
-- every public function: the client methods (`nuon.client`, `nuon.resty`),
-- `nuon.fleet`, `nuon.wait`, `nuon.summary`, `decode_sandbox_runs`, and the
-- settings of `nuon.new` (`nuon.config`, which also shows the value it got).
-- The small predicates live here once too: `is_int`, `finite`, `callable`,
-- `string_set`, `unknown_key`.
--
-- A mistake is a programmer error: it raises through `nuon.errors.raise`,
-- named after the public function (`fname`, see nuon.errors) and blaming
-- the user's line however deep the check sits.
-- @module nuon.args
local type, pairs, tostring, require = type, pairs, tostring, require
local floor, huge = math.floor, math.huge
local sort = table.sort
local getmetatable, setmetatable = getmetatable, setmetatable
local core = require "nuon.core"
local raise = require("nuon.errors").raise

local check_known_values = core.check_known_values
local LIMITS = core.limits
local MAX_ID = LIMITS.max_id
local MAX_CONCURRENCY = LIMITS.max_concurrency -- requests in flight in one batch

local _M = { _VERSION = core.VERSION }

-- ---------------------------------------------------------------------------
-- Predicates

--- Whether v is an integral number Lua can hold exactly.
function _M.is_int(v)
  return type(v) == "number" and v == floor(v) and v > -2^53 and v < 2^53
end
local is_int = _M.is_int

--- Whether v is a number other than NaN and the infinities.
function _M.finite(v)
  return type(v) == "number" and v == v and v ~= huge and v ~= -huge
end
local finite = _M.finite

--- Whether f can be called (a function, or a table with `__call`).
function _M.callable(f)
  if type(f) == "function" then return true end
  local m = getmetatable(f)
  return type(m) == "table" and m.__call ~= nil
end
local callable = _M.callable

--- A string or a sequence of strings as a set (`{ [s] = true }`), or nil
-- for anything else (other types, holes, keys that are not 1..n).
function _M.string_set(v)
  if type(v) == "string" then return { [v] = true } end
  if type(v) ~= "table" then return nil end
  local n, count = #v, 0
  for _ in pairs(v) do count = count + 1 end
  if count ~= n then return nil end
  local set = {}
  for i = 1, n do
    local s = v[i]
    if type(s) ~= "string" then return nil end
    set[s] = true
  end
  return set
end
local string_set = _M.string_set

--- The first key of `t` (in sorted order, as text) that `known` lacks, or
-- nil when every key is known.
-- @tparam table t
-- @tparam table known name -> anything but nil
-- @treturn ?string
function _M.unknown_key(t, known)
  local first
  for k in pairs(t) do
    if known[k] == nil then
      local name = tostring(k)
      if first == nil or name < first then first = name end
    end
  end
  return first
end
local unknown_key = _M.unknown_key

-- ---------------------------------------------------------------------------
-- Kinds of values

-- A bound as messages write it: 2^53 by name, as the C core does.
local function bound(v)
  if v == LIMITS.max_int then return "2^53" end
  return ("%.14g"):format(v)
end

-- A kind: `ok(v)`, `want` (what a value must be, in words), `number` (its
-- values are numbers: a wrong number is shown by value rather than type),
-- `max` (a highest value with a message of its own).
local function kind(ok, want, number, max)
  return { ok = ok, want = want, number = number, max = max }
end

local function range(lo, hi, integral)
  return kind(function(v)
    return finite(v) and v >= lo and v <= hi and (not integral or v == floor(v))
  end, ("%s from %s to %s"):format(integral and "an integer" or "a number of seconds", bound(lo), bound(hi)),
  true)
end

-- Every kind of option value: name -> `{ ok, want, number, max }`, or
-- `{ check }` for a kind whose check has words of its own.
_M.KINDS = {
  -- the options of the calls
  count = kind(function(v) return is_int(v) and v >= 0 end, "a non-negative integer", true),
  positive = kind(function(v) return is_int(v) and v > 0 end, "a positive integer", true),
  concurrency = kind(function(v) return is_int(v) and v > 0 end, "a positive integer", true,
    MAX_CONCURRENCY),
  duration = kind(function(v) return finite(v) and v > 0 end, "a positive number", true),
  boolean = kind(function(v) return type(v) == "boolean" end, "a boolean"),
  table = kind(function(v) return type(v) == "table" end, "a table"),
  ["function"] = kind(callable, "a function"),
  strings = kind(function(v) return string_set(v) ~= nil end, "a string or a sequence of strings"),
  final = kind(function(v) return callable(v) or string_set(v) ~= nil end,
    "a function or a sequence of statuses"),
  known_values = { check = function(v)
    local ok, msg = check_known_values(v)
    if not ok then return " " .. msg end
  end },
  where = { check = function(v)
    if type(v) ~= "table" then return " must be a table" end
    local ok, msg = require("nuon.filter").check(v) -- required here: nuon.filter requires this module
    if not ok then return ": " .. msg end
  end },
  -- the settings of nuon.new; the bounds are the C core's (core.limits)
  string = kind(function(v) return type(v) == "string" and v ~= "" end, "a non-empty string"),
  seconds = range(LIMITS.min_seconds, LIMITS.max_seconds, false),
  backoff = range(0, LIMITS.max_seconds, false),
  retries = range(0, LIMITS.max_retries, true),
  size = range(1, LIMITS.max_int, true),
  depth = range(1, LIMITS.max_depth, true),
}
local KINDS = _M.KINDS

--- A value as messages show what they got: an empty string as such, a
-- number by value when `number`, anything else by type.
function _M.show(v, number)
  if v == "" then return "an empty string" end
  if not (number and type(v) == "number") then return type(v) end
  if v ~= v then return "nan" end
  if v == huge then return "inf" end
  if v == -huge then return "-inf" end
  return tostring(v)
end
local show = _M.show

--- What is wrong with `v` as a value of kind `k`: nil when it is fine, else
-- the words that follow the option's name (" must be a boolean",
-- ": unknown key 'x'").  `got`: end "must be" words with the value got.
-- @tparam string k a name in `KINDS`
-- @param v
-- @tparam[opt] boolean got
-- @treturn ?string
function _M.check(k, v, got)
  local kd = KINDS[k]
  if kd.check then return kd.check(v) end
  if not kd.ok(v) then
    local words = " must be " .. kd.want
    if got then words = words .. " (got " .. show(v, kd.number) .. ")" end
    return words
  end
  if kd.max and v > kd.max then return " must be at most " .. kd.max end
end
local check = _M.check

-- spec -> its option names, sorted: options are checked in this order
local sorted_names = setmetatable({}, { __mode = "k" })

--- Checks an options table against `spec` (name -> a kind in `KINDS`);
-- returns it, or {} for nil.  Raises, as `fname`, for a table of another
-- type, an unknown option (the first in sorted order) or a bad value.
-- @tparam string fname the public function
-- @param opts
-- @tparam table spec
-- @treturn table
function _M.opts(fname, opts, spec)
  if opts == nil then return {} end
  if type(opts) ~= "table" then raise(fname, "options must be a table (got %s)", type(opts)) end
  local bad = unknown_key(opts, spec)
  if bad then raise(fname, "unknown option '%s'", bad) end
  local names = sorted_names[spec]
  if not names then
    names = {}
    for name in pairs(spec) do names[#names + 1] = name end
    sort(names)
    sorted_names[spec] = names
  end
  for i = 1, #names do
    local name = names[i]
    local v = opts[name]
    if v ~= nil then
      local words = check(spec[name], v)
      if words then raise(fname, "option '%s'%s", name, words) end
    end
  end
  return opts
end

-- ---------------------------------------------------------------------------
-- Arguments

local function id(fname, name, v)
  if type(v) ~= "string" or v == "" then
    raise(fname, "%s must be a non-empty string (got %s)", name, show(v))
  end
  if #v > MAX_ID then raise(fname, "%s is %d bytes, at most %d", name, #v, MAX_ID) end
end

--- Raises unless `install_id` is a non-empty string of at most
-- `core.limits.max_id` bytes (real ids have 26).
function _M.install_id(fname, install_id)
  id(fname, "install_id", install_id)
end

--- Raises unless `run_id` is a non-empty string of at most `max_id` bytes.
function _M.run_id(fname, run_id)
  id(fname, "run_id", run_id)
end

--- Raises unless `client` looks like a nuon client (a table with a
-- `sandbox_runs` method), for functions that take one (`nuon.wait`, `nuon.nvim`).
function _M.client(fname, client)
  if type(client) ~= "table" or type(client.sandbox_runs) ~= "function" then
    raise(fname, "client must be a nuon client (got %s)", type(client))
  end
end

--- Raises unless `callback` can be called.
function _M.callback(fname, callback)
  if not callable(callback) then raise(fname, "callback must be a function (got %s)", type(callback)) end
end

--- Raises unless `install_ids` is a sequence of install ids.
function _M.install_ids(fname, install_ids)
  if type(install_ids) ~= "table" then
    raise(fname, "install_ids must be a sequence (got %s)", type(install_ids))
  end
  for k = 1, #install_ids do id(fname, "install_id", install_ids[k]) end
end

--- The known_values a call decodes with: the client's (checked by nuon.new)
-- and the call's, together (nil when neither has any).
function _M.known_values(client_known, call_known)
  if call_known == nil then return client_known end
  if client_known == nil then return call_known end
  local all = {}
  for _, t in pairs{ client_known, call_known } do
    for enum, values in pairs(t) do
      local list = all[enum] or {}
      for i = 1, #values do list[#list + 1] = values[i] end
      all[enum] = list
    end
  end
  return all
end

-- ---------------------------------------------------------------------------
-- The options of each call

--- One page (`sandbox_runs`, `url`, `start_sandbox_runs`).
_M.RUNS = { limit = "count", offset = "count", page = "count", strict = "boolean",
  known_values = "known_values" }
--- One run (`sandbox_run`, `start_sandbox_run`).
_M.RUN = { strict = "boolean", known_values = "known_values" }
--- The paging methods (`each_sandbox_run`, `all_sandbox_runs`).
_M.PAGES = { page_size = "positive", where = "where", max = "count", strict = "boolean",
  known_values = "known_values" }
--- `sandbox_runs_many`.
_M.MANY = { concurrency = "concurrency", limit = "count", offset = "count", strict = "boolean",
  known_values = "known_values" }
--- `all_sandbox_runs_many` and `start_all_sandbox_runs_many` (`nuon.fleet`).
_M.FLEET = { concurrency = "concurrency", page_size = "positive", where = "where", max = "count",
  strict = "boolean", on_progress = "function", known_values = "known_values" }
--- `decode_sandbox_runs`.
_M.DECODE = { strict = "boolean", max_depth = "depth", max_runs = "positive",
  known_values = "known_values" }
--- `wait_sandbox_run`.
_M.WAIT = { timeout = "duration", interval = "duration", max_interval = "duration",
  search = "positive", on_change = "function", sleep = "function", clock = "function",
  final = "final" }
--- `summarize`.
_M.SUMMARY = { success = "strings", failure = "strings" }

return _M
