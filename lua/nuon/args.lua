--- Argument checks shared by the client methods of `nuon.client` and
-- `nuon.resty`, so both raise the same messages for the same mistakes.
-- A mistake is a programmer error: it raises, blaming the line that called
-- the method: `level` as for `error`, counted from the check (default 3: the
-- method called the check; 4 when the method called a helper that did).
-- @module nuon.args
local type, error, pairs, tostring, getmetatable = type, error, pairs, tostring, getmetatable
local floor = math.floor
local MAX_ID = require("nuon.core").limits.max_id

local _M = {}

--- Whether v is an integral number Lua can hold exactly.
function _M.is_int(v)
  return type(v) == "number" and v == floor(v) and v > -2^53 and v < 2^53
end
local is_int = _M.is_int

--- Raises unless id is a non-empty string of at most `core.limits.max_id`
-- bytes (real ids have 26).
function _M.install_id(fname, id, level)
  if type(id) ~= "string" or id == "" then
    error(("nuon: %s: install_id must be a non-empty string (got %s)"):format(
      fname, type(id) == "string" and "an empty string" or type(id)), level or 3)
  end
  if #id > MAX_ID then
    error(("nuon: %s: install_id is %d bytes, at most %d"):format(fname, #id, MAX_ID), level or 3)
  end
end

--- Whether f can be called.
function _M.callable(f)
  if type(f) == "function" then return true end
  local m = getmetatable(f)
  return type(m) == "table" and m.__call ~= nil
end
local callable = _M.callable

--- Checks an options table against `allowed` (name -> "count", "positive",
-- "boolean", "table" or "function"); returns it, or {} for nil.
function _M.opts(fname, opts, allowed, level)
  level = level or 3
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("nuon: %s: options must be a table (got %s)"):format(fname, type(opts)), level)
  end
  for k, v in pairs(opts) do
    local want = allowed[k]
    if not want then
      error(("nuon: %s: unknown option '%s'"):format(fname, tostring(k)), level)
    end
    if want == "count" and not (is_int(v) and v >= 0) then
      error(("nuon: %s: option '%s' must be a non-negative integer"):format(fname, k), level)
    elseif want == "positive" and not (is_int(v) and v > 0) then
      error(("nuon: %s: option '%s' must be a positive integer"):format(fname, k), level)
    elseif want == "boolean" and type(v) ~= "boolean" then
      error(("nuon: %s: option '%s' must be a boolean"):format(fname, k), level)
    elseif want == "table" and type(v) ~= "table" then
      error(("nuon: %s: option '%s' must be a table"):format(fname, k), level)
    elseif want == "function" and not callable(v) then
      error(("nuon: %s: option '%s' must be a function"):format(fname, k), level)
    end
  end
  return opts
end

--- The options of one page (`sandbox_runs`, `url`, `start_sandbox_runs`).
_M.RUNS = { limit = "count", offset = "count", page = "count", strict = "boolean" }
--- The options of the paging methods (`each_sandbox_run`, `all_sandbox_runs`).
_M.PAGES = { page_size = "positive", where = "table", max = "count", strict = "boolean" }
--- The options of `sandbox_runs_many`.
_M.MANY = { concurrency = "positive", limit = "count", offset = "count", strict = "boolean" }

return _M
