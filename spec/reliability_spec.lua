-- Reliability under faults, each injected through the test API server
-- (spec/server): retries and backoff, Retry-After, timeouts, max_body while
-- receiving, and Lua errors raised in the middle of a call.
--
-- Timing checks are behaviour checks with generous bounds ("gave up within
-- timeout + 1.5 s"), not benchmarks; they carry the #timing tag so the
-- valgrind run (which slows everything down) can leave them out.
local socket = require "socket"
local ts = require "helpers.testserver"

local gettime = socket.gettime
local SLACK = 1.5 -- seconds of scheduling / server latency allowed on top of any bound

local client = ts.client

-- Calls f and returns the seconds it took, then f's results.
local function timed(f, ...)
  local t0 = gettime()
  local a, b = f(...)
  return gettime() - t0, a, b
end

-- The sandbox-runs requests the server saw for one install, oldest first.
local function requests_for(id)
  local out = {}
  for _, req in ipairs(ts.requests()) do
    if req.install_id == id then out[#out + 1] = req end
  end
  return out
end

-- An HTTP date (RFC 7231 IMF-fixdate) `secs` from now.
local function http_date(secs)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + secs)
end

local ID = ts.demo[1].id

describe("retries", function()
  before_each(function() ts.reset() end)

  for _, status in ipairs{ 429, 502, 503, 504 } do
    it("retries " .. status .. " and succeeds, repeating the same request", function()
      local c = client{ retries = 2 }
      ts.fault{ install = ID, status = status, times = 2, body = '{"error":"try later"}' }
      local runs, err = c:sandbox_runs(ID, { limit = 3 })
      assert.is_nil(err)
      assert.equal(3, #runs)
      local reqs = requests_for(ID)
      assert.equal(3, #reqs)
      assert.same({ status, status, 200 }, { reqs[1].status, reqs[2].status, reqs[3].status })
      assert.equal(reqs[1].uri, reqs[3].uri)
      c:close()
    end)
  end

  it("gives up after `retries` extra attempts and says how many were made", function()
    local c = client{ retries = 3 }
    ts.fault{ install = ID, status = 503, times = 10, body = '{"error":"unavailable"}' }
    local runs, err = c:sandbox_runs(ID)
    assert.is_nil(runs)
    assert.equal("http", err.kind)
    assert.equal(503, err.status)
    assert.equal(4, err.attempts)
    assert.is_true(err.retryable)
    assert.equal("HTTP 503 Service Unavailable: unavailable (after 4 attempts)", err.message)
    assert.equal(4, #requests_for(ID))
    c:close()
  end)

  it("counts the attempts in a decode error that follows retries", function()
    local c = client{ retries = 2 }
    local id = "inlbrokenafterretry0000001"
    ts.set_body(id, '[{"id":')
    ts.fault{ install = id, status = 503, times = 2 }
    local runs, err = c:sandbox_runs(id)
    assert.is_nil(runs)
    assert.equal("decode", err.kind)
    assert.equal(3, err.attempts)
    c:close()
  end)

  it("makes exactly one attempt with retries = 0", function()
    local c = client{ retries = 0 }
    ts.fault{ install = ID, status = 502, times = 5 }
    local _, err = c:sandbox_runs(ID)
    assert.equal(502, err.status)
    assert.equal(1, err.attempts)
    assert.equal("HTTP 502 Bad Gateway", err.message)
    assert.equal(1, #requests_for(ID))
    c:close()
  end)

  for _, status in ipairs{ 400, 401, 403, 404, 405, 408, 409, 410, 422, 500, 501 } do
    it("never retries " .. status, function()
      local c = client{ retries = 3 }
      ts.fault{ install = ID, status = status, times = 5, body = '{"error":"no"}' }
      local _, err = c:sandbox_runs(ID)
      assert.equal("http", err.kind)
      assert.equal(status, err.status)
      assert.equal(1, err.attempts)
      assert.is_nil(err.message:find("attempts", 1, true))
      assert.equal(1, #requests_for(ID))
      c:close()
    end)
  end

  it("retries a connection closed without a response", function()
    local c = client{ retries = 2 }
    ts.fault{ install = ID, close = true, times = 2 }
    local runs, err = c:sandbox_runs(ID, { limit = 2 })
    assert.is_nil(err)
    assert.equal(2, #runs)
    local reqs = requests_for(ID)
    assert.equal(3, #reqs)
    assert.same({ 444, 444, 200 }, { reqs[1].status, reqs[2].status, reqs[3].status })
    c:close()
  end)

  it("retries a refused connection and reports the attempts", function()
    local dead = client{ base_url = "http://127.0.0.1:1", retries = 2 }
    local runs, err = dead:sandbox_runs(ID)
    assert.is_nil(runs)
    assert.equal("network", err.kind)
    assert.is_true(err.retryable)
    assert.equal(3, err.attempts)
    assert.matches("%(after 3 attempts%)$", err.message)
    dead:close()
  end)

  it("retries every page of each_sandbox_run and all_sandbox_runs", function()
    local c = client{ retries = 1 }
    local demo = ts.demo[2] -- 120 runs: pages at offsets 0, 30, 60, 90
    ts.fault{ install = demo.id, status = 503 }
    local seen, n = {}, 0
    for run in c:each_sandbox_run(demo.id, { page_size = 30 }) do
      assert.is_nil(seen[run.id])
      seen[run.id] = true
      n = n + 1
      -- the next page's first attempt fails (none after the last page)
      if n % 30 == 0 and n < demo.count then ts.fault{ install = demo.id, status = 502 } end
    end
    assert.equal(demo.count, n)
    local offsets = {}
    for _, req in ipairs(requests_for(demo.id)) do offsets[#offsets + 1] = req.args.offset end
    assert.same({ "0", "0", "30", "30", "60", "60", "90", "90" }, offsets)

    ts.clear_requests()
    ts.fault{ install = demo.id, status = 429 }
    local all = assert(c:all_sandbox_runs(demo.id, { page_size = 100 }))
    assert.equal(demo.count, #all)
    assert.equal(3, #requests_for(demo.id))
    c:close()
  end)

  it("reports the attempts of the page that failed while paging", function()
    local c = client{ retries = 2 }
    local demo = ts.demo[2]
    local n = 0
    local ok, err = pcall(function()
      for _ in c:each_sandbox_run(demo.id, { page_size = 50 }) do
        n = n + 1
        if n == 50 then ts.fault{ install = demo.id, status = 504, times = 3 } end
      end
    end)
    assert.is_false(ok)
    assert.equal(50, n)
    assert.equal(504, err.status)
    assert.equal(3, err.attempts)
    assert.equal("HTTP 504 Gateway Timeout (after 3 attempts)", err.message)
    c:close()
  end)

  it("retries each request of sandbox_runs_many on its own", function()
    local c = client{ retries = 2 }
    local a, b, d, e = ts.demo[1].id, ts.demo[2].id, ts.demo[3].id, "inlneverretried00000000001"
    ts.fault{ install = a, status = 429, times = 2 }
    ts.fault{ install = b, close = true }
    ts.fault{ install = d, status = 504, times = 10, body = '{"error":"gateway"}' }
    ts.fault{ install = e, status = 400, times = 10, body = '{"error":"bad"}' }
    local results = assert(c:sandbox_runs_many({ a, b, d, e }, { concurrency = 4, limit = 4 }))
    assert.equal(4, #results[a].runs)
    assert.equal(4, #results[b].runs)
    assert.equal(504, results[d].err.status)
    assert.equal(3, results[d].err.attempts)
    assert.equal("HTTP 504 Gateway Timeout: gateway (after 3 attempts)", results[d].err.message)
    assert.equal(400, results[e].err.status)
    assert.equal(1, results[e].err.attempts)
    assert.equal(3, #requests_for(a))
    assert.equal(2, #requests_for(b))
    assert.equal(3, #requests_for(d))
    assert.equal(1, #requests_for(e))
    c:close()
  end)

  it("retries a request driven by an event loop (start_sandbox_runs)", function()
    local c = client{ retries = 2 }
    ts.fault{ install = ID, status = 503, times = 2 }
    local req = assert(c:start_sandbox_runs(ID, { limit = 2 }))
    local runs = assert(req:perform())
    assert.equal(2, #runs)
    assert.equal(3, #requests_for(ID))
    ts.fault{ install = ID, status = 503, times = 5 }
    local _, err = c:start_sandbox_runs(ID):perform()
    assert.equal(3, err.attempts)
    assert.matches("%(after 3 attempts%)$", err.message)
    req:close()
    c:close()
  end)
end)

describe("backoff #timing", function()
  before_each(function() ts.reset() end)

  it("waits an exponential, jittered time: three retries take at most 0.25 + 0.5 + 1 s", function()
    local c = client{ retries = 3, max_backoff = 30 }
    ts.fault{ install = ID, status = 503, times = 3 }
    local dt, runs = timed(c.sandbox_runs, c, ID, { limit = 1 })
    assert.equal(1, #runs)
    assert.is_true(dt < 1.75 + SLACK, dt)
    c:close()
  end)

  it("never waits longer than max_backoff", function()
    local c = client{ retries = 5, max_backoff = 0.1 }
    ts.fault{ install = ID, status = 502, times = 5 }
    local dt, runs = timed(c.sandbox_runs, c, ID, { limit = 1 })
    assert.equal(1, #runs)
    assert.is_true(dt < 5 * 0.1 + SLACK, dt)
    c:close()
  end)

  it("honours Retry-After in seconds", function()
    local c = client{ retries = 1, max_backoff = 10 }
    ts.fault{ install = ID, status = 429, retry_after = 1 }
    local dt, runs = timed(c.sandbox_runs, c, ID, { limit = 1 })
    assert.equal(1, #runs)
    assert.is_true(dt >= 0.95, dt)
    assert.is_true(dt < 1 + SLACK, dt)
    c:close()
  end)

  it("honours Retry-After as an HTTP date", function()
    local c = client{ retries = 1, max_backoff = 10 }
    ts.fault{ install = ID, status = 503, retry_after = http_date(2) }
    local dt, runs = timed(c.sandbox_runs, c, ID, { limit = 1 })
    assert.equal(1, #runs)
    assert.is_true(dt >= 0.95, dt) -- the date has whole seconds: 1 to 2 s from now
    assert.is_true(dt < 2 + SLACK, dt)
    c:close()
  end)

  it("caps Retry-After at max_backoff, in seconds and as a date", function()
    local c = client{ retries = 2, max_backoff = 0.2 }
    ts.fault{ install = ID, status = 503, retry_after = 3600 }
    ts.fault{ install = ID, status = 429, retry_after = http_date(3600) }
    local dt, runs = timed(c.sandbox_runs, c, ID, { limit = 1 })
    assert.equal(1, #runs)
    assert.equal(3, #requests_for(ID))
    assert.is_true(dt < 2 * 0.2 + SLACK, dt)
    c:close()
  end)

  it("retries at once for a Retry-After in the past, and ignores a malformed one", function()
    local c = client{ retries = 2, max_backoff = 10 }
    ts.fault{ install = ID, status = 503, retry_after = http_date(-3600) }
    ts.fault{ install = ID, status = 503, retry_after = "soon, please" }
    local dt, runs = timed(c.sandbox_runs, c, ID, { limit = 1 })
    assert.equal(1, #runs)
    -- past date: no wait; malformed: the first jittered backoffs (<= 0.25 + 0.5 s)
    assert.is_true(dt < 0.75 + SLACK, dt)
    c:close()
  end)

  it("honours Retry-After in sandbox_runs_many", function()
    local c = client{ retries = 1, max_backoff = 10 }
    ts.fault{ install = ts.demo[2].id, status = 429, retry_after = 1 }
    local dt, results = timed(c.sandbox_runs_many, c, { ts.demo[1].id, ts.demo[2].id }, { limit = 1 })
    assert.equal(1, #results[ts.demo[1].id].runs)
    assert.equal(1, #results[ts.demo[2].id].runs)
    assert.is_true(dt >= 0.95, dt)
    assert.is_true(dt < 1 + SLACK, dt)
    c:close()
  end)
end)

-- A listening socket whose accept queue is full: the kernel drops further
-- SYNs, so a connect() to it hangs until the client's connect timeout.
local function unanswered_port()
  local srv = assert(socket.tcp())
  assert(srv:bind("127.0.0.1", 0))
  assert(srv:listen(0))
  local _, port = srv:getsockname()
  local fillers = {}
  for i = 1, 8 do
    fillers[i] = socket.tcp()
    fillers[i]:settimeout(0)
    fillers[i]:connect("127.0.0.1", port)
  end
  socket.sleep(0.1)
  return port, function()
    for _, s in ipairs(fillers) do s:close() end
    srv:close()
  end
end

describe("timeouts #timing", function()
  before_each(function() ts.reset() end)

  it("gives a retryable timeout when the server stalls before the headers", function()
    local c = client{ timeout = 0.5, retries = 0 }
    ts.fault{ install = ID, delay = 4 }
    local dt, runs, err = timed(c.sandbox_runs, c, ID)
    assert.is_nil(runs)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.equal(1, err.attempts)
    assert.matches("^request timed out: ", err.message)
    assert.is_true(dt >= 0.45 and dt < 0.5 + SLACK, dt)
    c:close()
  end)

  it("gives a retryable timeout when the server stalls in the middle of the body", function()
    local c = client{ timeout = 0.5, retries = 0 }
    ts.fault{ install = ID, stall = 4 }
    local dt, runs, err = timed(c.sandbox_runs, c, ID, { limit = 20 })
    assert.is_nil(runs)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.matches("bytes received", err.message) -- part of the body had arrived
    assert.is_true(dt >= 0.45 and dt < 0.5 + SLACK, dt)
    c:close()
  end)

  it("gives a retryable timeout when the connection cannot be established", function()
    local port, release = unanswered_port()
    local c = client{ base_url = "http://127.0.0.1:" .. port, connect_timeout = 0.5, timeout = 20, retries = 0 }
    local dt, runs, err = timed(c.sandbox_runs, c, ID)
    release()
    assert.is_nil(runs)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.is_true(dt >= 0.45 and dt < 0.5 + SLACK, dt)
    c:close()
  end)

  it("applies the timeout to each attempt and retries timeouts", function()
    local c = client{ timeout = 0.4, retries = 2 }
    ts.fault{ install = ID, delay = 4, times = 3 }
    local dt, runs, err = timed(c.sandbox_runs, c, ID)
    assert.is_nil(runs)
    assert.equal("timeout", err.kind)
    assert.equal(3, err.attempts)
    assert.matches("%(after 3 attempts%)$", err.message)
    assert.is_true(dt >= 1.1 and dt < 3 * 0.4 + 2 * 0.05 + SLACK, dt)

    ts.fault{ install = ID, stall = 4 }
    local runs2 = assert(c:sandbox_runs(ID, { limit = 20 }))
    assert.equal(20, #runs2)
    c:close()
  end)

  it("times out one install of sandbox_runs_many without holding up the others", function()
    local c = client{ timeout = 0.5, retries = 0 }
    ts.fault{ install = ts.demo[2].id, stall = 4 }
    local dt, results = timed(c.sandbox_runs_many, c, { ts.demo[1].id, ts.demo[2].id, ts.demo[3].id },
      { limit = 20 })
    assert.equal(20, #results[ts.demo[1].id].runs)
    assert.equal(20, #results[ts.demo[3].id].runs)
    local err = results[ts.demo[2].id].err
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.is_true(dt < 0.5 + SLACK, dt)
    c:close()
  end)

  it("times out a request driven by an event loop", function()
    local c = client{ timeout = 0.5, retries = 0 }
    ts.fault{ install = ID, delay = 4 }
    local dt, runs, err = timed(function() return c:start_sandbox_runs(ID):perform() end)
    assert.is_nil(runs)
    assert.equal("timeout", err.kind)
    assert.is_true(dt < 0.5 + SLACK, dt)
    c:close()
  end)
end)

describe("max_body", function()
  local big = "inlbigbody0000000000000001"
  before_each(function()
    ts.reset()
    -- 4 MB of JSON (gzip makes it a few KB on the wire)
    ts.set_body(big, "[" .. string.rep(" ", 4 * 1024 * 1024) .. "]")
  end)

  it("refuses a body whose Content-Length exceeds it as soon as the headers arrive #timing", function()
    local c = client{ max_body = 1024 * 1024, retries = 0 }
    -- not gzipped (text/plain), so Content-Length is sent; the rest of the body
    -- comes only after a 5 s stall, which the client must not wait for
    ts.fault{ install = big, status = 200, stall = 5, body = string.rep("x", 4 * 1024 * 1024),
      headers = { ["Content-Type"] = "text/plain" } }
    local dt, runs, err = timed(c.sandbox_runs, c, big)
    assert.is_nil(runs)
    assert.equal("decode", err.kind)
    assert.equal("response body exceeds max_body (1048576 bytes)", err.message)
    assert.is_false(err.retryable)
    assert.is_true(dt < SLACK, dt)
    c:close()
  end)

  it("stops a body without Content-Length while it is received, not after #timing", function()
    local c = client{ max_body = 1024 * 1024, retries = 0 }
    -- gzip: chunked, no Content-Length; 2 MB (inflated) arrive, then a 5 s stall
    ts.fault{ install = big, stall = 5 }
    local dt, runs, err = timed(c.sandbox_runs, c, big)
    assert.is_nil(runs)
    assert.equal("decode", err.kind)
    assert.equal("response body exceeds max_body (1048576 bytes)", err.message)
    assert.is_true(dt < SLACK, dt)
    c:close()
  end)

  it("applies to what gzip inflates to, and is not retried", function()
    local c = client{ max_body = 1024 * 1024, retries = 3 }
    local runs, err = c:sandbox_runs(big)
    assert.is_nil(runs)
    assert.equal("response body exceeds max_body (1048576 bytes)", err.message)
    assert.equal(1, #requests_for(big))
    local roomy = client{ max_body = 5 * 1024 * 1024 }
    local none = assert(roomy:sandbox_runs(big))
    assert.equal(0, #none)
    roomy:close()
    c:close()
  end)

  it("applies to every request of sandbox_runs_many", function()
    local c = client{ max_body = 1024 * 1024 }
    local results = assert(c:sandbox_runs_many({ big, ID }))
    assert.equal("response body exceeds max_body (1048576 bytes)", results[big].err.message)
    assert.equal(10, #results[ID].runs)
    c:close()
  end)
end)

-- Open file descriptors of this process (sockets included), or nil where
-- /proc is not available.
local function open_fds()
  local stat = io.open("/proc/self/stat")
  if not stat then return nil end
  local pid = stat:read("*l"):match("^(%d+)")
  stat:close()
  local p = io.popen("ls /proc/" .. pid .. "/fd 2>/dev/null")
  if not p then return nil end
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n > 0 and n or nil
end

describe("a Lua error raised in the middle of a call", function()
  before_each(function() ts.reset() end)

  it("propagates from where.fn, and the client keeps working", function()
    local c = client()
    local calls = 0
    local function boom()
      calls = calls + 1
      if calls == 15 then error("boom from where.fn") end
      return true
    end
    local ok, err = pcall(function()
      for _ in c:each_sandbox_run(ts.demo[3].id, { page_size = 10, where = { fn = boom } }) do end
    end)
    assert.is_false(ok)
    assert.matches("boom from where.fn", tostring(err))
    calls = 0
    ok, err = pcall(c.all_sandbox_runs, c, ts.demo[3].id, { page_size = 10, where = { fn = boom } })
    assert.is_false(ok)
    assert.matches("boom from where.fn", tostring(err))
    local runs = assert(c:sandbox_runs(ts.demo[1].id, { limit = 3 }))
    assert.equal(3, #runs)
    c:close()
  end)

  it("leaves no connection or handle behind, however often it happens", function()
    local function round()
      local c = client()
      pcall(function()
        for _ in c:each_sandbox_run(ts.demo[2].id, { page_size = 5, where = { fn = function() error("x") end } }) do end
      end)
      c = nil -- luacheck: ignore 311
    end
    round()
    collectgarbage()
    collectgarbage()
    local before = open_fds()
    for _ = 1, 40 do round() end
    collectgarbage()
    collectgarbage()
    local after = open_fds()
    if before and after then
      -- every abandoned client was collected with its connection: no growth
      assert.is_true(after <= before + 2, ("%d open fds before, %d after"):format(before, after))
    end
  end)
end)
