-- client:all_sandbox_runs_many (issue 14): every page of many installs, the
-- pages of different installs in flight together, against the test server.
local ts = require "helpers.testserver"

local function ids_of(runs)
  local out = {}
  for i, r in ipairs(runs) do out[i] = r.id end
  return out
end

-- n installs "inlfleet<k>..." of `count` runs each (26-character ids).
local function fleet(n, count, extra)
  local ids = {}
  for k = 1, n do
    local id = ("inlfleet%03d"):format(k) .. ("0"):rep(15)
    ids[k] = id
    local spec = { id = id, count = count, flavor = "current", seed = k }
    for key, v in pairs(extra or {}) do spec[key] = v end
    ts.install(spec)
  end
  ts.clear_requests()
  return ids
end

local function requests_by_install()
  local out = {}
  for _, r in ipairs(ts.requests()) do
    if r.install_id then out[r.install_id] = (out[r.install_id] or 0) + 1 end
  end
  return out
end

describe("client:all_sandbox_runs_many", function()
  local c
  before_each(function()
    ts.settle() -- in-flight maxima count from here
    ts.reset()
    c = ts.client()
  end)
  after_each(function() c:close() end)

  it("returns every run of every install, as all_sandbox_runs does, in order, no id twice", function()
    local ids = fleet(6, 35)
    ids[#ids + 1] = ts.demo[2].id -- 120 runs
    local results = c:all_sandbox_runs_many(ids, { page_size = 10, concurrency = 4 })
    for _, id in ipairs(ids) do
      local r = results[id]
      assert.is_nil(r.err)
      local want = assert(c:all_sandbox_runs(id, { page_size = 10 }))
      assert.same(ids_of(want), ids_of(r.runs))
      assert.is_table(r.runs.warnings)
      local seen = {}
      for _, run in ipairs(r.runs) do
        assert.is_nil(seen[run.id])
        seen[run.id] = true
        assert.equal(id, run.install_id)
      end
    end
  end)

  it("never has more requests in flight than concurrency, and fills every slot", function()
    local ids = fleet(12, 30, { latency_ms = 60 })
    local results = c:all_sandbox_runs_many(ids, { page_size = 10, concurrency = 4 })
    for _, id in ipairs(ids) do assert.equal(30, #results[id].runs) end
    assert.equal(4, ts.max_in_flight(ts.requests()))
    -- 3 pages each (10, 10, 10 with Next false)
    local per = requests_by_install()
    for _, id in ipairs(ids) do assert.equal(3, per[id]) end
  end)

  it("hands a freed slot to the next page at once: 24 pages of 60 ms at concurrency 8 in ~3 waves #timing", function()
    local ids = fleet(8, 30, { latency_ms = 60 })
    local t0 = require("nuon.core").now()
    c:all_sandbox_runs_many(ids, { page_size = 10, concurrency = 8 })
    local elapsed = require("nuon.core").now() - t0
    -- 3 waves of 60 ms; the bound is loose (shared CI machines), the point is
    -- that pages of one install follow each other without waiting for others
    assert.is_true(elapsed < 3 * 0.06 * 4, elapsed)
  end)

  it("sends only the requests max and where.since need", function()
    local ids = fleet(3, 50)
    local results = c:all_sandbox_runs_many(ids, { page_size = 10, max = 5 })
    for _, id in ipairs(ids) do assert.equal(5, #results[id].runs) end
    local per = requests_by_install()
    for _, id in ipairs(ids) do assert.equal(1, per[id]) end

    -- since: the 15th newest run's time: the second page crosses it
    ts.clear_requests()
    local cut = {}
    for _, id in ipairs(ids) do
      local all = assert(c:all_sandbox_runs(id, { page_size = 10 }))
      cut[id] = all[15].created_at
    end
    ts.clear_requests()
    for _, id in ipairs(ids) do
      local r = c:all_sandbox_runs_many({ id }, { page_size = 10, where = { since = cut[id] } })
      assert.is_true(#r[id].runs >= 15 and #r[id].runs < 20, #r[id].runs)
    end
    per = requests_by_install()
    for _, id in ipairs(ids) do assert.equal(2, per[id]) end
  end)

  it("isolates failures: a 404, a 500 after its retries and a timeout leave the others whole", function()
    local ids = fleet(5, 25)
    local c2 = ts.client{ retries = 1, timeout = 0.5 }
    ts.fault{ install = ids[1], status = 404, times = 5, body = '{"error":"install not found"}' }
    ts.fault{ install = ids[2], status = 500, times = 5, body = '{"error":"boom"}' }
    ts.fault{ install = ids[3], delay = 2, times = 5 }
    local results = c2:all_sandbox_runs_many(ids, { page_size = 10 })
    assert.equal(404, results[ids[1]].err.status)
    assert.equal(500, results[ids[2]].err.status)
    assert.equal("timeout", results[ids[3]].err.kind)
    assert.equal(25, #results[ids[4]].runs)
    assert.equal(25, #results[ids[5]].runs)
    local per = requests_by_install()
    assert.equal(1, per[ids[1]]) -- 404: not retried
    assert.equal(1, per[ids[2]]) -- 500: not retried (retryable for the caller, not the client)
    assert.equal(2, per[ids[3]]) -- a timeout: retried once
    c2:close()
  end)

  it("reports progress as work completes, with the final counts", function()
    local ids = fleet(4, 25)
    local calls = {}
    local results = c:all_sandbox_runs_many(ids, { page_size = 10, on_progress = function(p)
      calls[#calls + 1] = p
    end })
    assert.equal(12, #calls) -- 3 pages each, a small fleet: after every page
    local last = calls[#calls]
    assert.same({ installs_done = 4, installs_total = 4, pages = 12, runs = 100 }, last)
    for k = 2, #calls do
      assert.is_true(calls[k].pages == calls[k - 1].pages + 1)
      assert.is_true(calls[k].runs >= calls[k - 1].runs)
    end
    for _, id in ipairs(ids) do assert.equal(25, #results[id].runs) end
  end)

  it("throttles progress for a large fleet, and always reports the end", function()
    local ids = fleet(40, 3)
    local calls = {}
    c:all_sandbox_runs_many(ids, { on_progress = function(p) calls[#calls + 1] = p end })
    assert.is_true(#calls >= 1 and #calls < 40, #calls)
    assert.same({ installs_done = 40, installs_total = 40, pages = 40, runs = 120 }, calls[#calls])
  end)

  it("fetches a repeated install once; an empty list gives an empty table", function()
    local ids = fleet(2, 5)
    local results = c:all_sandbox_runs_many({ ids[1], ids[2], ids[1] })
    assert.equal(5, #results[ids[1]].runs)
    assert.equal(1, requests_by_install()[ids[1]])
    assert.same({}, c:all_sandbox_runs_many({}))
  end)

  it("pages every install against misbehaving servers too (the paging rules of all_sandbox_runs)", function()
    local ids = fleet(3, 25, { paging = "repeat" })
    local results = c:all_sandbox_runs_many(ids, { page_size = 10 })
    for _, id in ipairs(ids) do assert.equal(10, #results[id].runs) end
    local per = requests_by_install()
    for _, id in ipairs(ids) do assert.equal(3, per[id]) end
  end)

  it("raises for programmer errors, naming the option, and returns nil, err when closed", function()
    assert.has_error(function() c:all_sandbox_runs_many("x") end,
      "nuon.all_sandbox_runs_many: install_ids must be a sequence (got string)")
    assert.has_error(function() c:all_sandbox_runs_many({ "x" }, { concurrency = 300 }) end,
      "nuon.all_sandbox_runs_many: option 'concurrency' must be at most 256")
    assert.has_error(function() c:all_sandbox_runs_many({ "x" }, { on_progress = 1 }) end,
      "nuon.all_sandbox_runs_many: option 'on_progress' must be a function")
    assert.has_error(function() c:all_sandbox_runs_many({ "x" }, { limit = 1 }) end,
      "nuon.all_sandbox_runs_many: unknown option 'limit'")
    assert.has_error(function() c:all_sandbox_runs_many({ "" }) end,
      "nuon.all_sandbox_runs_many: install_id must be a non-empty string (got an empty string)")
    local c2 = ts.client()
    c2:close()
    local r, err = c2:all_sandbox_runs_many({ "x" })
    assert.is_nil(r)
    assert.equal("the client is closed", err.message)
  end)

  it("an error in where.fn raises out of the call and leaves the client working", function()
    local ids = fleet(3, 10)
    assert.has_error(function()
      c:all_sandbox_runs_many(ids, { where = { fn = function() error("bad fn", 0) end } })
    end, "bad fn")
    local results = c:all_sandbox_runs_many(ids)
    for _, id in ipairs(ids) do assert.equal(10, #results[id].runs) end
  end)
end)

describe("all_sandbox_runs_many over HTTP/2", function()
  it("multiplexes concurrent requests on one connection, where HTTP/1.1 opens one per request", function()
    assert(ts.h2_url, "no HTTP/2 listener (spec/server/start.sh writes h2_url)")
    ts.settle()
    ts.reset()
    local ids = fleet(20, 5, { latency_ms = 100 })
    local h2 = ts.client{ base_url = ts.h2_url, ca_file = ts.ca_file }
    local results = h2:all_sandbox_runs_many(ids, { concurrency = 20 })
    for _, id in ipairs(ids) do assert.equal(5, #results[id].runs) end
    assert.equal(20, ts.max_in_flight(ts.requests()))
    local n2 = ts.connections(ts.h2_url)
    assert.is_true(n2 >= 1 and n2 <= 2, n2 .. " connections")
    h2:close()

    ts.reset()
    ids = fleet(20, 5, { latency_ms = 100 })
    local h1 = ts.client{ base_url = ts.tls_url, ca_file = ts.ca_file }
    results = h1:all_sandbox_runs_many(ids, { concurrency = 20 })
    for _, id in ipairs(ids) do assert.equal(5, #results[id].runs) end
    assert.equal(20, ts.connections(ts.tls_url))
    h1:close()
  end)
end)

describe("examples/fleet_report.lua", function()
  -- runs the example as a user would; returns stdout, stderr, exit status
  local function run(args)
    local err_file = os.tmpname()
    local cmd = ("NUON_API_URL=%s NUON_API_TOKEN=%s NUON_ORG_ID=%s NUON_CONFIG_FILE=/dev/null TERM=dumb"
      .. " LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua5.4/?.so;;'"
      .. " lua5.4 examples/fleet_report.lua %s 2>%s; echo \"exit $?\""):format(ts.url, ts.token,
      ts.org_id, args, err_file)
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    local code
    out = out:gsub("exit (%d+)\n$", function(n) code = tonumber(n) return "" end)
    local f = io.open(err_file)
    local err = f:read("*a")
    f:close()
    os.remove(err_file)
    return out, err, code
  end

  it("lists the failed runs of the window across installs, newest first, with progress on stderr", function()
    ts.reset()
    local now = os.time()
    local ids = {}
    for k = 1, 6 do
      ids[k] = ("inlfleetreport%03d"):format(k) .. ("0"):rep(9)
      ts.install{ id = ids[k], count = 40, flavor = "current", seed = 100 + k, now = now }
    end
    local summary = require "nuon.summary"
    local c = ts.client()
    local want = {}
    for _, id in ipairs(ids) do
      for _, r in ipairs(assert(c:all_sandbox_runs(id))) do
        local t = require("nuon").parse_time(r.created_at)
        if t >= now - 720 * 3600 and summary.outcome(r.status) == "failure" then
          want[#want + 1] = r.id
        end
      end
    end
    c:close()
    assert.is_true(#want > 0, "the generated data has no failed run in the window")
    local out, err, code = run("--hours 720 " .. table.concat(ids, " "))
    assert.equal(0, code, err)
    local got = {}
    for id in out:gmatch("(sbr[0-9a-z]+)") do got[#got + 1] = id end
    table.sort(want)
    local sorted = { (table.unpack or unpack)(got) }
    table.sort(sorted)
    assert.same(want, sorted)
    assert.matches(("%d failed run%%(s%%) in the last 720 hours across 6 installs"):format(#want), out)
    assert.matches("6/6 installs, %d+ pages", err)
  end)

  it("exits 1 naming an install it could not read, 2 on a usage error", function()
    ts.reset()
    ts.fault{ install = "inlbroken", status = 403, times = 5, body = '{"error":"forbidden"}' }
    local out, err, code = run("--hours 1 inlbroken " .. ts.demo[1].id)
    assert.equal(1, code)
    assert.matches("inlbroken: .*HTTP 403", err)
    assert.matches("1 could not be read", out)
    local _, err2, code2 = run("--hours")
    assert.equal(2, code2)
    assert.matches("usage:", err2)
  end)
end)

describe("client:start_all_sandbox_runs_many (event loops)", function()
  local drive = require "helpers.select_loop"
  local c
  before_each(function()
    ts.settle()
    ts.reset()
    c = ts.client()
  end)
  after_each(function() c:close() end)

  it("gives what all_sandbox_runs_many gives when a select loop drives it, concurrency kept", function()
    local ids = fleet(6, 25, { latency_ms = 40 })
    local want = c:all_sandbox_runs_many(ids, { page_size = 10 })
    ts.clear_requests()
    local progress = {}
    local req = assert(c:start_all_sandbox_runs_many(ids, { page_size = 10, concurrency = 3,
      on_progress = function(p) progress[#progress + 1] = p end }))
    local results, turns = drive(req)
    assert.is_true(turns > 1)
    for _, id in ipairs(ids) do assert.same(ids_of(want[id].runs), ids_of(results[id].runs)) end
    assert.equal(3, ts.max_in_flight(ts.requests()))
    assert.same({ installs_done = 6, installs_total = 6, pages = 18, runs = 150 }, progress[#progress])
    assert.is_true(req:done())
    assert.is_nil(req:timeout())
    req:close()
  end)

  it("keeps going when its client is closed first, and isolates a failing install", function()
    local ids = fleet(3, 15)
    ts.fault{ install = ids[2], status = 404, times = 3, body = '{"error":"gone"}' }
    local req = assert(c:start_all_sandbox_runs_many(ids, { page_size = 10 }))
    c:close()
    local results = drive(req)
    assert.equal(15, #results[ids[1]].runs)
    assert.equal(404, results[ids[2]].err.status)
    assert.equal(15, #results[ids[3]].runs)
    req:close()
    req:close() -- safe twice
  end)

  it("multiplexes over HTTP/2 on its own connection", function()
    local ids = fleet(20, 5, { latency_ms = 100 })
    local h2 = ts.client{ base_url = ts.h2_url, ca_file = ts.ca_file }
    local results = assert(h2:start_all_sandbox_runs_many(ids, { concurrency = 20 })):perform()
    for _, id in ipairs(ids) do assert.equal(5, #results[id].runs) end
    assert.equal(20, ts.max_in_flight(ts.requests()))
    local n = ts.connections(ts.h2_url)
    assert.is_true(n >= 1 and n <= 2, n .. " connections")
    h2:close()
  end)
end)
