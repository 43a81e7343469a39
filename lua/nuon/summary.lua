--- nuon.summary: what became of sandbox runs (`nuon.summarize`).
--
-- The top-level `status` of a sandbox run is an open set: the server has
-- added values over the years and copies any `status_v2.status` over it.
-- This module classifies a status into one of four outcomes, the one
-- classification `summarize`, `client:wait_sandbox_run` and the examples use:
--
-- * `"success"` — final, the run did its job: `active`, `deprovisioned`,
--   `success`, `no-drift`, `noop`, `auto-skipped` (nothing to change),
--   `warning` (done, with warnings to read: nuon-python's newest value);
-- * `"failure"` — final, it did not: `error`, `access_error`, `cancelled`,
--   `approval-denied`, `approval-expired`, `failed`, `expired`, `timed-out`,
--   `discarded`, `user-skipped`, `not-attempted`, `outdated`, and
--   `drift-detected` and `drifted` (the sandbox differs from its config and
--   needs someone; today's drift checks write `drifted`);
-- * `"in_progress"` — not final yet: `queued`, `pending`, `planning`,
--   `applying`, `provisioning`, `reprovisioning`, `deprovisioning`,
--   `pending-approval`, `approval-awaiting`, `awaiting-approval`,
--   `approval-retry`, `approved`, `awaiting-user-run`, `in-progress`,
--   `checking-plan`, `retrying`, `failed-pending-retry`, `generating`,
--   `building`, `deleting`, `available`;
-- * `"unknown"` — the server's own `unknown` and `empty` (declared, rarely
--   set, saying nothing about the run), an absent status, and values newer
--   than this library.  Every value of `nuon.enums.run_status` and
--   `nuon.enums.composite_status` is in exactly one of these lists.  An
--   unknown status is **not final**: a run whose status this library does not
--   know is waited on until the timeout (whose message names the status)
--   rather than taken for finished with a guessed outcome.
--
--    local summary = require "nuon.summary"
--    summary.outcome("deprovisioned")   --> "success"
--    summary.is_final("applying")       --> false
--    local s = nuon.summarize(runs)     -- or summary.summarize(runs)
--    print(s.total, s.by_outcome.failure, s.duration.mean)
--
-- @module nuon.summary
local type = type
local core = require "nuon.core"
local filter = require "nuon.filter"
local time = require "nuon.time"
local args = require "nuon.args"
local raise = require("nuon.errors").raise

local created_epoch, parse_time = filter.created_epoch, time.parse_uncached

local _M = { _VERSION = core.VERSION }

local SUCCESS = {
  "active", "deprovisioned", "success", "no-drift", "noop", "auto-skipped", "warning",
}
local FAILURE = {
  "error", "access_error", "cancelled", "approval-denied", "approval-expired", "failed",
  "expired", "timed-out", "discarded", "user-skipped", "not-attempted", "outdated",
  "drift-detected", "drifted",
}
local IN_PROGRESS = {
  "queued", "pending", "planning", "applying", "provisioning", "reprovisioning",
  "deprovisioning", "pending-approval", "approval-awaiting", "awaiting-approval",
  "approval-retry", "approved", "awaiting-user-run", "in-progress", "checking-plan",
  "retrying", "failed-pending-retry", "generating", "building", "deleting", "available",
}

local function copy(list)
  local out = {}
  for i = 1, #list do out[i] = list[i] end
  return out
end

-- status -> outcome; private, so changing the exposed lists changes nothing
local OUTCOME = {}
for i = 1, #IN_PROGRESS do OUTCOME[IN_PROGRESS[i]] = "in_progress" end
for i = 1, #FAILURE do OUTCOME[FAILURE[i]] = "failure" end
for i = 1, #SUCCESS do OUTCOME[SUCCESS[i]] = "success" end

-- known statuses that say nothing about the run: "unknown" on purpose
local UNKNOWN = { "unknown", "empty" }

--- The statuses of each outcome, as sequences (copies: changing them does
-- not change the classification; pass `success`/`failure` options instead).
-- @table statuses
-- @field success final, the run did its job
-- @field failure final, it did not
-- @field in_progress not final yet
-- @field unknown known statuses classified "unknown" on purpose (`unknown`, `empty`)
_M.statuses = { success = copy(SUCCESS), failure = copy(FAILURE), in_progress = copy(IN_PROGRESS),
  unknown = copy(UNKNOWN) }

--- Every final status (success and failure), as a sequence.
_M.final_statuses = copy(SUCCESS)
for i = 1, #FAILURE do _M.final_statuses[#SUCCESS + i] = FAILURE[i] end

--- Classifies a run status.
-- @tparam ?string|table status a status string, or a run (its `status` is used)
-- @treturn string `"success"`, `"failure"`, `"in_progress"` or `"unknown"`
function _M.outcome(status)
  if type(status) == "table" then status = status.status end
  return type(status) == "string" and OUTCOME[status] or "unknown"
end

--- Whether a status is final (a success or a failure, see `outcome`).
-- @tparam ?string|table status a status string, or a run
-- @treturn boolean
function _M.is_final(status)
  local o = _M.outcome(status)
  return o == "success" or o == "failure"
end

-- The classifier for summarize's options (checked): run -> outcome.
local function classifier(opts)
  opts = args.opts("summarize", opts, args.SUMMARY)
  local success = opts.success ~= nil and args.string_set(opts.success) or nil
  local failure = opts.failure ~= nil and args.string_set(opts.failure) or nil
  if not (success or failure) then return _M.outcome end
  return function(status)
    if type(status) ~= "string" then return "unknown" end
    -- an explicit list wins over the default sets, and success over failure
    if success and success[status] then return "success" end
    if failure and failure[status] then return "failure" end
    local o = OUTCOME[status] or "unknown"
    if (o == "success" and success) or (o == "failure" and failure) then return "unknown" end
    return o
  end
end

local function count(t, key)
  if type(key) == "string" then t[key] = (t[key] or 0) + 1 end
end

--- Summarizes a sequence of runs (from `all_sandbox_runs`, `filter`, ...).
--
-- Runs may lack any field; a run without a `status`, `run_type` or
-- `runner_job.status` is not counted under that key, and entries that are
-- not tables are skipped.  "Latest" and `newest` mean the greatest
-- `created_at`, `oldest` the smallest; among equal times the order of `runs`
-- decides (the API's, newest first), and a run without a parseable
-- `created_at` is picked only when no candidate has one.
--
-- The duration of a run is `updated_at - created_at` in seconds, counted for
-- final runs only (success or failure): the server stops updating a run when
-- it finishes, so that is how long it took, queueing included.  Runs without
-- both timestamps, or with `updated_at` before `created_at`, are left out.
--
-- @tparam table runs a sequence of run tables
-- @tparam[opt] table opts `success`, `failure`: a status or a sequence of
--   statuses counted as such instead of the defaults (see `statuses`)
-- @treturn table
--  `{ total = n, by_status = { [status] = n }, by_run_type = {...},
--  by_job_status = {...}, by_outcome = { success = n, failure = n,
--  in_progress = n, unknown = n }, latest_success = run|nil,
--  latest_failure = run|nil, newest = run|nil, oldest = run|nil,
--  duration = { count = n, total = s, mean = s|nil, max = s|nil,
--  longest = run|nil } }`
function _M.summarize(runs, opts)
  if type(runs) ~= "table" then
    raise("summarize", "runs must be a table (got %s)", type(runs))
  end
  local classify = classifier(opts)
  local by_status, by_run_type, by_job_status = {}, {}, {}
  local by_outcome = { success = 0, failure = 0, in_progress = 0, unknown = 0 }
  local total = 0
  local newest, newest_t, oldest, oldest_t
  local success, success_t, failure, failure_t
  local dcount, dtotal, dmax, longest = 0, 0, nil, nil

  -- Whether a run created at t replaces the current best: a run without a
  -- time only fills an empty place; equal times keep the first (newer) run
  -- for newer() and take the later one for older(), as the API lists
  -- newest first.
  local function newer(t, best, best_t)
    if best == nil then return true end
    if t == nil then return false end
    return best_t == nil or t > best_t
  end
  local function older(t, best, best_t)
    if best == nil then return true end
    if t == nil then return false end
    return best_t == nil or t <= best_t
  end

  for i = 1, #runs do
    local run = runs[i]
    if type(run) == "table" then
      total = total + 1
      local status = run.status
      count(by_status, status)
      count(by_run_type, run.run_type)
      local job = run.runner_job
      if type(job) == "table" then count(by_job_status, job.status) end
      local o = classify(status)
      by_outcome[o] = by_outcome[o] + 1

      local t = created_epoch(run)
      if newer(t, newest, newest_t) then newest, newest_t = run, t end
      if older(t, oldest, oldest_t) then oldest, oldest_t = run, t end
      if o == "success" then
        if newer(t, success, success_t) then success, success_t = run, t end
      elseif o == "failure" then
        if newer(t, failure, failure_t) then failure, failure_t = run, t end
      end

      if (o == "success" or o == "failure") and t ~= nil and type(run.updated_at) == "string" then
        local u = parse_time(run.updated_at)
        if u and u >= t then
          local d = u - t
          dcount, dtotal = dcount + 1, dtotal + d
          if dmax == nil or d > dmax then dmax, longest = d, run end
        end
      end
    end
  end

  return {
    total = total,
    by_status = by_status,
    by_run_type = by_run_type,
    by_job_status = by_job_status,
    by_outcome = by_outcome,
    latest_success = success,
    latest_failure = failure,
    newest = newest,
    oldest = oldest,
    duration = {
      count = dcount,
      total = dtotal,
      mean = dcount > 0 and dtotal / dcount or nil,
      max = dmax,
      longest = longest,
    },
  }
end

return _M
