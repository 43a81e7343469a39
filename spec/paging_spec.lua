-- Paging against any server (API.md "Paging against any server", issue 11):
-- the blocking client pages test-server installs whose page headers do not
-- move forward, repeat a page, ignore paging or lie, and every method ends
-- with a clean result or a clean error after a known number of requests.
local Pager = require "nuon.pager"
local ts = require "helpers.testserver"

local ID = "inlpagingspec0000000000001"
local RUNS = 25 -- runs of the install; pages of 10: 10, 10, 5

-- The sandbox-runs requests the server saw for ID, oldest first.
local function requests()
  local out = {}
  for _, r in ipairs(ts.requests()) do
    if r.install_id == ID then out[#out + 1] = r end
  end
  return out
end

local function install(paging, extra)
  local spec = { id = ID, count = RUNS, flavor = "current", seed = 7, paging = paging }
  for k, v in pairs(extra or {}) do spec[k] = v end
  ts.install(spec)
  ts.clear_requests()
end

local function ids(runs)
  local out, seen = {}, {}
  for i, r in ipairs(runs) do
    assert.is_nil(seen[r.id], "run " .. r.id .. " twice")
    seen[r.id] = true
    out[i] = r.id
  end
  return out
end

describe("paging against any server", function()
  local c, all -- every run of the install, from a well-behaved server
  setup(function()
    ts.reset()
    c = ts.client()
    install(nil)
    all = assert(c:all_sandbox_runs(ID, { page_size = 10 }))
    assert.equal(RUNS, #all)
  end)
  teardown(function() c:close() end)

  -- mode -> requests all_sandbox_runs sends with page_size 10, runs it returns
  local cases = {
    { nil, 3, RUNS, "a well-behaved server: 10, 10, 5 with Next false" },
    { "ignore", 1, RUNS, "a server that ignores paging: the whole list at once, no headers" },
    { "repeat", 3, 10, "a server that repeats its first page: ends after two pages with no new id" },
    { "zero_limit", 4, RUNS, "X-Nuon-Page-Limit: 0 with Next: true: steps by its own limit, ends at []" },
    { "stuck_offset", 4, RUNS, "the same X-Nuon-Page-Offset every time" },
    { "negative", 4, RUNS, "negative page headers" },
    { "overflow", 4, RUNS, "an offset near 2^63 and a limit past the one asked" },
    { "empty_next", 1, 0, "[] with Next: true" },
  }
  for _, case in ipairs(cases) do
    local mode, nreq, nruns, what = case[1], case[2], case[3], case[4]
    describe(what, function()
      before_each(function() install(mode) end)

      it(("all_sandbox_runs returns %d runs after %d requests"):format(nruns, nreq), function()
        local runs, err = c:all_sandbox_runs(ID, { page_size = 10 })
        assert.is_nil(err)
        assert.equal(nruns, #runs)
        local want = {}
        for i = 1, nruns do want[i] = all[i].id end
        assert.same(want, ids(runs))
        local reqs = requests()
        assert.equal(nreq, #reqs)
        -- the offsets sent only move forward, from 0, never negative
        local last = -1
        for _, r in ipairs(reqs) do
          local off = tonumber(r.args.offset or "0")
          assert.is_true(off > last and off >= 0, "offset " .. off .. " after " .. last)
          last = off
          assert.equal("10", r.args.limit)
        end
      end)

      it("each_sandbox_run yields the same runs", function()
        local got = {}
        for run in c:each_sandbox_run(ID, { page_size = 10 }) do got[#got + 1] = run.id end
        assert.equal(nruns, #got)
        assert.equal(nreq, #requests())
      end)

      it("latest_sandbox_run with a where nothing matches ends with nil and no error", function()
        local run, err = c:latest_sandbox_run(ID, { fn = function() return false end })
        assert.is_nil(run)
        assert.is_nil(err)
        assert.is_true(#requests() <= nreq + 1)
      end)
    end)
  end

  it("the default page size against a server that repeats pages: 2 requests of 100", function()
    install("repeat")
    local runs = assert(c:all_sandbox_runs(ID))
    -- the first page (limit 100) holds all 25 and says Next: true; the second
    -- and third bring no new id: two such pages in a row end paging
    assert.equal(RUNS, #runs)
    assert.equal(3, #requests())
  end)

  it("wait_sandbox_run honours its timeout against a server whose pages never end", function()
    install("zero_limit")
    local t = 0
    local run, err = c:wait_sandbox_run(ID, "sbrnotthere00000000000000x", {
      timeout = 10, interval = 1,
      clock = function() t = t + 0.5; return t end, sleep = function() end,
    })
    assert.is_nil(run)
    assert.equal("timeout", err.kind)
    -- every loop that can request checks the deadline: a bounded number of requests
    local n = #requests()
    assert.is_true(n > 0 and n <= 30, n .. " requests")
  end)

  it("a page header offset of -5 or past 2^63 never raises out of the paging methods", function()
    for _, mode in ipairs({ "negative", "overflow" }) do
      install(mode)
      local ok, runs = pcall(c.all_sandbox_runs, c, ID, { page_size = 10 })
      assert.is_true(ok, tostring(runs))
      assert.equal(RUNS, #runs)
      local ok2, latest = pcall(c.latest_sandbox_run, c, ID)
      assert.is_true(ok2, tostring(latest))
      assert.equal(all[1].id, latest.id)
    end
  end)

  it("one page of today's server with limit=0 is [] with Next: true, returned as it is", function()
    install(nil)
    local runs = assert(c:sandbox_runs(ID, { limit = 0 }))
    assert.equal(0, #runs)
    assert.is_true(runs.page.next)
    assert.equal(0, runs.page.limit)
  end)
end)

describe("max_runs", function()
  local c
  before_each(function()
    ts.reset()
    ts.install{ id = ID, count = 0, paging = "objects", objects = 1000000 }
    ts.clear_requests()
  end)
  after_each(function() if c then c:close() end end)

  it("a body of a million {} fails as a decode error naming max_runs, in one request", function()
    c = ts.client()
    local runs, err = c:all_sandbox_runs(ID)
    assert.is_nil(runs)
    assert.equal("decode", err.kind)
    assert.equal("response holds more than max_runs (10000) runs", err.message)
    assert.is_false(err.retryable)
    assert.equal(1, #requests())
  end)

  it("is an option of nuon.new", function()
    c = ts.client{ max_runs = 5 }
    ts.install{ id = ID, count = 6, flavor = "current", seed = 1 }
    local runs, err = c:sandbox_runs(ID, { limit = 6 })
    assert.is_nil(runs)
    assert.equal("response holds more than max_runs (5) runs", err.message)
    assert.truthy(c:sandbox_runs(ID, { limit = 5 }))
  end)

  it("counts runs only, not the items of nested arrays", function()
    c = ts.client{ max_runs = 1 }
    ts.set_body(ID, '[{"id":"sbr1","runner_jobs":[{"id":"a"},{"id":"b"},{"id":"c"}]}]')
    local runs = assert(c:sandbox_runs(ID))
    assert.equal(1, #runs)
    assert.equal(3, #runs[1].runner_jobs)
  end)
end)

-- The paging state machine alone, against a fake fetch (see also the
-- randomized run in spec/pager_fuzz_spec.lua).
describe("Pager.advance", function()
  it("steps by the applied limit when it is 1..asked, else by the limit asked", function()
    assert.same({ 10, false }, { Pager.advance(0, 10, 10, { next = true, limit = 10 }) })
    assert.same({ 15, false }, { Pager.advance(10, 10, 5, { next = true, limit = 5 }) })
    for _, bad in ipairs({ 0, -5, 11, 2^63, 0.5, "10" }) do
      assert.same({ 10, false }, { Pager.advance(0, 10, 10, { next = true, limit = bad }) })
    end
  end)

  it("never steps by less than the runs received", function()
    assert.same({ 8, false }, { Pager.advance(0, 10, 8, { next = true, limit = 3 }) })
  end)

  it("ends at an empty page, a page longer than asked, Next false, or a short page without Next", function()
    assert.is_true(select(2, Pager.advance(0, 10, 0, { next = true })))
    assert.is_true(select(2, Pager.advance(0, 10, 11, { next = true })))
    assert.is_true(select(2, Pager.advance(0, 10, 10, { next = false })))
    assert.is_true(select(2, Pager.advance(0, 10, 9, {})))
    assert.is_false(select(2, Pager.advance(0, 10, 10, {})))
    assert.is_false(select(2, Pager.advance(0, 10, 9, { next = true })))
  end)

  it("ends where the next offset would pass 2^53", function()
    assert.is_true(select(2, Pager.advance(2^53 - 5, 10, 10, { next = true })))
  end)
end)
