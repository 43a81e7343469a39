--- nuon.errors: every error the Lua layer makes, in one place.
--
-- Two tiers (STYLE.md).  A failure of the world (network, HTTP, data) is an
-- error *object* a call returns as `nil, err`; a programmer's mistake (a bad
-- argument or option) *raises* a message.
--
-- **Error objects** are tables `{ kind = ..., message = ..., ... }` with the
-- metatable the C core gives its own (`core.error_mt`, src/error.c), so
-- they have the same fields and `tostring` whichever layer made them.  The
-- Lua layer builds every one of its own with `new` (or `closed`).
--
-- **Programmer errors** are raised by `raise(fname, message, ...)` as
-- `"nuon.<fname>: <message>"`, where `fname` is what the user called:
--
-- * a function of a module, by its path below `nuon`: `"new"`,
--   `"decode_sandbox_runs"`, `"filter"`, `"summarize"`, `"time.format"`,
--   `"config.resolve"`, `"resty.new"`, `"nvim.sandbox_runs"`;
-- * a client method, by its name alone: `"sandbox_runs"`,
--   `"all_sandbox_runs_many"`, `"wait_sandbox_run"`: the same words whichever
--   transport made the client (`nuon.new`, `nuon.resty.new`), since the
--   methods and their rules are the same.
--
-- The message names the argument or option and what it must be:
-- `"nuon.sandbox_runs: install_id must be a non-empty string (got nil)"`,
-- `"nuon.all_sandbox_runs: option 'page_size' must be a positive integer"`.
--
-- **Blame**: the error's `file:line:` is that of the first caller outside
-- nuon's own files (the directory this file is in): the user's line,
-- however many of nuon's helpers sit between it and the check, so a check
-- may live at any depth and no level is ever counted.  When that caller is
-- a C function (say `pcall(c.sandbox_runs, c)`), there is no position, as
-- with `error`.
--
-- @module nuon.errors
local core = require "nuon.core"

local type, pairs, select, error, setmetatable, getmetatable =
  type, pairs, select, error, setmetatable, getmetatable
local format, sub = string.format, string.sub
local getinfo = debug.getinfo

local error_mt = core.error_mt

local _M = { _VERSION = core.VERSION }

--- The metatable of error objects (`core.error_mt`, "nuon.error").
_M.mt = error_mt

--- Builds an error object.
-- @tparam string kind "config", "network", "timeout", "http", "decode" or "validation"
-- @tparam string message one line a person can act on
-- @tparam[opt] table fields more fields (`status`, `retryable`, `path`, ...), copied
-- @treturn table
function _M.new(kind, message, fields)
  local e = { kind = kind, message = message }
  if fields then
    for k, v in pairs(fields) do e[k] = v end
  end
  return setmetatable(e, error_mt)
end

--- Whether `v` is an error object (made by the C core or by `new`).
-- @treturn boolean
function _M.is_error(v)
  return type(v) == "table" and getmetatable(v) == error_mt
end

--- The error of a call on a closed client: a new table each time, since a
-- caller may add fields to the one it gets.
-- @treturn table
function _M.closed()
  return _M.new("config", "the client is closed", { retryable = false })
end

-- The directory of nuon's Lua files, as chunk sources name it ("@lua/nuon/").
local OURS = (getinfo(1, "S").source or ""):match("^(@.*[/\\])[^/\\]*$")

local function ours(source)
  return OURS ~= nil and sub(source, 1, #OURS) == OURS
end

--- Raises a programmer error: `"nuon.<fname>: <message>"`, blaming the first
-- caller outside nuon (see the module's header).
-- @tparam string fname the public function, as the header says
-- @tparam string message what is wrong; a format string when more arguments follow
-- @param ... values for the format (a message without them is taken as it is)
function _M.raise(fname, message, ...)
  if select("#", ...) > 0 then message = format(message, ...) end
  -- error's level and getinfo's both count this function as 1
  local level = 2
  while true do
    local info = getinfo(level, "S")
    if info == nil then
      level = 0 -- nuon's frames only (a coroutine of its own): no position
      break
    end
    -- PUC 5.1 lists a tail call as a frame of its own: it is nobody's line
    if info.what ~= "tail" and not ours(info.source) then break end
    level = level + 1
  end
  error("nuon." .. fname .. ": " .. message, level)
end

return _M
