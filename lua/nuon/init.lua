--- nuon: a Lua client for Nuon's sandbox-runs API.
--
-- The facade over the C core `nuon.core`: the client constructor, decoding
-- without the network, filtering, enums and errors.
--
--    local nuon = require "nuon"
--    local client = nuon.new{ token = "...", org_id = "..." }
--    local runs, err = client:sandbox_runs("inl0123...")
--
-- @module nuon
local core = require "nuon.core"
local client = require "nuon.client"
local args = require "nuon.args"
local errors = require "nuon.errors"

local type = type
local raise = errors.raise

local _M = {
  --- The version, "MAJOR.MINOR.PATCH" (the rockspec's).
  VERSION = core.VERSION,
  _VERSION = "lua-nuon " .. core.VERSION,
  --- Each enum's known values as a sequence, e.g. `nuon.enums.run_type`:
  -- every value the real API has sent (README, "Today's API and the 2024 page").
  enums = core.enums,
  --- Where each known value comes from: `nuon.enum_provenance.runner_job_operation["apply"]`
  -- is `"seed, removed 2025-06"`; "seed", "added YYYY-MM", "..., removed YYYY-MM".
  enum_provenance = core.enum_provenance,
  --- The metatable of error objects (tables with kind, message, ...).
  error_mt = core.error_mt,
}

--- Creates a client.  Raises on a missing token or org id, a malformed
-- base URL or an option of the wrong type.
-- @tparam[opt] table opts see the README for every option
-- @treturn nuon.Client
_M.new = client.new

--- Decodes a sandbox-runs response body, with the same validation and the
-- same errors as a live call.
-- @tparam string json the response body
-- @tparam[opt] table opts `strict` (boolean), `max_depth` (integer),
--   `max_runs` (integer), `known_values` (enum name -> sequence of values to
--   accept besides nuon.enums)
-- @return runs (with `.warnings`) or nil, err
function _M.decode_sandbox_runs(json, opts)
  if type(json) ~= "string" then
    raise("decode_sandbox_runs", "argument 1 must be a string (got %s)", type(json))
  end
  return core.decode(json, args.opts("decode_sandbox_runs", opts, args.DECODE))
end

--- The response metadata of a run from `sandbox_run`: `{ api_version = "0.19.1125" }`
-- (the server's `X-Nuon-API-Version`, when it sent one), kept beside the run
-- so that its fields stay the server's.  nil for other tables.
-- @tparam table run
-- @treturn ?table
_M.meta = core.meta

--- Returns the runs that match `where` (a new sequence).
-- @tparam table runs a sequence of runs
-- @tparam table where status, run_type, job_status, since, until, fn
-- @treturn table
_M.filter = require("nuon.filter").apply

--- Parses an RFC 3339 timestamp to epoch seconds.
-- @tparam string s e.g. "2024-12-18T23:58:12.12345Z"
-- @return number or nil, message
_M.parse_time = require("nuon.time").parse

--- Summarizes runs: counts by status, run type, job status and outcome, the
-- latest success and failure, mean and longest duration (see `nuon.summary`).
-- @tparam table runs a sequence of runs
-- @tparam[opt] table opts `success`, `failure`: statuses to count as such
-- @treturn table
_M.summarize = require("nuon.summary").summarize

--- Makes an error object of the kind the library returns (`nuon.errors.new`).
-- @tparam string kind "config", "network", "timeout", "http", "decode" or "validation"
-- @tparam string message
-- @tparam[opt] table fields extra fields
function _M.error(kind, message, fields)
  if type(kind) ~= "string" then raise("error", "kind must be a string (got %s)", type(kind)) end
  if type(message) ~= "string" then
    raise("error", "message must be a string (got %s)", type(message))
  end
  if fields ~= nil and type(fields) ~= "table" then
    raise("error", "fields must be a table (got %s)", type(fields))
  end
  return errors.new(kind, message, fields)
end

--- True when `v` is an error object made by nuon.
_M.is_error = errors.is_error

return _M
