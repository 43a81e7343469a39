-- client:latest_sandbox_run and client:wait_sandbox_run (lua/nuon/wait.lua)
-- against the test API server.  Waiting uses an injected clock and sleep: the
-- sleep advances the clock and rewrites what the server serves, so a run can
-- go queued -> provisioning -> active between two polls.
local nuon = require "nuon"
local cjson = require "cjson"
local ts = require "helpers.testserver"

local INSTALL = "inlwaitspec000000000000001"
local RUN_ID = "sbrwaitspec000000000000001"
local OTHER_ID = "sbrwaitspec000000000000002"

local client = ts.client

local function new_run(id, status, extra)
  local r = {
    id = id, install_id = INSTALL, run_type = "provision", status = status,
    status_description = status, created_at = "2025-07-01T10:00:00Z", updated_at = "2025-07-01T10:05:00Z",
  }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

-- Serves these runs (newest first) for INSTALL; a string is a status of RUN_ID.
local function serve(...)
  local list = {}
  for i, r in ipairs{ ... } do
    list[i] = type(r) == "string" and new_run(RUN_ID, r) or r
  end
  ts.set_body(INSTALL, #list == 0 and "[]" or cjson.encode(list))
end

-- A fake clock and a sleep that advances it; after the n-th sleep it calls
-- script[n + 1] (or serves it, when it is a status string).
local function fake_time(script)
  local t = { now = 1000, sleeps = {} }
  t.clock = function() return t.now end
  t.sleep = function(s)
    local n = #t.sleeps + 1
    t.sleeps[n] = s
    t.now = t.now + s
    local step = script and script[n + 1]
    if type(step) == "function" then step() elseif step ~= nil then serve(step) end
  end
  if script and script[1] then
    if type(script[1]) == "function" then script[1]() else serve(script[1]) end
  end
  return t
end

local function recorder()
  local calls = {}
  return calls, function(run, previous, elapsed)
    calls[#calls + 1] = { status = run.status, previous = previous, elapsed = elapsed, id = run.id }
  end
end

local function requests_for(id, route)
  local out = {}
  for _, r in ipairs(ts.requests()) do
    if r.install_id == id and (route == nil or r.route == route) then out[#out + 1] = r end
  end
  return out
end

describe("client:wait_sandbox_run", function()
  local c
  before_each(function()
    ts.reset()
    c = client()
  end)
  after_each(function() c:close() end)

  it("polls until the run is final, calling on_change on each status change", function()
    local t = fake_time{ "queued", "queued", "provisioning", "provisioning", "active" }
    local calls, on_change = recorder()
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, {
      interval = 1, clock = t.clock, sleep = t.sleep, on_change = on_change,
    })
    assert.is_nil(err)
    assert.equal(RUN_ID, run.id)
    assert.equal("active", run.status)
    assert.same({
      { status = "queued", previous = nil, elapsed = 0, id = RUN_ID },
      { status = "provisioning", previous = "queued", elapsed = 2.5, id = RUN_ID },
      { status = "active", previous = "provisioning", elapsed = 8.125, id = RUN_ID },
    }, calls)
    assert.same({ 1, 1.5, 2.25, 3.375 }, t.sleeps)
    -- one small request per poll, to the run's own path
    local reqs = requests_for(INSTALL)
    assert.equal(5, #reqs)
    for _, r in ipairs(reqs) do
      assert.equal("run", r.route)
      assert.equal("/v1/installs/" .. INSTALL .. "/sandbox-runs/" .. RUN_ID, r.uri)
    end
  end)

  it("returns a run that is already final after one poll, on_change called once", function()
    serve(new_run(OTHER_ID, "queued"), "deprovisioned")
    local calls, on_change = recorder()
    local slept = false
    local run = assert(c:wait_sandbox_run(INSTALL, RUN_ID, {
      on_change = on_change, sleep = function() slept = true end,
    }))
    assert.equal("deprovisioned", run.status)
    assert.is_false(slept)
    assert.equal(1, #calls)
    assert.is_nil(calls[1].previous)
    assert.equal(1, #requests_for(INSTALL))
  end)

  it("returns failed runs too: the caller reads the outcome", function()
    local t = fake_time{ "queued", "provisioning", "error" }
    local calls, on_change = recorder()
    local run = assert(c:wait_sandbox_run(INSTALL, RUN_ID, {
      interval = 2, clock = t.clock, sleep = t.sleep, on_change = on_change,
    }))
    assert.equal("error", run.status)
    assert.equal("failure", require("nuon.summary").outcome(run))
    assert.equal(3, #calls)
  end)

  for _, status in ipairs{ "active", "access_error", "cancelled", "approval-denied", "auto-skipped" } do
    it("stops at the final status " .. status, function()
      local t = fake_time{ "planning", status }
      local run = assert(c:wait_sandbox_run(INSTALL, RUN_ID, { clock = t.clock, sleep = t.sleep }))
      assert.equal(status, run.status)
      assert.equal(1, #t.sleeps)
    end)
  end

  it("backs off by 1.5 up to 10 times the interval, never past the deadline", function()
    local t = fake_time{ "provisioning" }
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, {
      interval = 1, timeout = 30, clock = t.clock, sleep = t.sleep,
    })
    assert.is_nil(run)
    assert.same({ 1, 1.5, 2.25, 3.375, 5.0625, 7.59375, 9.21875 }, t.sleeps)
    assert.equal(8, #requests_for(INSTALL)) -- the last poll at the deadline
    assert.equal("timeout", err.kind)
    assert.equal("run " .. RUN_ID .. " is still 'provisioning' after 30.0s (timeout 30s)",
      err.message)
    assert.equal("nuon timeout error: " .. err.message, tostring(err))
    assert.equal(RUN_ID, err.run_id)
    assert.equal(INSTALL, err.install_id)
    assert.equal("provisioning", err.run_status)
    assert.equal("provisioning", err.run.status)
    assert.equal(30, err.elapsed)
    assert.is_true(err.retryable)
    assert.is_nil(err.status) -- the HTTP status field stays free
    assert.is_true(nuon.is_error(err))
  end)

  it("honours max_interval", function()
    local t = fake_time{ "queued" }
    c:wait_sandbox_run(INSTALL, RUN_ID, {
      interval = 2, max_interval = 3, timeout = 12, clock = t.clock, sleep = t.sleep,
    })
    assert.same({ 2, 3, 3, 3, 1 }, t.sleeps)
  end)

  it("gives up after a real timeout with the default sleep and clock", function()
    serve("applying")
    local socket = require "socket"
    local t0 = socket.gettime()
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, { timeout = 0.4, interval = 0.05 })
    local took = socket.gettime() - t0
    assert.is_nil(run)
    assert.equal("timeout", err.kind)
    assert.matches("^run " .. RUN_ID
      .. " is still 'applying' after 0%.[4-9]s %(timeout 0%.4s%)$", err.message)
    assert.is_true(took >= 0.4 and took < 3, "took " .. took)
    assert.is_true(#requests_for(INSTALL) >= 4)
  end)

  it("sleeps and reads the clock with the C core by default, without LuaSocket", function()
    serve("applying")
    local core = require "nuon.core"
    local loaded, preload = package.loaded.socket, package.preload.socket
    package.loaded.socket = nil
    package.preload.socket = function() error("LuaSocket is not installed") end
    -- a fresh copy of nuon.wait, which has chosen no default yet
    local wait = package.loaded["nuon.wait"]
    package.loaded["nuon.wait"] = nil
    local fresh = require "nuon.wait"
    finally(function()
      package.loaded.socket, package.preload.socket = loaded, preload
      package.loaded["nuon.wait"] = wait
    end)
    local t0 = core.now()
    local run, err = fresh.wait_sandbox_run(c, INSTALL, RUN_ID, { timeout = 0.3, interval = 0.1 })
    local took = core.now() - t0
    assert.is_nil(run)
    -- fractions of a second, both ways: not os.time's whole seconds
    assert.matches(" after 0%.[3-9]s %(timeout 0%.3s%)$", err.message)
    assert.is_true(took >= 0.3 and took < 0.9, "took " .. took)
  end)

  it("treats an unknown status as not final, and names it on timeout", function()
    local t = fake_time{ "queued", "brand-new-status" }
    local calls, on_change = recorder()
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, {
      timeout = 10, clock = t.clock, sleep = t.sleep, on_change = on_change,
    })
    assert.is_nil(run)
    assert.equal("run " .. RUN_ID
      .. " is still 'brand-new-status' after 10.0s (timeout 10s)", err.message)
    assert.same({ nil, "queued" }, { calls[1].previous, calls[2].previous })
    assert.equal(2, #calls)
  end)

  it("accepts final as a sequence of statuses, replacing the default set", function()
    local t = fake_time{ "queued", "active", "brand-new-status" }
    local run = assert(c:wait_sandbox_run(INSTALL, RUN_ID, {
      final = { "brand-new-status" }, clock = t.clock, sleep = t.sleep,
    }))
    assert.equal("brand-new-status", run.status)
    assert.equal(2, #t.sleeps)
  end)

  it("accepts final as a function of the run", function()
    local t = fake_time{ "queued", "planning", "applying" }
    local seen = {}
    local run = assert(c:wait_sandbox_run(INSTALL, RUN_ID, {
      final = function(r) seen[#seen + 1] = r.status; return r.status == "applying" end,
      clock = t.clock, sleep = t.sleep,
    }))
    assert.equal("applying", run.status)
    assert.same({ "queued", "planning", "applying" }, seen)
  end)

  it("keeps polling while the run is not listed yet", function()
    local t = fake_time{ function() serve(new_run(OTHER_ID, "active")) end, function() end, "queued", "active" }
    local calls, on_change = recorder()
    local run = assert(c:wait_sandbox_run(INSTALL, RUN_ID, {
      clock = t.clock, sleep = t.sleep, on_change = on_change,
    }))
    assert.equal("active", run.status)
    assert.equal(2, #calls)
    assert.equal(4, #requests_for(INSTALL))
  end)

  it("times out on a run that never shows up (404), one request per poll", function()
    ts.install{ id = INSTALL, count = 150, seed = 4 }
    local t = fake_time()
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, { timeout = 5, clock = t.clock, sleep = t.sleep })
    assert.is_nil(run)
    assert.equal("run " .. RUN_ID .. " of install " .. INSTALL .. " not found (HTTP 404) after 5.0s"
      .. " (timeout 5s)", err.message)
    assert.is_nil(err.run_status)
    local reqs = requests_for(INSTALL)
    assert.equal(2, #reqs) -- a poll at 0 and one at the deadline
    for _, r in ipairs(reqs) do assert.equal("run", r.route) end
  end)

  it("falls back to scanning the newest 100 on a server without the single-run route", function()
    ts.install{ id = INSTALL, count = 150, seed = 4 }
    ts.without_run_route(INSTALL)
    local t = fake_time()
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, { timeout = 5, clock = t.clock, sleep = t.sleep })
    assert.is_nil(run)
    assert.equal("run " .. RUN_ID .. " not found among the 100 newest runs of install "
      .. INSTALL .. " after 5.0s (timeout 5s)", err.message)
    assert.is_nil(err.run_status)
    assert.is_nil(err.run)
    -- the route asked once (gin's plain 404); then a poll at 0 and one at
    -- the deadline (not past it), each a page of 10 and one of 90
    assert.equal(1, #requests_for(INSTALL, "run"))
    local reqs = requests_for(INSTALL, "runs")
    assert.equal(4, #reqs)
    for i = 1, 3, 2 do
      assert.same({ limit = "10", offset = "0" }, reqs[i].args)
      assert.same({ limit = "90", offset = "10" }, reqs[i + 1].args)
    end
    assert.same({ 5 }, t.sleeps)
  end)

  it("finds a run beyond the first page, within search, when it scans", function()
    ts.install{ id = INSTALL, count = 150, seed = 4 }
    ts.without_run_route(INSTALL)
    local runs = assert(c:sandbox_runs(INSTALL, { limit = 50, offset = 20 }))
    local target = runs[31] -- the 51st newest run
    local calls, on_change = recorder()
    local run, err = c:wait_sandbox_run(INSTALL, target.id, {
      final = function() return true end, on_change = on_change,
    })
    assert.is_nil(err)
    assert.equal(target.id, run.id)
    assert.equal(1, #calls)
    local t = fake_time()
    local run2, err2 = c:wait_sandbox_run(INSTALL, target.id, {
      search = 50, timeout = 1, clock = t.clock, sleep = t.sleep,
    })
    assert.is_nil(run2)
    assert.matches("not found among the 50 newest runs", err2.message)
  end)

  it("finds any run in one request when the route is there", function()
    ts.install{ id = INSTALL, count = 150, seed = 4 }
    local runs = assert(c:sandbox_runs(INSTALL, { limit = 10, offset = 140 }))
    ts.clear_requests()
    local run = assert(c:wait_sandbox_run(INSTALL, runs[10].id, { final = function() return true end }))
    assert.equal(runs[10].id, run.id)
    assert.equal(1, #ts.requests())
  end)

  it("says so when a run seen earlier is no longer found", function()
    local t = fake_time{ "applying", function() serve(new_run(OTHER_ID, "queued")) end }
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, { timeout = 20, clock = t.clock, sleep = t.sleep })
    assert.is_nil(run)
    assert.equal("run " .. RUN_ID .. " (last seen 'applying') is no longer found (HTTP 404)"
      .. " after 20.0s (timeout 20s)", err.message)
    assert.equal("applying", err.run_status)
  end)

  it("says so when a run seen earlier is no longer listed, when it scans", function()
    ts.without_run_route(INSTALL)
    local t = fake_time{ "applying", function() serve(new_run(OTHER_ID, "queued")) end }
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, { timeout = 20, clock = t.clock, sleep = t.sleep })
    assert.is_nil(run)
    assert.equal("run " .. RUN_ID .. " (last seen 'applying') is no longer among the"
      .. " 100 newest runs of install " .. INSTALL .. " after 20.0s (timeout 20s)", err.message)
    assert.equal("applying", err.run_status)
  end)

  it("retries retryable errors until the run is final", function()
    local c0 = client{ retries = 0 }
    finally(function() c0:close() end)
    local t = fake_time{ function()
      serve("provisioning")
      ts.fault{ install = INSTALL, status = 503, times = 2 }
    end, function() end, "active" }
    local calls, on_change = recorder()
    local run, err = c0:wait_sandbox_run(INSTALL, RUN_ID, {
      clock = t.clock, sleep = t.sleep, on_change = on_change,
    })
    assert.is_nil(err)
    assert.equal("active", run.status)
    assert.equal(1, #calls)
    assert.equal("active", calls[1].status)
    assert.same({ 5, 7.5 }, t.sleeps)
    assert.equal(3, #requests_for(INSTALL))
  end)

  it("reports the last retryable error when the time runs out", function()
    local c0 = client{ retries = 0 }
    finally(function() c0:close() end)
    local t = fake_time{ "provisioning", function() ts.fault{ install = INSTALL, status = 503, times = 50 } end }
    local run, err = c0:wait_sandbox_run(INSTALL, RUN_ID, { timeout = 10, clock = t.clock, sleep = t.sleep })
    assert.is_nil(run)
    assert.equal("timeout", err.kind)
    assert.equal("http", err.last_error.kind)
    assert.equal(503, err.last_error.status)
    assert.matches("^run " .. RUN_ID .. " is still 'provisioning' after 10%.0s %(timeout"
      .. " 10s%); last error: ", err.message)
    assert.equal("provisioning", err.run_status)
  end)

  it("returns a non-retryable error at once", function()
    serve("queued")
    ts.fault{ install = INSTALL, status = 403, body = '{"error":"forbidden","description":"nope"}' }
    local t = fake_time()
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, { clock = t.clock, sleep = t.sleep })
    assert.is_nil(run)
    assert.equal("http", err.kind)
    assert.equal(403, err.status)
    assert.is_false(err.retryable)
    assert.equal(0, #t.sleeps)
    assert.equal(1, #requests_for(INSTALL))
  end)

  it("returns an error for a closed client", function()
    c:close()
    local run, err = c:wait_sandbox_run(INSTALL, RUN_ID, { timeout = 1 })
    assert.is_nil(run)
    assert.equal("config", err.kind)
  end)

  it("does not modify the options table", function()
    local t = fake_time{ "queued", "active" }
    local opts = { interval = 1, timeout = 10, clock = t.clock, sleep = t.sleep, final = { "active" } }
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    assert(c:wait_sandbox_run(INSTALL, RUN_ID, opts))
    assert.same(copy, opts)
    assert.same({ "active" }, opts.final)
  end)

  it("raises on bad arguments, naming them", function()
    local unpack = table.unpack or unpack
    local function e(...)
      local args, n = { ... }, select("#", ...)
      return function() c:wait_sandbox_run(unpack(args, 1, n)) end
    end
    assert.has_error(e(nil, RUN_ID), "nuon.wait_sandbox_run: install_id must be a non-empty string (got nil)")
    assert.has_error(e("", RUN_ID),
      "nuon.wait_sandbox_run: install_id must be a non-empty string (got an empty string)")
    assert.has_error(e(INSTALL, 5), "nuon.wait_sandbox_run: run_id must be a non-empty string (got number)")
    assert.has_error(e(INSTALL, RUN_ID, "x"), "nuon.wait_sandbox_run: options must be a table (got string)")
    assert.has_error(e(INSTALL, RUN_ID, { timout = 1 }), "nuon.wait_sandbox_run: unknown option 'timout'")
    assert.has_error(e(INSTALL, RUN_ID, { timeout = -1 }),
      "nuon.wait_sandbox_run: option 'timeout' must be a positive number")
    assert.has_error(e(INSTALL, RUN_ID, { interval = 0 / 0 }),
      "nuon.wait_sandbox_run: option 'interval' must be a positive number")
    assert.has_error(e(INSTALL, RUN_ID, { search = 1.5 }),
      "nuon.wait_sandbox_run: option 'search' must be a positive integer")
    assert.has_error(e(INSTALL, RUN_ID, { on_change = "print" }),
      "nuon.wait_sandbox_run: option 'on_change' must be a function")
    assert.has_error(e(INSTALL, RUN_ID, { sleep = {} }), "nuon.wait_sandbox_run: option 'sleep' must be a function")
    assert.has_error(e(INSTALL, RUN_ID, { final = { "a", 1 } }),
      "nuon.wait_sandbox_run: option 'final' must be a function or a sequence of statuses")
    assert.has_error(e(INSTALL, RUN_ID, { interval = 5, max_interval = 2 }),
      "nuon.wait_sandbox_run: option 'max_interval' must not be less than 'interval'")
    assert.has_error(function() c.wait_sandbox_run(nil, INSTALL, RUN_ID) end,
      "nuon.wait_sandbox_run: client must be a nuon client (got nil)")
    assert.equal(0, #ts.requests())
  end)

  it("blames the caller's line for a bad argument", function()
    local ok, msg = pcall(c.wait_sandbox_run, c, INSTALL, RUN_ID, { bogus = 1 })
    assert.is_false(ok)
    assert.equal("nuon.wait_sandbox_run: unknown option 'bogus'", msg) -- pcall is the caller: no position
    local ok2, msg2 = pcall(function() local r = c:wait_sandbox_run(INSTALL, nil); return r end)
    assert.is_false(ok2)
    assert.matches("wait_spec%.lua:%d+: nuon%.wait_sandbox_run: run_id must be", msg2)
  end)
end)

describe("client:latest_sandbox_run", function()
  local c
  before_each(function()
    ts.reset()
    c = client()
  end)
  after_each(function() c:close() end)

  it("returns the newest run with a single request of one run", function()
    local demo = ts.demo[2]
    local first = assert(c:sandbox_runs(demo.id, { limit = 3 }))
    ts.clear_requests()
    local run, err = c:latest_sandbox_run(demo.id)
    assert.is_nil(err)
    assert.equal(first[1].id, run.id)
    local reqs = ts.requests()
    assert.equal(1, #reqs)
    assert.equal("1", reqs[1].args.limit)
  end)

  it("returns the newest run matching where", function()
    local demo = ts.demo[3]
    local all = assert(c:all_sandbox_runs(demo.id))
    local want
    for _, r in ipairs(all) do
      if r.status == "error" and r.run_type == "reprovision" then want = r break end
    end
    assert.truthy(want)
    local run, err = c:latest_sandbox_run(demo.id, { status = "error", run_type = "reprovision" })
    assert.is_nil(err)
    assert.equal(want.id, run.id)
    local fn_run = assert(c:latest_sandbox_run(demo.id, { fn = function(r) return r.id == all[77].id end }))
    assert.equal(all[77].id, fn_run.id)
  end)

  it("returns nil without an error when no run matches", function()
    local run, err = c:latest_sandbox_run(ts.demo[1].id, { status = "no-such-status" })
    assert.is_nil(run)
    assert.is_nil(err)
    local run2, err2 = c:latest_sandbox_run("inl00000000000000000000000")
    assert.is_nil(run2)
    assert.is_nil(err2)
  end)

  it("stops paging at since", function()
    local demo = ts.demo[3]
    local all = assert(c:all_sandbox_runs(demo.id))
    ts.clear_requests()
    local run, err = c:latest_sandbox_run(demo.id, { since = all[1].created_at, status = "no-such-status" })
    assert.is_nil(run)
    assert.is_nil(err)
    assert.equal(1, #ts.requests())
  end)

  it("returns nil, err when a request fails", function()
    local c0 = client{ retries = 0 }
    finally(function() c0:close() end)
    ts.fault{ install = ts.demo[1].id, status = 500, body = '{"error":"boom","description":"later"}' }
    local run, err = c0:latest_sandbox_run(ts.demo[1].id)
    assert.is_nil(run)
    assert.equal("http", err.kind)
    assert.equal(500, err.status)
    c0:close()
    local run2, err2 = c0:latest_sandbox_run(ts.demo[1].id)
    assert.is_nil(run2)
    assert.equal("config", err2.kind)
  end)

  it("raises on bad arguments, blaming the caller", function()
    local ok, msg = pcall(function() local r = c:latest_sandbox_run(ts.demo[1].id, { bogus = true }); return r end)
    assert.is_false(ok)
    assert.matches("wait_spec%.lua:%d+: nuon%.latest_sandbox_run: unknown key 'bogus'$", msg)
    assert.has_error(function() c:latest_sandbox_run(nil) end,
      "nuon.latest_sandbox_run: install_id must be a non-empty string (got nil)")
    assert.has_error(function() c:latest_sandbox_run("x", "status") end,
      "nuon.latest_sandbox_run: where must be a table (got string)")
    assert.equal(0, #ts.requests())
  end)
end)
