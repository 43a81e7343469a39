-- nuon.summary: the status classification and nuon.summarize, on hand-made
-- runs, on generated data (decoded with cjson, no C core needed) and on runs
-- fetched from the test API server.
local summary = require "nuon.summary"
local time = require "nuon.time"

local function run(t)
  return t
end

local function ts_at(epoch) return time.format(epoch) end

describe("nuon.summary.outcome", function()
  it("classifies the server's statuses", function()
    for _, s in ipairs{ "active", "deprovisioned", "success", "no-drift", "noop", "auto-skipped",
                        "warning" } do
      assert.equal("success", summary.outcome(s), s)
    end
    for _, s in ipairs{ "error", "access_error", "cancelled", "approval-denied", "approval-expired",
                        "failed", "expired", "timed-out", "discarded", "user-skipped",
                        "not-attempted", "outdated", "drift-detected", "drifted" } do
      assert.equal("failure", summary.outcome(s), s)
    end
    for _, s in ipairs{ "queued", "pending", "planning", "applying", "provisioning", "reprovisioning",
                        "deprovisioning", "pending-approval", "approval-awaiting",
                        "awaiting-approval", "approval-retry", "approved", "awaiting-user-run",
                        "in-progress", "checking-plan", "retrying", "failed-pending-retry",
                        "generating", "building", "deleting", "available" } do
      assert.equal("in_progress", summary.outcome(s), s)
    end
  end)

  it("calls anything else unknown, the server's own unknown and empty included", function()
    for _, s in ipairs{ "unknown", "empty", "", "Active", "something-new" } do
      assert.equal("unknown", summary.outcome(s), s)
    end
    assert.equal("unknown", summary.outcome(nil))
    assert.equal("unknown", summary.outcome(42))
  end)

  it("accepts a run and uses its status", function()
    assert.equal("success", summary.outcome{ status = "active" })
    assert.equal("unknown", summary.outcome{})
  end)
end)

describe("the run status enums", function()
  -- the C core's tables; nuon.summary itself needs no C
  local enums = require("nuon.core").enums

  it("are each classified on purpose: every value in exactly one outcome list", function()
    local where = {}
    for outcome, list in pairs(summary.statuses) do
      for _, s in ipairs(list) do
        assert.is_nil(where[s], s .. " is in two lists")
        where[s] = outcome
      end
    end
    for _, name in ipairs{ "run_status", "composite_status" } do
      for _, s in ipairs(enums[name]) do
        assert.is_not_nil(where[s], name .. " " .. s .. " is not classified")
        assert.equal(where[s], summary.outcome(s), s)
      end
    end
    -- those waited on: a drifted run is final, wait_sandbox_run stops on it
    assert.equal("failure", summary.outcome("drifted"))
    assert.is_true(summary.is_final("drifted"))
    assert.is_true(summary.is_final("warning"))
  end)
end)

describe("nuon.summary.is_final", function()
  it("is true for success and failure statuses only", function()
    assert.is_true(summary.is_final("active"))
    assert.is_true(summary.is_final("error"))
    assert.is_true(summary.is_final{ status = "cancelled" })
    assert.is_false(summary.is_final("provisioning"))
    assert.is_false(summary.is_final("unknown"))
    assert.is_false(summary.is_final("brand-new-status"))
    assert.is_false(summary.is_final(nil))
  end)
end)

