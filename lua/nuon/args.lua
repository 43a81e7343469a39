--- Argument checks shared by the client methods of `nuon.client` and
-- `nuon.resty`, so both raise the same messages for the same mistakes.
-- A mistake is a programmer error: it raises, blaming the line that called
-- the method: `level` as for `error`, counted from the check (default 3: the
-- method called the check; 4 when the method called a helper that did).
-- @module nuon.args
local type, error, pairs, tostring, getmetatable = type, error, pairs, tostring, getmetatable
local floor = math.floor
local core = require "nuon.core"
local check_known_values = core.check_known_values
local MAX_ID = core.limits.max_id

local _M = {}

--- Whether v is an integral number Lua can hold exactly.
function _M.is_int(v)
  return type(v) == "number" and v == floor(v) and v > -2^53 and v < 2^53
end
local is_int = _M.is_int

--- Raises unless id is a non-empty string of at most `core.limits.max_id`
-- bytes (real ids have 26); `name`: how to call it ("install_id").
function _M.install_id(fname, id, level, name)
  name = name or "install_id"
  if type(id) ~= "string" or id == "" then
    error(("nuon: %s: %s must be a non-empty string (got %s)"):format(
      fname, name, type(id) == "string" and "an empty string" or type(id)), level or 3)
  end
  if #id > MAX_ID then
    error(("nuon: %s: %s is %d bytes, at most %d"):format(fname, name, #id, MAX_ID), level or 3)
  end
end

--- Raises unless id is a non-empty string (a run id).
function _M.run_id(fname, id, level)
  _M.install_id(fname, id, (level or 3) + 1, "run_id")
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
    elseif want == "known_values" then
      local ok, msg = check_known_values(v)
      if not ok then error(("nuon: %s: option '%s' %s"):format(fname, k, msg), level) end

    elseif want == "function" and not callable(v) then
      error(("nuon: %s: option '%s' must be a function"):format(fname, k), level)
    end
  end
  return opts
end

--- The options of one page (`sandbox_runs`, `url`, `start_sandbox_runs`).
_M.RUNS = { limit = "count", offset = "count", page = "count", strict = "boolean",
  known_values = "known_values" }
--- The options of one run (`sandbox_run`, `start_sandbox_run`).
_M.RUN = { strict = "boolean", known_values = "known_values" }
--- The options of the paging methods (`each_sandbox_run`, `all_sandbox_runs`).
_M.PAGES = { page_size = "positive", where = "table", max = "count", strict = "boolean",
  known_values = "known_values" }
--- The options of `sandbox_runs_many`.
_M.MANY = { concurrency = "positive", limit = "count", offset = "count", strict = "boolean",
  known_values = "known_values" }
--- The options of `decode_sandbox_runs`.
_M.DECODE = { strict = "boolean", max_depth = "positive", known_values = "known_values" }

--- Checks the arguments of a method over many installs: install_ids a
-- sequence of install ids, opts as `_M.opts` with `allowed`, `concurrency`
-- at most 256.  Returns the ids without repeats, in order, and the options.
function _M.many(fname, install_ids, opts, allowed, level)
  level = level or 3
  if type(install_ids) ~= "table" then
    error(("nuon: %s: install_ids must be a sequence (got %s)"):format(fname, type(install_ids)), level)
  end
  local ids, seen = {}, {}
  for k = 1, #install_ids do
    local id = install_ids[k]
    _M.install_id(fname, id, level + 1)
    if not seen[id] then
      seen[id] = true
      ids[#ids + 1] = id
    end
  end
  opts = _M.opts(fname, opts, allowed, level + 1)
  if opts.concurrency and opts.concurrency > 256 then
    error(("nuon: %s: option 'concurrency' must be at most 256"):format(fname), level)
  end
  return ids, opts
end

return _M
