-- nuon.resty inside a real nginx (Debian's nginx + libnginx-mod-http-lua +
-- lua-resty-core + luajit2), calling the test API server (spec/server).
--
-- spec/run.sh runs this file as its own suite ("openresty"):
--
--   NUON_OPENRESTY_SPEC=1 busted --lua=lua5.4 -o TAP spec/openresty_spec.lua
--
-- It defines tests only when NUON_OPENRESTY_SPEC=1 or when it is named on
-- busted's command line, so the Lua 5.4 and LuaJIT suites, which load every
-- spec, do not start a second and third nginx for it.
-- Needs the test API server (NUON_TEST_URL or build/server/url) and
-- build/luajit/nuon/core.so (make LUA=luajit). The nginx under test runs from
-- build/openresty/ (spec/openresty/start.sh), one worker, and is stopped in
-- teardown; its watchdog stops it too if this process dies.
local function named_on_command_line()
  for _, a in ipairs(rawget(_G, "arg") or {}) do
    if tostring(a):match("openresty_spec%.lua$") then return true end
  end
  return false
end
if os.getenv("NUON_OPENRESTY_SPEC") ~= "1" and not named_on_command_line() then return end

local socket = require "socket"
local cjson = require "cjson"
local nuon = require "nuon"
local ts = require "helpers.testserver"

local DEMO1, DEMO2, DEMO3 = ts.demo[1].id, ts.demo[2].id, ts.demo[3].id
local VERSION = nuon.VERSION