describe("nuon.summary.statuses", function()
  it("lists each outcome's statuses, and final_statuses is success then failure", function()
    local n = 0
    for _, s in ipairs(summary.statuses.success) do
      n = n + 1
      assert.equal(s, summary.final_statuses[n])
    end
    for _, s in ipairs(summary.statuses.failure) do
      n = n + 1
      assert.equal(s, summary.final_statuses[n])
    end
    assert.equal(n, #summary.final_statuses)
    assert.equal(21, #summary.statuses.in_progress)
    assert.same({ "unknown", "empty" }, summary.statuses.unknown)
  end)

  it("are copies: changing them does not change the classification", function()
    summary.statuses.success[1] = "error"
    table.insert(summary.final_statuses, "queued")
    finally(function()
      summary.statuses.success[1] = "active"
      table.remove(summary.final_statuses)
    end)
    assert.equal("failure", summary.outcome("error"))
    assert.is_false(summary.is_final("queued"))
    assert.equal("success", summary.outcome("active"))
  end)
end)

describe("nuon.summarize", function()
  local nuon_summarize = summary.summarize

  it("summarizes an empty sequence", function()
    local s = nuon_summarize({})
    assert.same({
      total = 0, by_status = {}, by_run_type = {}, by_job_status = {},
      by_outcome = { success = 0, failure = 0, in_progress = 0, unknown = 0 },
      duration = { count = 0, total = 0 },
    }, s)
  end)

  it("counts by status, run type, job status and outcome", function()
    local runs = {
      run{ id = "r1", status = "active", run_type = "provision", runner_job = { status = "finished" } },
      run{ id = "r2", status = "error", run_type = "reprovision", runner_job = { status = "failed" } },
      run{ id = "r3", status = "active", run_type = "reprovision", runner_job = { status = "finished" } },
      run{ id = "r4", status = "queued", run_type = "deprovision", runner_job = { status = "queued" } },
      run{ id = "r5", status = "mystery", run_type = "reprovision" },
    }
    local s = nuon_summarize(runs)
    assert.equal(5, s.total)
    assert.same({ active = 2, error = 1, queued = 1, mystery = 1 }, s.by_status)
    assert.same({ provision = 1, reprovision = 3, deprovision = 1 }, s.by_run_type)
    assert.same({ finished = 2, failed = 1, queued = 1 }, s.by_job_status)
    assert.same({ success = 2, failure = 1, in_progress = 1, unknown = 1 }, s.by_outcome)
  end)

  it("leaves out fields a run lacks and skips entries that are not tables", function()
    local runs = {
      run{ id = "a" },
      run{ id = "b", status = "active", runner_job = { id = "job" } },
      run{ id = "c", run_type = "provision", runner_job = "not a table" },
      "junk", 42,
    }
    local s = nuon_summarize(runs)
    assert.equal(3, s.total)
    assert.same({ active = 1 }, s.by_status)
    assert.same({ provision = 1 }, s.by_run_type)
    assert.same({}, s.by_job_status)
    assert.same({ success = 1, failure = 0, in_progress = 0, unknown = 2 }, s.by_outcome)
    assert.equal("b", s.latest_success.id)
    assert.is_nil(s.latest_failure)
    assert.same({ count = 0, total = 0 }, s.duration)
  end)

  it("finds the latest success and failure by created_at, not by position", function()
    local runs = {
      run{ id = "s-old", status = "active", created_at = "2025-01-01T00:00:00Z" },
      run{ id = "f-new", status = "cancelled", created_at = "2025-03-01T00:00:00.5+01:00" },
      run{ id = "s-new", status = "deprovisioned", created_at = "2025-02-01T00:00:00.123456789Z" },
      run{ id = "f-old", status = "error", created_at = "2025-01-15T00:00:00Z" },
      run{ id = "q", status = "queued", created_at = "2025-04-01T00:00:00Z" },
    }
    local s = nuon_summarize(runs)
    assert.equal("s-new", s.latest_success.id)
    assert.equal("f-new", s.latest_failure.id)
    assert.equal("q", s.newest.id)
    assert.equal("s-old", s.oldest.id)
  end)

  it("keeps the API's order among equal times, and prefers runs with a time", function()
    local t = "2025-01-01T00:00:00Z"
    local runs = {
      run{ id = "no-time", status = "active" },
      run{ id = "first", status = "active", created_at = t },
      run{ id = "second", status = "active", created_at = t },
      run{ id = "bad-time", status = "active", created_at = "yesterday" },
    }
    local s = nuon_summarize(runs)
    assert.equal("first", s.latest_success.id)
    assert.equal("first", s.newest.id)
    assert.equal("second", s.oldest.id)
    local s2 = nuon_summarize{ run{ id = "x", status = "error" }, run{ id = "y", status = "error" } }
    assert.equal("x", s2.latest_failure.id)
    assert.equal("x", s2.newest.id)
    assert.equal("x", s2.oldest.id)
  end)

  it("measures updated_at - created_at of final runs only", function()
    local base = 1735689600 -- 2025-01-01T00:00:00Z
    local runs = {
      run{ id = "a", status = "active", created_at = ts_at(base), updated_at = ts_at(base + 600) },
      run{ id = "b", status = "error", created_at = ts_at(base), updated_at = ts_at(base + 1800.5) },
      run{ id = "c", status = "provisioning", created_at = ts_at(base), updated_at = ts_at(base + 99999) },
      run{ id = "d", status = "active", created_at = ts_at(base) },                   -- no updated_at
      run{ id = "e", status = "active", updated_at = ts_at(base) },                   -- no created_at
      run{ id = "f", status = "active", created_at = ts_at(base), updated_at = ts_at(base - 5) },
      run{ id = "g", status = "mystery", created_at = ts_at(base), updated_at = ts_at(base + 99999) },
      run{ id = "h", status = "no-drift", created_at = ts_at(base), updated_at = "garbage" },
    }
    local d = nuon_summarize(runs).duration
    assert.equal(2, d.count)
    assert.equal(2400.5, d.total)
    assert.equal(1200.25, d.mean)
    assert.equal(1800.5, d.max)
    assert.equal("b", d.longest.id)
  end)

  it("accepts epoch numbers as created_at", function()
    local s = nuon_summarize{
      run{ id = "a", status = "active", created_at = 100 },
      run{ id = "b", status = "active", created_at = 200, updated_at = ts_at(260) },
    }
    assert.equal("b", s.latest_success.id)
    assert.equal(60, s.duration.max)
  end)

  it("counts statuses passed as success or failure instead of the defaults", function()
    local runs = {
      run{ id = "a", status = "active", created_at = "2025-01-02T00:00:00Z" },
      run{ id = "b", status = "drift-detected", created_at = "2025-01-03T00:00:00Z" },
      run{ id = "c", status = "custom-ok", created_at = "2025-01-04T00:00:00Z" },
      run{ id = "d", status = "error", created_at = "2025-01-01T00:00:00Z" },
    }
    local s = nuon_summarize(runs, { success = { "active", "custom-ok" }, failure = "error" })
    assert.same({ success = 2, failure = 1, in_progress = 0, unknown = 1 }, s.by_outcome)
    assert.equal("c", s.latest_success.id)
    assert.equal("d", s.latest_failure.id)
    -- only failure given: the default success set stays
    local s2 = nuon_summarize(runs, { failure = { "drift-detected" } })
    assert.same({ success = 1, failure = 1, in_progress = 0, unknown = 2 }, s2.by_outcome)
    assert.equal("b", s2.latest_failure.id)
  end)

  it("does not modify the runs", function()
    local runs = { run{ id = "a", status = "active", created_at = "2025-01-01T00:00:00Z" } }
    nuon_summarize(runs)
    assert.same({ { id = "a", status = "active", created_at = "2025-01-01T00:00:00Z" } }, runs)
  end)

  it("raises on bad arguments, naming them", function()
    assert.has_error(function() nuon_summarize(nil) end, "nuon.summarize: runs must be a table (got nil)")
    assert.has_error(function() nuon_summarize({}, 5) end, "nuon.summarize: options must be a table (got number)")
    assert.has_error(function() nuon_summarize({}, { succes = "x" }) end,
      "nuon.summarize: unknown option 'succes'")
    assert.has_error(function() nuon_summarize({}, { success = { 1 } }) end,
      "nuon.summarize: option 'success' must be a string or a sequence of strings")
    assert.has_error(function() nuon_summarize({}, { failure = { "a", nil, "b" } }) end,
      "nuon.summarize: option 'failure' must be a string or a sequence of strings")
  end)
end)

-- A reference summary computed the obvious way, to check summarize against.
local function reference(runs)
  local r = { by_status = {}, by_run_type = {}, by_job_status = {},
              by_outcome = { success = 0, failure = 0, in_progress = 0, unknown = 0 } }
  local sorted = {}
  for i, x in ipairs(runs) do
    r.by_status[x.status] = (r.by_status[x.status] or 0) + 1
    r.by_run_type[x.run_type] = (r.by_run_type[x.run_type] or 0) + 1
    local job = x.runner_job
    if type(job) == "table" and type(job.status) == "string" then
      r.by_job_status[job.status] = (r.by_job_status[job.status] or 0) + 1
    end
    local o = summary.outcome(x.status)
    r.by_outcome[o] = r.by_outcome[o] + 1
    sorted[i] = { run = x, t = assert(time.parse(x.created_at)), i = i }
  end
  table.sort(sorted, function(a, b)
    if a.t ~= b.t then return a.t > b.t end
    return a.i < b.i
  end)
  local n, sum, max = 0, 0, nil
  for _, e in ipairs(sorted) do
    local o = summary.outcome(e.run.status)
    if o == "success" and not r.latest_success then r.latest_success = e.run end
    if o == "failure" and not r.latest_failure then r.latest_failure = e.run end
    if o == "success" or o == "failure" then
      local d = time.parse(e.run.updated_at) - e.t
      n, sum = n + 1, sum + d
      if not max or d > max then max = d end
    end
  end
  r.count, r.mean, r.max, r.newest = n, sum / n, max, sorted[1].run
  return r
end

local function check_against_reference(runs)
  local s = summary.summarize(runs)
  local r = reference(runs)
  assert.equal(#runs, s.total)
  assert.same(r.by_status, s.by_status)
  assert.same(r.by_run_type, s.by_run_type)
  assert.same(r.by_job_status, s.by_job_status)
  assert.same(r.by_outcome, s.by_outcome)
  assert.equal(r.latest_success, s.latest_success)
  assert.equal(r.latest_failure, s.latest_failure)
  assert.equal(r.newest, s.newest)
  assert.equal(r.count, s.duration.count)
  assert.near(r.mean, s.duration.mean, 1e-6)
  assert.equal(r.max, s.duration.max)
  return s
end

describe("nuon.summarize on generated data", function()
  local cjson = require "cjson"
  local gen = require "server.generator"

  -- cjson tables shaped like the decoder's: null -> nil, runner_job from runner_jobs[1]
  local function decode(text)
    local runs = cjson.decode(text)
    for _, x in ipairs(runs) do
      for k, v in pairs(x) do
        if v == cjson.null then x[k] = nil end
      end
      if x.runner_job == nil and type(x.runner_jobs) == "table" then x.runner_job = x.runner_jobs[1] end
    end
    return runs
  end

  for _, flavor in ipairs{ "legacy", "current", "mixed" } do
    it("agrees with a reference computation on 400 " .. flavor .. " runs", function()
      local runs = decode(gen.body("inlsummaryspec000000000001", { count = 400, flavor = flavor, seed = 7 }))
      assert.equal(400, #runs)
      local s = check_against_reference(runs)
      assert.truthy(s.latest_success)
      assert.truthy(s.latest_failure)
      assert.is_true(s.duration.count > 0)
      local sum = 0
      for _, c in pairs(s.by_status) do sum = sum + c end
      assert.equal(400, sum)
    end)
  end
end)

describe("nuon.summarize against the test API server", function()
  local ts = require "helpers.testserver"

  it("summarizes every run of a demo install, as nuon.summarize", function()
    local nuon = require "nuon"
    ts.reset()
    local c = nuon.new{ base_url = ts.url, token = ts.token, org_id = ts.org_id }
    finally(function() c:close() end)
    local demo = ts.demo[3]
    local runs = assert(c:all_sandbox_runs(demo.id))
    assert.equal(demo.count, #runs)
    assert.equal(summary.summarize, nuon.summarize)
    local s = check_against_reference(runs)
    assert.equal(demo.count, s.by_outcome.success + s.by_outcome.failure
      + s.by_outcome.in_progress + s.by_outcome.unknown)
    assert.equal(runs[1], s.newest)
  end)
end)
