-- nuon.filter: where-clauses over sandbox runs.
local filter = require "nuon.filter"
local time = require "nuon.time"

local function run(id, status, run_type, job_status, created_at)
  return {
    id = id, status = status, run_type = run_type, created_at = created_at,
    runner_job = job_status and { status = job_status } or nil,
  }
end

-- newest first, as the server sends them
local RUNS = {
  run("sbr1", "error", "provision", "failed", "2024-05-03T12:00:00Z"),
  run("sbr2", "active", "reprovision", "finished", "2024-05-02T12:00:00.5Z"),
  run("sbr3", "cancelled", "deprovision", "cancelled", "2024-05-01T00:00:00Z"),
  run("sbr4", "error", "provision", "timed-out", "2024-04-30T23:59:59Z"),
  run("sbr5", "queued", "provision", nil, nil),
}

local function ids(runs)
  local out = {}
  for i, r in ipairs(runs) do out[i] = r.id end
  return out
end

local function select(where) return ids(filter.apply(RUNS, where)) end

describe("nuon.filter.apply", function()
  it("matches everything when where is nil or empty", function()
    assert.same({ "sbr1", "sbr2", "sbr3", "sbr4", "sbr5" }, select(nil))
    assert.same({ "sbr1", "sbr2", "sbr3", "sbr4", "sbr5" }, select({}))
  end)

  it("returns a new plain sequence without page or warnings", function()
    local runs = { RUNS[1], RUNS[2], page = { next = false }, warnings = {} }
    local out = filter.apply(runs, nil)
    assert.are_not.equal(runs, out)
    assert.same({ RUNS[1], RUNS[2] }, out)
    assert.is_nil(out.page)
    assert.is_nil(out.warnings)
  end)

  it("does not modify the runs or the where table", function()
    local where = { status = { "error" }, since = "2024-05-01T00:00:00Z" }
    filter.apply(RUNS, where)
    assert.same({ status = { "error" }, since = "2024-05-01T00:00:00Z" }, where)
    assert.equal(5, #RUNS)
  end)

  it("keeps the order of the runs", function()
    assert.same({ "sbr1", "sbr4" }, select{ status = "error" })
  end)

  it("filters by status with a string", function()
    assert.same({ "sbr2" }, select{ status = "active" })
  end)

  it("filters by status with a sequence (any of)", function()
    assert.same({ "sbr1", "sbr3", "sbr4" }, select{ status = { "error", "cancelled" } })
  end)

  it("matches nothing with an empty sequence", function()
    assert.same({}, select{ status = {} })
  end)

  it("filters by run_type", function()
    assert.same({ "sbr1", "sbr4", "sbr5" }, select{ run_type = "provision" })
    assert.same({ "sbr2", "sbr3" }, select{ run_type = { "reprovision", "deprovision" } })
  end)

  it("filters by runner_job.status and skips runs without a runner job", function()
    assert.same({ "sbr1" }, select{ job_status = "failed" })
    assert.same({ "sbr1", "sbr4" }, select{ job_status = { "failed", "timed-out" } })
    assert.same({}, select{ job_status = "queued" })
  end)

  it("keeps runs created at or after since, given as a string", function()
    assert.same({ "sbr1", "sbr2", "sbr3" }, select{ since = "2024-05-01T00:00:00Z" })
  end)

  it("keeps runs created before until, given as a string", function()
    assert.same({ "sbr3", "sbr4" }, select{ ["until"] = "2024-05-02T12:00:00.5Z" })
  end)

  it("accepts epoch numbers for since and until", function()
    local t = time.parse("2024-05-01T00:00:00Z")
    assert.same({ "sbr1", "sbr2", "sbr3" }, select{ since = t })
    assert.same({ "sbr4" }, select{ ["until"] = t })
    assert.same({ "sbr2", "sbr3" }, select{ since = t, ["until"] = t + 86400 * 2 })
  end)

  it("compares fractional seconds", function()
    local t = time.parse("2024-05-02T12:00:00Z")
    assert.same({ "sbr2" }, select{ since = t + 0.5, ["until"] = t + 0.6 })
    assert.same({}, select{ since = t + 0.51, ["until"] = t + 0.6 })
  end)

  it("applies the offset of a since or until string", function()
    -- 2024-05-01T02:00:00+02:00 is 2024-05-01T00:00:00Z
    assert.same({ "sbr1", "sbr2", "sbr3" }, select{ since = "2024-05-01T02:00:00+02:00" })
    assert.same({ "sbr4" }, select{ ["until"] = "2024-04-30T20:00:00-04:00" })
  end)

  it("accepts created_at with an offset, or as an epoch number", function()
    local runs = {
      { id = "a", created_at = "2024-05-01T01:00:00+02:00" }, -- 2024-04-30T23:00Z
      { id = "b", created_at = time.parse("2024-05-01T00:00:00Z") },
    }
    assert.same({ "b" }, ids(filter.apply(runs, { since = "2024-05-01T00:00:00Z" })))
  end)

  it("drops runs without a parseable created_at when since or until is set", function()
    local runs = {
      { id = "none" }, { id = "bad", created_at = "yesterday" },
      { id = "type", created_at = true }, { id = "ok", created_at = "2024-05-01T00:00:00Z" },
    }
    assert.same({ "ok" }, ids(filter.apply(runs, { since = 0 })))
    assert.same({ "ok" }, ids(filter.apply(runs, { ["until"] = 2e9 })))
    assert.same({ "none", "bad", "type", "ok" }, ids(filter.apply(runs, { status = nil })))
  end)

  it("notices a run whose created_at changed since it was last seen", function()
    local r = { id = "r", created_at = "2024-05-01T00:00:00Z" }
    assert.same({ "r" }, ids(filter.apply({ r }, { since = "2024-05-01T00:00:00Z" })))
    r.created_at = "2024-04-01T00:00:00Z"
    assert.same({}, ids(filter.apply({ r }, { since = "2024-05-01T00:00:00Z" })))
  end)

  it("calls fn and keeps runs for which it returns a truthy value", function()
    assert.same({ "sbr2", "sbr4" }, select{ fn = function(r) return r.id == "sbr2" or r.id == "sbr4" end })
    assert.same({ "sbr1", "sbr2", "sbr3", "sbr4", "sbr5" }, select{ fn = function() return 0 end })
    assert.same({}, select{ fn = function() return nil end })
  end)

  it("accepts a callable table as fn", function()
    local f = setmetatable({}, { __call = function(_, r) return r.id == "sbr3" end })
    assert.same({ "sbr3" }, select{ fn = f })
  end)

  it("ANDs all conditions and calls fn only for runs that pass the rest", function()
    local seen = {}
    local out = select{
      status = { "error", "cancelled", "queued" },
      run_type = "provision",
      job_status = { "failed", "timed-out" },
      since = "2024-04-30T00:00:00Z",
      ["until"] = time.parse("2024-05-03T12:00:00Z"),
      fn = function(r) seen[#seen + 1] = r.id return true end,
    }
    assert.same({ "sbr4" }, out)
    assert.same({ "sbr4" }, seen)
  end)

  it("skips elements that are not tables once a condition is set", function()
    assert.same({ "sbr1" }, ids(filter.apply({ RUNS[1], false, "x" }, { status = "error" })))
  end)

  it("raises for an unknown key", function()
    assert.has_error(function() filter.apply(RUNS, { stauts = "error" }) end,
      "nuon.filter: unknown key 'stauts'")
    assert.has_error(function() filter.apply(RUNS, { "error" }) end,
      "nuon.filter: unknown key '1'")
  end)

  it("raises for a where that is not a table", function()
    assert.has_error(function() filter.apply(RUNS, "error") end,
      "nuon.filter: where must be a table (got string)")
  end)

  it("raises for runs that are not a table", function()
    assert.has_error(function() filter.apply(nil, {}) end,
      "nuon.filter: runs must be a table (got nil)")
  end)

  it("raises when a string condition is not a string or a sequence of strings", function()
    for _, key in ipairs{ "status", "run_type", "job_status" } do
      local msg = "nuon.filter: '" .. key .. "' must be a string or a sequence of strings"
      for _, bad in ipairs{ 1, true, { 1 }, { "a", 2 }, { "a", x = "b" }, { [1] = "a", [3] = "c" } } do
        assert.has_error(function() filter.apply(RUNS, { [key] = bad }) end, msg)
      end
    end
  end)

  it("raises naming since or until for a value that is not a number or a string", function()
    assert.has_error(function() filter.apply(RUNS, { since = true }) end,
      "nuon.filter: 'since' must be an epoch number or a timestamp string (got boolean)")
    assert.has_error(function() filter.apply(RUNS, { ["until"] = {} }) end,
      "nuon.filter: 'until' must be an epoch number or a timestamp string (got table)")
    assert.has_error(function() filter.apply(RUNS, { since = 0 / 0 }) end,
      "nuon.filter: 'since' must be an epoch number or a timestamp string (got nan)")
  end)

  it("raises naming since or until for a string that does not parse", function()
    assert.has_error(function() filter.apply(RUNS, { since = "yesterday" }) end,
      "nuon.filter: 'since': invalid timestamp 'yesterday': "
        .. "expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)")
    assert.has_error(function() filter.apply(RUNS, { ["until"] = "2024-02-30T00:00:00Z" }) end,
      "nuon.filter: 'until': invalid timestamp '2024-02-30T00:00:00Z': "
        .. "day 30 out of range for 2024-02 (1-29)")
  end)

  it("raises when fn is not callable", function()
    assert.has_error(function() filter.apply(RUNS, { fn = "x" }) end,
      "nuon.filter: 'fn' must be a function (got string)")
  end)

  it("blames the line that called it", function()
    local ok, err = pcall(function() filter.apply(RUNS, { stauts = 1 }) end)
    assert.is_false(ok)
    assert.matches("^[^:]*filter_spec.lua:%d+: nuon.filter: unknown key 'stauts'$", err)
  end)
end)

describe("nuon.filter.compile", function()
  it("returns a predicate and the since and until bounds as epochs", function()
    local match, info = filter.compile{ since = "1970-01-02T00:00:00Z", ["until"] = 172800 }
    assert.is_function(match)
    assert.same({ since = 86400, ["until"] = 172800 }, info)
    assert.is_true(match{ created_at = "1970-01-02T00:00:00Z" })
    assert.is_false(match{ created_at = "1970-01-03T00:00:00Z" })
  end)

  it("returns empty bounds without since or until, and for a nil where", function()
    local match, info = filter.compile{ status = "error" }
    assert.same({}, info)
    assert.is_true(match{ status = "error" })
    assert.is_false(match{ status = "active" })
    match, info = filter.compile(nil)
    assert.same({}, info)
    assert.is_true(match{})
  end)

  it("raises naming itself, blaming the line that called it", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() filter.compile{ bad = 1 } end)
    assert.is_false(ok)
    assert.matches("filter_spec.lua:" .. line .. ": nuon%.filter%.compile: unknown key 'bad'$", err)
  end)

  it("parses each run's created_at once", function()
    -- a fresh copy of the module that counts the parses it asks nuon.time for
    local real, parses = time.parse_uncached, 0
    time.parse_uncached = function(s) parses = parses + 1 return real(s) end
    package.loaded["nuon.filter"] = nil
    local ok, counted = pcall(require, "nuon.filter")
    time.parse_uncached = real
    package.loaded["nuon.filter"] = filter
    assert.is_true(ok)

    local runs = {}
    for i = 1, 3 do runs[i] = { created_at = "2024-05-0" .. i .. "T00:00:00Z" } end
    local match = counted.compile{ since = 0, ["until"] = 2e9 }
    for _ = 1, 3 do
      for i = 1, 3 do assert.is_true(match(runs[i])) end
    end
    assert.equal(3, parses)
  end)
end)

describe("nuon.filter.created_epoch", function()
  it("returns nil for a missing or unparseable created_at", function()
    assert.is_nil(filter.created_epoch{})
    assert.is_nil(filter.created_epoch{ created_at = "x" })
    assert.equal(0, filter.created_epoch{ created_at = "1970-01-01T00:00:00Z" })
  end)
end)