local or_url -- the nginx under test

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function my_pid()
  return (read_file("/proc/self/stat") or ""):match("^(%d+)")
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function start_nginx(mode)
  local env = {
    NUON_TEST_URL = ts.url,
    NUON_OPENRESTY_PARENT = my_pid() or "",
  }
  if ts.tls_url then
    env.NUON_TEST_TLS_URL = ts.tls_url
    env.NUON_TEST_CA_FILE = ts.ca_file
    env.NUON_TEST_OTHER_CA_FILE = ts.other_ca_file
  end
  local parts = {}
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  local p = assert(io.popen(table.concat(parts, " ") .. " bash spec/openresty/start.sh " .. (mode or "spec")
    .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  local url = out:match("NUON_OPENRESTY_URL=(%S+)")
  assert(url, "spec/openresty/start.sh failed:\n" .. out)
  return url
end

-- Query strings: every byte but A-Z a-z 0-9 - _ . ~ percent-encoded.
local function escape(s)
  return (tostring(s):gsub("[^%w%-_%.~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function query(params)
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = escape(k) .. "=" .. escape(params[k]) end
  return table.concat(out, "&")
end

local function request_bytes(path, params, version)
  return "GET " .. path .. "?" .. query(params) .. " HTTP/" .. (version or "1.1")
    .. "\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
end

-- One call through nginx: the handler's JSON answer (spec/openresty/handler.lua).
local function call(params, path)
  local res, err = ts.raw(request_bytes(path or "/call", params), 30, or_url)
  assert(res, "nginx: " .. tostring(err))
  assert.equal(200, res.status, res.body)
  return cjson.decode(res.body)
end

local function blocking(opts)
  local o = { base_url = ts.url, token = ts.token, org_id = ts.org_id, config_file = "/dev/null" }
  for k, v in pairs(opts or {}) do o[k] = v end
  return nuon.new(o)
end

local function requests_for(id)
  local out = {}
  for _, r in ipairs(ts.requests()) do
    if r.install_id == id then out[#out + 1] = r end
  end
  return out
end

-- The error fields both clients set (the C core adds curl_code; the handler
-- adds tostring and is_nuon_error).
local function comparable(err)
  local t = {}
  for _, k in ipairs{ "kind", "message", "status", "error", "description", "user_error", "retryable",
                      "attempts" } do
    t[k] = err[k]
  end
  return t
end

-- Deep equality, numbers to 13 significant digits: the runs come through
-- lua-cjson, which writes at most 14.
local function close_enough(a, b, path)
  if type(a) == "number" and type(b) == "number" then
    assert(a == b or math.abs(a - b) <= 1e-13 * math.max(math.abs(a), math.abs(b)),
      path .. ": " .. tostring(a) .. " ~= " .. tostring(b))
    return
  end
  assert(type(a) == type(b), path .. ": " .. type(a) .. " ~= " .. type(b))
  if type(a) ~= "table" then
    assert(a == b, path .. ": " .. tostring(a) .. " ~= " .. tostring(b))
    return
  end
  for k, v in pairs(a) do close_enough(v, b[k], path .. "." .. tostring(k)) end
  for k in pairs(b) do assert(a[k] ~= nil, path .. "." .. tostring(k) .. " only on one side") end
end

-- A raw HTTP/1.0 response read from a LuaSocket connection (Connection: close).
local function read_response(sock)
  local status_line, err = sock:receive("*l")
  if not status_line then return nil, err end
  local length
  while true do
    local line = assert(sock:receive("*l"))
    if line == "" then break end
    local n = line:lower():match("^content%-length:%s*(%d+)")
    if n then length = tonumber(n) end
  end
  local body
  if length then body = sock:receive(length) else body = sock:receive("*a") end
  return { status = tonumber(status_line:match(" (%d%d%d)")), body = body }
end

describe("nuon.resty in nginx", function()
  lazy_setup(function()
    or_url = start_nginx()
  end)

  lazy_teardown(function()
    os.execute("bash spec/openresty/stop.sh >/dev/null 2>&1")
  end)

  before_each(function()
    ts.reset()
  end)

  describe("does not block the worker", function()
    -- Sends request A, then B while A is in flight (HTTP/1.0: the answers end
    -- when nginx closes); returns both answers and when each was complete
    -- (seconds after A was sent).
    local function overlap(params_a, params_b, head_start)
      local host, port = or_url:match("^http://([^:/]+):(%d+)")
      local a = socket.tcp()
      a:settimeout(20)
      assert(a:connect(host, tonumber(port)))
      local t0 = socket.gettime()
      assert(a:send(request_bytes("/call", params_a, "1.0")))
      socket.sleep(head_start or 0.2) -- A is now waiting inside the worker
      local b = socket.tcp()
      b:settimeout(20)
      assert(b:connect(host, tonumber(port)))
      assert(b:send(request_bytes("/call", params_b, "1.0")))
      local res_b = assert(read_response(b))
      local t_b = socket.gettime() - t0
      b:close()
      local res_a = assert(read_response(a))
      local t_a = socket.gettime() - t0
      a:close()
      assert.equal(200, res_a.status, res_a.body)
      assert.equal(200, res_b.status, res_b.body)
      return cjson.decode(res_a.body), t_a, cjson.decode(res_b.body), t_b
    end

    it("answers a second request at once while the first waits on a slow install", function()
      ts.fault{ install = DEMO3, delay = 1.5 }
      local a, t_a, b, t_b = overlap(
        { op = "runs", install = DEMO3, limit = 5 },
        { op = "runs", install = DEMO1, limit = 5 })
      print(("# non-blocking: slow request done after %.3f s, second request (sent at 0.2 s) after %.3f s"
        ):format(t_a, t_b))
      assert.is_true(a.ok, cjson.encode(a))
      assert.is_true(b.ok, cjson.encode(b))
      assert.equal(5, a.n)
      assert.equal(5, b.n)
      assert.equal(DEMO3, a.runs[1].install_id)
      assert.equal(DEMO1, b.runs[1].install_id)
      assert.equal(a.pid, b.pid) -- the same (single) worker served both
      assert.is_true(a.elapsed >= 1.45, a.elapsed)
      assert.is_true(t_a >= 1.45, t_a)
      assert.is_true(t_b < 0.7, t_b)           -- answered at once ...
      assert.is_true(t_b < t_a - 0.8, t_b)     -- ... well before the slow one
    end)

    it("waits between retries without blocking (ngx.sleep)", function()
      ts.fault{ install = DEMO3, status = 503, retry_after = 1 }
      local a, t_a, b, t_b = overlap(
        { op = "runs", install = DEMO3, limit = 2, max_backoff = 5 },
        { op = "runs", install = DEMO1, limit = 2 })
      print(("# non-blocking backoff: retried request done after %.3f s, second after %.3f s"):format(t_a, t_b))
      assert.is_true(a.ok, cjson.encode(a))
      assert.is_true(b.ok, cjson.encode(b))
      assert.is_true(t_a >= 0.95, t_a)
      assert.is_true(t_b < 0.6, t_b)
    end)

    it("runs sandbox_runs_many concurrently in light threads", function()
      for _, id in ipairs{ DEMO1, DEMO2, DEMO3 } do ts.fault{ install = id, delay = 0.6 } end
      local r = call{ op = "many", ids = DEMO1 .. "," .. DEMO2 .. "," .. DEMO3, concurrency = 3, limit = 2 }
      assert.is_true(r.ok, cjson.encode(r))
      assert.is_true(r.elapsed < 1.1, r.elapsed) -- three 0.6 s requests at once, not one after another
      for _, id in ipairs{ DEMO1, DEMO2, DEMO3 } do
        assert.equal(2, #r.results[id].ids)
      end
    end)

    it("keeps at most `concurrency` requests in flight", function()
      for _, id in ipairs{ DEMO1, DEMO2, DEMO3 } do ts.fault{ install = id, delay = 0.4 } end
      local r = call{ op = "many", ids = DEMO1 .. "," .. DEMO2 .. "," .. DEMO3, concurrency = 1, limit = 2 }
      assert.is_true(r.ok)
      assert.is_true(r.elapsed >= 1.15, r.elapsed)
    end)
  end)

  describe("sandbox_runs", function()
    it("decodes the runs exactly as the blocking client does", function()
      local r = call{ op = "runs", install = DEMO1, limit = 7, offset = 3 }
      assert.is_true(r.ok, cjson.encode(r))
      local c = blocking()
      local want = assert(c:sandbox_runs(DEMO1, { limit = 7, offset = 3 }))
      c:close()
      assert.equal(7, r.n)
      for i = 1, 7 do
        close_enough(want[i], r.runs[i], "[" .. i .. "]")
      end
      assert.same({ next = true, offset = 3, limit = 7, api_version = "0.19.1125" }, r.page)
      assert.same(want.warnings, r.warnings)
    end)

    it("reads the page number and the clamped limit from the headers", function()
      local r = call{ op = "runs", install = DEMO2, limit = 5, page = 3 }
      assert.same({ next = true, offset = 10, limit = 5, number = 3, api_version = "0.19.1125" }, r.page)
      r = call{ op = "runs", install = DEMO2, limit = 500 }
      assert.same({ next = true, offset = 0, limit = 100, api_version = "0.19.1125" }, r.page)
      assert.equal(100, r.n)
      r = call{ op = "runs", install = DEMO1, offset = 20, limit = 10 }
      assert.same({ next = false, offset = 20, limit = 10, api_version = "0.19.1125" }, r.page)
      assert.equal(5, r.n)
    end)

    it("sends the token, org, Accept and User-Agent headers, and no Accept-Encoding", function()
      ts.clear_requests()
      call{ op = "runs", install = DEMO1, limit = 1, user_agent = "my-app/1.0" }
      local req = requests_for(DEMO1)[1]
      assert.equal("Bearer " .. ts.token, req.headers.authorization)
      assert.equal(ts.org_id, req.headers["x-nuon-org-id"])
      assert.equal("application/json", req.headers.accept)
      assert.equal("my-app/1.0 lua-nuon/" .. VERSION, req.headers["user-agent"])
      assert.is_nil(req.headers["accept-encoding"])
      assert.equal("/v1/installs/" .. DEMO1 .. "/sandbox-runs?limit=1", req.uri)
      call{ op = "runs", install = DEMO1, limit = 1 }
      assert.equal("lua-nuon/" .. VERSION, requests_for(DEMO1)[2].headers["user-agent"])
    end)

    it("percent-encodes the install id as one path segment, as the C core does", function()
      local id = "a.b/c d?x=1&y#z%41..~_-Zé"
      local c = blocking()
      c:sandbox_runs(id, { limit = 1 })
      c:close()
      call{ op = "runs", install = id, limit = 1 }
      local reqs = requests_for(id)
      assert.equal(2, #reqs)
      assert.equal("/v1/installs/a%2Eb%2Fc%20d%3Fx%3D1%26y%23z%2541%2E%2E~_-Z%C3%A9/sandbox-runs?limit=1",
        reqs[2].uri)
      assert.equal(reqs[1].uri, reqs[2].uri)
      assert.equal(id, reqs[2].install_id)
      local u = call{ op = "url", install = "..", limit = 1, offset = 2, page = 3 }
      assert.equal(ts.url .. "/v1/installs/%2E%2E/sandbox-runs?limit=1&offset=2&page=3", u.url)
    end)

    it("returns an http error with the server's error body (404)", function()
      local body = '{"error":"install not found","description":"no such install","user_error":true}'
      ts.fault{ install = "inlnope", status = 404, body = body }
      local r = call{ op = "runs", install = "inlnope" }
      assert.is_false(r.ok)
      local err = r.err
      assert.is_true(err.is_nuon_error)
      assert.equal("http", err.kind)
      assert.equal(404, err.status)
      assert.equal("HTTP 404 Not Found: install not found: no such install", err.message)
      assert.equal("nuon http error: HTTP 404 Not Found: install not found: no such install", err.tostring)
      assert.equal("install not found", err.error)
      assert.equal("no such install", err.description)
      assert.is_true(err.user_error)
      assert.is_false(err.retryable)
      assert.equal(1, err.attempts)
      -- the same error as the blocking client's
      ts.fault{ install = "inlnope", status = 404, body = body }
      local c = blocking()
      local _, want = c:sandbox_runs("inlnope")
      c:close()
      assert.same(comparable(want), comparable(err))
    end)

    it("reads an absent user_error as false, and real auth errors too", function()
      ts.fault{ install = "inlnope", status = 400, body = '{"error":"bad","description":"worse"}' }
      local err = call{ op = "runs", install = "inlnope" }.err
      assert.is_false(err.user_error)
      assert.equal("HTTP 400 Bad Request: bad: worse", err.message)
      err = call{ op = "runs", install = DEMO1, token = "wrong" }.err
      assert.equal(401, err.status)
      assert.equal("unable to validate token: could not parse the token: "
        .. "go-jose/go-jose: compact JWS format must have three parts", err.error)
      assert.is_true(err.user_error)
      assert.is_false(err.retryable)
      assert.is_nil(err.message:find("wrong", 1, true))
    end)

    it("retries a 503 once and then succeeds", function()
      ts.fault{ install = DEMO1, status = 503 }
      local r = call{ op = "runs", install = DEMO1, limit = 3, max_backoff = 0.05 }
      assert.is_true(r.ok, cjson.encode(r))
      assert.equal(3, r.n)
      local reqs = requests_for(DEMO1)
      assert.equal(2, #reqs)
      assert.same({ 503, 200 }, { reqs[1].status, reqs[2].status })
      assert.equal(reqs[1].uri, reqs[2].uri)
    end)

    it("gives up after `retries` extra attempts with the C core's message", function()
      local body = '{"error":"unavailable"}'
      ts.fault{ install = DEMO1, status = 503, times = 10, body = body }
      local err = call{ op = "runs", install = DEMO1, retries = 3, max_backoff = 0.02 }.err
      assert.equal("HTTP 503 Service Unavailable: unavailable (after 4 attempts)", err.message)
      assert.equal(4, err.attempts)
      assert.is_true(err.retryable)
      assert.equal(4, #requests_for(DEMO1))
      ts.reset()
      ts.fault{ install = DEMO1, status = 503, times = 10, body = body }
      local c = blocking{ retries = 3, max_backoff = 0.02 }
      local _, want = c:sandbox_runs(DEMO1)
      c:close()
      assert.same(comparable(want), comparable(err))
    end)

    it("never retries other statuses", function()
      for _, status in ipairs{ 400, 404, 500, 501 } do
        ts.reset()
        ts.fault{ install = DEMO1, status = status, times = 5 }
        local err = call{ op = "runs", install = DEMO1, retries = 3, max_backoff = 0.02 }.err
        assert.equal(status, err.status)
        assert.equal(1, err.attempts)
        assert.equal(status == 500, err.retryable)
        assert.equal(1, #requests_for(DEMO1))
      end
    end)

    it("honours Retry-After in seconds and as an HTTP date, capped by max_backoff", function()
      ts.fault{ install = DEMO1, status = 429, retry_after = 1 }
      local r = call{ op = "runs", install = DEMO1, limit = 1, max_backoff = 5 }
      assert.is_true(r.ok)
      assert.is_true(r.elapsed >= 0.95 and r.elapsed < 2, r.elapsed)

      ts.fault{ install = DEMO1, status = 503, retry_after = 3600 }
      r = call{ op = "runs", install = DEMO1, limit = 1, max_backoff = 0.3 }
      assert.is_true(r.ok)
      assert.is_true(r.elapsed >= 0.28 and r.elapsed < 1, r.elapsed)

      local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 30)
      ts.fault{ install = DEMO1, status = 503, retry_after = date }
      r = call{ op = "runs", install = DEMO1, limit = 1, max_backoff = 0.5 }
      assert.is_true(r.ok)
      assert.is_true(r.elapsed >= 0.48 and r.elapsed < 1.2, r.elapsed)
    end)

    it("retries a connection closed without a response", function()
      ts.fault{ install = DEMO1, close = true, times = 2 }
      local r = call{ op = "runs", install = DEMO1, limit = 2, max_backoff = 0.02 }
      assert.is_true(r.ok, cjson.encode(r))
      local reqs = requests_for(DEMO1)
      assert.same({ 444, 444, 200 }, { reqs[1].status, reqs[2].status, reqs[3].status })
      ts.fault{ install = DEMO1, close = true, times = 5 }
      local err = call{ op = "runs", install = DEMO1, retries = 1, max_backoff = 0.02 }.err
      assert.equal("network", err.kind)
      assert.equal("Empty reply from server (after 2 attempts)", err.message)
      assert.is_true(err.retryable)
    end)

    it("returns a retryable network error when the connection is refused", function()
      local err = call{ op = "runs", install = DEMO1, base = "http://127.0.0.1:1", retries = 2,
                        max_backoff = 0.02 }.err
      assert.equal("network", err.kind)
      assert.is_true(err.retryable)
      assert.equal(3, err.attempts)
      assert.equal("Failed to connect to 127.0.0.1 port 1: connection refused (after 3 attempts)", err.message)
    end)

    it("times out an attempt that waits too long, and one stalled mid-body", function()
      ts.fault{ install = DEMO1, delay = 3 }
      local r = call{ op = "runs", install = DEMO1, timeout = 0.5, retries = 0 }
      assert.equal("timeout", r.err.kind)
      assert.is_true(r.err.retryable)
      assert.matches("^request timed out: Operation timed out after %d+ milliseconds with 0 bytes received$",
        r.err.message)
      assert.is_true(r.elapsed >= 0.45 and r.elapsed < 1, r.elapsed)

      ts.fault{ install = DEMO1, stall = 3 }
      r = call{ op = "runs", install = DEMO1, limit = 20, timeout = 0.5, retries = 0 }
      assert.equal("timeout", r.err.kind)
      assert.matches("with [1-9]%d* bytes received$", r.err.message)
      assert.is_true(r.elapsed < 1, r.elapsed)
    end)

    it("enforces max_body on Content-Length and on chunked bodies", function()
      -- one run is under 2048 bytes (Content-Length); twenty are chunked
      for _, limit in ipairs{ 1, 20 } do
        local r = call{ op = "runs", install = DEMO1, limit = limit, max_body = 500 }
        assert.equal("decode", r.err.kind)
        assert.equal("response body exceeds max_body (500 bytes)", r.err.message)
        assert.is_false(r.err.retryable)
      end
      assert.is_true(call{ op = "runs", install = DEMO1, limit = 20, max_body = 1000000 }.ok)
    end)

    it("follows no redirect and names the Location", function()
      ts.fault{ install = DEMO1, status = 302, headers = { Location = "http://elsewhere.example/x" } }
      local err = call{ op = "runs", install = DEMO1 }.err
      assert.equal("http", err.kind)
      assert.equal(302, err.status)
      assert.equal("HTTP 302 Found: redirects are not followed (Location: http://elsewhere.example/x)",
        err.message)
      assert.equal(1, #requests_for(DEMO1))
    end)

    it("warns about unknown enum values, or fails with strict", function()
      local raw = ts.get("/v1/installs/" .. DEMO1 .. "/sandbox-runs?limit=1").body
      local body = raw:gsub('"run_type":"[^"]*"', '"run_type":"warp-drive"', 1)
      ts.set_body("inlcustom", body)
      local r = call{ op = "runs", install = "inlcustom" }
      assert.is_true(r.ok)
      local found
      for _, w in ipairs(r.warnings) do
        if w.path == "[1].run_type" then found = w end
      end
      assert.same({ path = "[1].run_type", value = "warp-drive", enum = "run_type" }, found)
      r = call{ op = "runs", install = "inlcustom", strict = "true" }
      assert.equal("validation", r.err.kind)
      assert.equal(200, r.err.status)
      assert.is_false(r.err.retryable)
      r = call{ op = "runs", install = "inlcustom", strict_client = "true" }
      assert.equal("validation", r.err.kind)
    end)

    it("returns a decode error for a body that is not JSON", function()
      ts.set_body("inlcustom", "<html>oops</html>")
      local r = call{ op = "runs", install = "inlcustom" }
      assert.equal("decode", r.err.kind)
      assert.equal(200, r.err.status)
      assert.is_false(r.err.retryable)
    end)

    it("keeps the connection alive in nginx's pool", function()
      local r = call{ op = "keepalive", install = DEMO1 }
      assert.is_true(r.ok, cjson.encode(r))
      assert.is_true(r.reused >= 1, r.reused)
    end)
  end)

  describe("paging", function()
    it("collects all 120 runs of a demo install with all_sandbox_runs", function()
      local r = call{ op = "all", install = DEMO2 }
      assert.is_true(r.ok, cjson.encode(r))
      assert.equal(120, r.n)
      local c = blocking()
      local want = assert(c:all_sandbox_runs(DEMO2))
      c:close()
      local ids, seen = {}, {}
      for i, run in ipairs(want) do ids[i] = run.id end
      assert.same(ids, r.ids)
      for _, id in ipairs(r.ids) do
        assert.is_nil(seen[id])
        seen[id] = true
      end
      local reqs = requests_for(DEMO2)
      assert.equal(4, #reqs) -- two pages each, resty and blocking
      assert.equal("/v1/installs/" .. DEMO2 .. "/sandbox-runs?limit=100&offset=100", reqs[2].uri)
    end)

    it("iterates with each_sandbox_run, stepping by page_size, up to max", function()
      local r = call{ op = "each", install = DEMO2, page_size = 50 }
      assert.equal(120, r.n)
      assert.equal(3, #requests_for(DEMO2))
      r = call{ op = "all", install = DEMO2, page_size = 25, max = 30 }
      assert.equal(30, r.n)
    end)

    it("reports a failing page: each_sandbox_run raises, all_sandbox_runs returns the error", function()
      ts.fault{ install = DEMO2, status = 404, body = '{"error":"gone"}' }
      local r = call{ op = "each", install = DEMO2, page_size = 50 }
      assert.is_false(r.ok)
      assert.equal("HTTP 404 Not Found: gone", r.err.message)
      ts.fault{ install = DEMO2, status = 404, body = '{"error":"gone"}' }
      r = call{ op = "all", install = DEMO2 }
      assert.equal(404, r.err.status)
    end)

    it("finds the newest run with latest_sandbox_run", function()
      local r = call{ op = "latest", install = DEMO1 }
      local first = call{ op = "runs", install = DEMO1, limit = 1 }
      assert.equal(first.runs[1].id, r.id)
    end)

    it("gets one run with sandbox_run, as the blocking client does", function()
      local c = ts.client()
      local list = assert(c:sandbox_runs(DEMO2, { limit = 40 }))
      local want = assert(c:sandbox_run(DEMO2, list[33].id))
      c:close()
      ts.clear_requests()
      local r = call{ op = "run", install = DEMO2, run = list[33].id }
      assert.is_true(r.ok, cjson.encode(r))
      assert.same({ list[33].id, want.status, want.run_type, #(want.runner_jobs or {}) },
        { r.id, r.status, r.run_type, r.jobs })
      assert.same({ api_version = "0.19.1125" }, r.meta)
      local reqs = ts.requests()
      assert.equal(1, #reqs)
      assert.equal("/v1/installs/" .. DEMO2 .. "/sandbox-runs/" .. list[33].id, reqs[1].uri)
      r = call{ op = "run", install = "a/b", run = "no such run" }
      assert.is_false(r.ok)
      assert.same({ "http", 404 }, { r.err.kind, r.err.status })
      assert.equal("/v1/installs/a%2Fb/sandbox-runs/no%20such%20run", ts.requests()[2].uri)
    end)

    it("warns from the run in sandbox_run, fails in strict mode, and takes known_values", function()
      ts.set_body("inlrestyonerun000000000001", '[{"id":"sbrR","runner_jobs":[{"type":"teleport"}]}]')
      local r = call{ op = "run", install = "inlrestyonerun000000000001", run = "sbrR" }
      assert.same({ { path = ".runner_jobs[1].type", value = "teleport", enum = "runner_job_type" } },
        r.warnings)
      r = call{ op = "run", install = "x", run = "sbrR", strict = "true" }
      assert.equal('.runner_jobs[1].type: "teleport" is not a valid runner_job_type', r.err.message)
      r = call{ op = "run", install = "x", run = "sbrR", strict = "true", known_type = "teleport" }
      assert.is_true(r.ok, cjson.encode(r))
    end)

    it("waits for a run with wait_sandbox_run (ngx.sleep between polls)", function()
      local first = call{ op = "runs", install = DEMO1, limit = 3 }.runs[3]
      ts.clear_requests()
      local r = call{ op = "wait", install = DEMO1, run = first.id }
      assert.is_true(r.ok, cjson.encode(r))
      assert.equal(first.id, r.id)
      assert.equal(first.status, r.status)
      -- one poll, one request, to the run's own path
      local reqs = ts.requests()
      assert.equal(1, #reqs)
      assert.same({ "run", "/v1/installs/" .. DEMO1 .. "/sandbox-runs/" .. first.id },
        { reqs[1].route, reqs[1].uri })
      ts.clear_requests()
      r = call{ op = "wait", install = DEMO1, run = "sbrnosuchrun00000000000000", wait_timeout = 0.3 }
      assert.equal("timeout", r.err.kind)
      assert.is_true(r.elapsed >= 0.28 and r.elapsed < 2, r.elapsed)
      -- every poll was one request for the run
      reqs = ts.requests()
      assert.is_true(#reqs >= 2)
      for _, q in ipairs(reqs) do assert.equal("run", q.route) end
    end)

    it("falls back to scanning the list in wait_sandbox_run without the single-run route", function()
      local first = call{ op = "runs", install = DEMO1, limit = 3 }.runs[3]
      ts.without_run_route(DEMO1)
      ts.clear_requests()
      local r = call{ op = "wait", install = DEMO1, run = first.id }
      assert.is_true(r.ok, cjson.encode(r))
      assert.equal(first.id, r.id)
      local reqs = ts.requests()
      assert.same({ "run", "runs" }, { reqs[1].route, reqs[2].route })
      assert.equal(2, #reqs)
    end)
  end)

  describe("paging against any server", function()
    local ID = "inlrestypaging000000000001"
    local RUNS = 25
    local function install(paging, extra)
      local spec = { id = ID, count = RUNS, flavor = "current", seed = 7, paging = paging }
      for k, v in pairs(extra or {}) do spec[k] = v end
      ts.install(spec)
      ts.clear_requests()
    end
    -- the same table as spec/paging_spec.lua: mode, requests, runs
    for _, case in ipairs{
      { "ignore", 1, RUNS }, { "repeat", 3, 10 }, { "zero_limit", 4, RUNS },
      { "stuck_offset", 4, RUNS }, { "negative", 4, RUNS }, { "overflow", 4, RUNS },
      { "empty_next", 1, 0 },
    } do
      local mode, nreq, nruns = case[1], case[2], case[3]
      it(("ends against a server in paging mode %s: %d runs, %d requests"):format(mode, nruns, nreq), function()
        install(mode)
        local r = call{ op = "all", install = ID, page_size = 10 }
        assert.is_true(r.ok, cjson.encode(r))
        assert.equal(nruns, r.n)
        local reqs = requests_for(ID)
        assert.equal(nreq, #reqs)
        local last = -1
        for _, req in ipairs(reqs) do
          local off = tonumber(req.args.offset or "0")
          assert.is_true(off > last, off .. " after " .. last)
          last = off
        end
        ts.clear_requests()
        r = call{ op = "each", install = ID, page_size = 10 }
        assert.equal(nruns, r.n)
        assert.equal(nreq, #requests_for(ID))
      end)
    end

    it("latest_sandbox_run and wait_sandbox_run end against a server whose pages never end", function()
      install("zero_limit")
      local r = call{ op = "latest", install = ID }
      assert.is_true(r.ok, cjson.encode(r))
      r = call{ op = "wait", install = ID, run = "sbrnosuchrun00000000000000", wait_timeout = 0.5 }
      assert.equal("timeout", r.err.kind)
      assert.is_true(r.elapsed < 3, r.elapsed)
    end)

    it("a body of a million {} is a decode error naming max_runs, after one request", function()
      ts.install{ id = ID, count = 0, paging = "objects", objects = 1000000 }
      ts.clear_requests()
      local r = call{ op = "all", install = ID }
      assert.is_false(r.ok)
      assert.equal("decode", r.err.kind)
      assert.equal("response holds more than max_runs (10000) runs", r.err.message)
      assert.equal(1, #requests_for(ID))
      ts.install{ id = ID, count = 0, paging = "objects", objects = 30 }
      r = call{ op = "runs", install = ID, max_runs = 20 }
      assert.equal("response holds more than max_runs (20) runs", r.err.message)
      r = call{ op = "runs", install = ID, max_runs = 30 }
      assert.equal(30, r.n)
    end)
  end)

  describe("all_sandbox_runs_many", function()
    local function fleet(n, count, extra)
      local ids = {}
      for k = 1, n do
        ids[k] = ("inlrestyfleet%03d"):format(k) .. ("0"):rep(10)
        local spec = { id = ids[k], count = count, flavor = "current", seed = k }
        for key, v in pairs(extra or {}) do spec[key] = v end
        ts.install(spec)
      end
      ts.clear_requests()
      return ids
    end

    it("pages every install in light threads, at most concurrency requests in flight", function()
      ts.settle()
      ts.reset()
      local ids = fleet(8, 25, { latency_ms = 50 })
      local r = call{ op = "fleet", ids = table.concat(ids, ","), concurrency = 3, page_size = 10 }
      assert.is_true(r.ok, cjson.encode(r))
      local c = blocking()
      for _, id in ipairs(ids) do
        local want = assert(c:all_sandbox_runs(id, { page_size = 10 }))
        local got = {}
        for i, run in ipairs(want) do got[i] = run.id end
        assert.same(got, r.results[id].ids)
      end
      c:close()
      assert.equal(3, ts.max_in_flight(ts.requests()))
      local last = r.progress[#r.progress]
      assert.same({ installs_done = 8, installs_total = 8, pages = 24, runs = 200 }, last)
      assert.equal(24, #r.progress)
    end)

    it("isolates a failing install and honours max", function()
      ts.reset()
      local ids = fleet(3, 25)
      ts.fault{ install = ids[2], status = 404, times = 3, body = '{"error":"no such install"}' }
      local r = call{ op = "fleet", ids = table.concat(ids, ","), page_size = 10, max = 12, retries = 0 }
      assert.is_true(r.ok, cjson.encode(r))
      assert.equal(12, r.results[ids[1]].n)
      assert.equal(404, r.results[ids[2]].err.status)
      assert.equal(12, r.results[ids[3]].n)
      assert.equal(2 + 1 + 2, #ts.requests())
    end)
  end)

  describe("sandbox_runs_many", function()
    it("gives each install its runs or its error", function()
      ts.fault{ install = "inlbroken", status = 404, body = '{"error":"nope"}' }
      local r = call{ op = "many", ids = table.concat({ DEMO1, "inlbroken", DEMO2, DEMO3, DEMO1 }, ","),
                      concurrency = 2, limit = 4 }
      assert.is_true(r.ok, cjson.encode(r))
      for _, id in ipairs{ DEMO1, DEMO2, DEMO3 } do
        assert.equal(4, #r.results[id].ids)
        assert.equal(4, r.results[id].page.limit)
      end
      assert.equal("HTTP 404 Not Found: nope", r.results.inlbroken.err.message)
      assert.equal(1, #requests_for(DEMO1)) -- a repeated id is requested once
    end)
  end)

  describe("the client", function()
    it("never shows the token", function()
      local r = call{ op = "tostring", token = "s3cr3t-token-value" }
      assert.equal("nuon.resty.client (" .. ts.url .. ", org " .. ts.org_id .. ")", r.text)
      assert.equal("nuon.resty.client (closed)", r.closed)
      r = call{ op = "runs", install = DEMO1, token = "s3cr3t-token-value" }
      assert.is_nil(cjson.encode(r.err):find("s3cr3t", 1, true))
    end)

    it("scrubs the token from errors when a hostile server echoes it back", function()
      local echo = "invalid token " .. ts.token .. " for org"
      ts.fault{ install = "*", status = 401,
        body = ('{"error":"%s","description":"%s","user_error":true}'):format(echo, echo) }
      local r = call{ op = "runs", install = DEMO1 }
      assert.equal("invalid token <redacted> for org", r.err.error)
      assert.equal("HTTP 401 Unauthorized: invalid token <redacted> for org: invalid token <redacted> for org",
        r.err.message)
      assert.is_nil(cjson.encode(r):find(ts.token, 1, true))
      ts.fault{ install = "*", status = 302, headers = { Location = "http://example.com/?t=" .. ts.token } }
      r = call{ op = "runs", install = DEMO1 }
      assert.matches("Location: http://example.com/%?t=<redacted>", r.err.message)
      assert.is_nil(cjson.encode(r):find(ts.token, 1, true))
      ts.set_body("inlecho0000000000000000001", ('[{"id":"sbr1","run_type":"%s"}]'):format(ts.token))
      r = call{ op = "runs", install = "inlecho0000000000000000001", strict = "true" }
      assert.equal("validation", r.err.kind)
      assert.equal("<redacted>", r.err.value)
      ts.fault{ install = "*", status = 403, body = ('{"error":"%s"}'):format(echo) }
      r = call{ op = "many", ids = DEMO1 }
      assert.equal(403, r.results[DEMO1].err.status)
      assert.is_nil(cjson.encode(r):find(ts.token, 1, true))
    end)

    it("raises for bad arguments as nuon.client does, blaming the caller's line", function()
      local r = call{ op = "badargs", install = DEMO1 }
      local want = {
        "nuon.sandbox_runs: install_id must be a non-empty string (got nil)",
        "nuon.sandbox_runs: unknown option 'limt'",
        "nuon.each_sandbox_run: install_id must be a non-empty string (got an empty string)",
        "nuon.all_sandbox_runs: option 'page_size' must be a positive integer",
        "nuon.all_sandbox_runs: option 'where': unknown key 'statuz'",
        "nuon.sandbox_runs_many: option 'concurrency' must be a positive integer",
        "nuon.resty.new: option 'keepalive_timeout' must be a number of seconds from 0 to 2147483",
        "nuon.start_sandbox_runs: not in nuon.resty, whose calls never block the nginx worker: call"
          .. " sandbox_runs",
      }
      assert.equal(#want, #r.calls)
      for i, w in ipairs(want) do
        assert.is_false(r.calls[i].ok)
        assert.equal(w, r.calls[i].what)
        assert.matches("^handler%.lua:%d+$", r.calls[i].where)
      end
    end)

    it("fails cleanly after close", function()
      local r = call{ op = "closed", install = DEMO1 }
      assert.equal("config", r.err.kind)
      assert.equal("the client is closed", r.err.message)
    end)

    it("takes its settings from NUON_* variables passed on by nginx's env directive", function()
      local r = call{ op = "runs", install = DEMO1, limit = 2, env = 1 }
      assert.is_true(r.ok, cjson.encode(r))
      assert.equal(2, r.n)
    end)

    it("goes through an http:// proxy", function()
      -- the test server answers absolute-form requests, as a proxy would
      ts.clear_requests()
      local r = call{ op = "runs", install = DEMO1, limit = 2, base = "http://nuon.invalid:8080",
                      proxy = ts.url }
      assert.is_true(r.ok, cjson.encode(r))
      local req = requests_for(DEMO1)[1]
      assert.equal("nuon.invalid:8080", req.headers.host)
    end)

    it("tunnels to an https:// API through an http:// proxy (CONNECT, with credentials)", function()
      if not ts.tls_url then return pending("no HTTPS listener") end
      local log_path = os.tmpname()
      local p = assert(io.popen("exec lua5.4 spec/openresty/connect_proxy.lua " .. log_path .. " 60"))
      local port, pid = (p:read("*l") or ""):match("^(%d+) (%d+)$")
      finally(function()
        if pid then os.execute("kill " .. pid) end
        p:close()
        os.remove(log_path)
      end)
      assert.truthy(port, "the proxy did not start")
      local r = call{ op = "runs", install = DEMO1, limit = 2, base = "tls", keepalive_timeout = 0,
                      proxy = "http://nuon:p%40ss@127.0.0.1:" .. port }
      assert.is_true(r.ok, cjson.encode(r))
      assert.equal(2, r.n)
      assert.equal("CONNECT " .. ts.tls_url:match("^https://(.*)$") .. " HTTP/1.1\tBasic "
        .. require("mime").b64("nuon:p@ss") .. "\n", read_file(log_path))
    end)

    it("asks an http:// proxy for a CONNECT tunnel to an https:// API, and reports its refusal", function()
      -- the test server is no proxy: it refuses CONNECT
      local r = call{ op = "runs", install = DEMO1, base = "https://nuon.invalid", proxy = ts.url, retries = 0 }
      assert.equal("network", r.err.kind)
      assert.matches("^CONNECT tunnel failed, response 4%d%d$", r.err.message)
    end)
  end)

  describe("over TLS", function()
    it("verifies the server against lua_ssl_trusted_certificate", function()
      if not ts.tls_url then return pending("no HTTPS listener") end
      local r = call{ op = "runs", install = DEMO1, limit = 2, base = "tls", keepalive_timeout = 0 }
      assert.is_true(r.ok, cjson.encode(r))
      assert.equal(2, r.n)
    end)

    it("refuses a certificate from a CA nginx does not trust, unless verify_tls is off", function()
      if not ts.tls_url then return pending("no HTTPS listener") end
      -- several times: lua-nginx-module 0.10.23 reports a failed verification
      -- two ways, depending on whether the handshake completed at once
      for _ = 1, 8 do
        local r = call({ op = "runs", install = DEMO1, base = "tls", keepalive_timeout = 0, retries = 2 },
          "/other-ca/call")
        assert.equal("network", r.err.kind)
        assert.is_false(r.err.retryable)
        assert.equal(1, r.err.attempts)
        assert.matches("^TLS certificate verification failed: ", r.err.message)
        assert.matches("lua_ssl_trusted_certificate", r.err.message)
      end
      local r = call({ op = "runs", install = DEMO1, limit = 1, base = "tls", keepalive_timeout = 0,
                 verify_tls = "false" }, "/other-ca/call")
      assert.is_true(r.ok, cjson.encode(r))
    end)
  end)

  describe("examples/openresty", function()
    it("serves /runs/<install_id> as written (nginx.conf and runs.lua, on another port)", function()
      local url = start_nginx("example")
      finally(function()
        os.execute("NUON_OPENRESTY_DIR=build/openresty-example bash spec/openresty/stop.sh >/dev/null 2>&1")
      end)
      local function get(path)
        local res = assert(ts.raw("GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
          10, url))
        return res.status, cjson.decode(res.body)
      end
      local status, body = get("/runs/" .. DEMO1 .. "?limit=3&offset=1")
      assert.equal(200, status)
      local c = blocking()
      local want = assert(c:sandbox_runs(DEMO1, { limit = 3, offset = 1 }))
      c:close()
      assert.equal(3, body.count)
      assert.same({ next = true, offset = 1, limit = 3, api_version = "0.19.1125" }, body.page)
      for i = 1, 3 do
        assert.same({ id = want[i].id, status = want[i].status, run_type = want[i].run_type,
                      created_at = want[i].created_at, job_status = want[i].runner_job.status }, body.runs[i])
      end
      status, body = get("/runs/" .. DEMO2 .. "?all=1")
      assert.equal(200, status)
      assert.equal(120, body.count)
      status, body = get("/runs/inlnosuchinstall?limit=2")
      assert.equal(200, status)
      assert.equal(0, body.count)
      assert.same({}, body.runs)
      ts.fault{ install = DEMO1, status = 404, body = '{"error":"not found"}' }
      status, body = get("/runs/" .. DEMO1)
      assert.equal(404, status)
      assert.equal("HTTP 404 Not Found: not found", body.error.message)
      status = get("/runs/" .. DEMO1 .. "?limit=-1")
      assert.equal(400, status)
    end)
  end)
end)
