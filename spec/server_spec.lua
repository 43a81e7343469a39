-- The test API server (spec/server) reproduces Nuon's GET
-- /v1/installs/{install_id}/sandbox-runs exactly: auth, org, pagination, error
-- bodies, ordering; plus its own control API (installs, faults, request log).
-- Raw HTTP over LuaSocket, so every byte on the wire is what is asserted.
local socket = require "socket"
local cjson = require "cjson"
local ts = require "helpers.testserver"
local generator = require "server.generator"

local DEMO1, DEMO2, DEMO3 = ts.demo[1], ts.demo[2], ts.demo[3]
local JSON = "application/json; charset=utf-8"

local function runs_path(id, query)
  return "/v1/installs/" .. ts.escape_segment(id) .. "/sandbox-runs" .. (query and ("?" .. query) or "")
end

local function get(id, query, headers)
  return assert(ts.get(runs_path(id, query), headers))
end

local function ids(res)
  local out = {}
  for i, run in ipairs(cjson.decode(res.body)) do out[i] = run.id end
  return out
end

local function page_headers(res)
  return {
    next = res.headers["x-nuon-page-next"], offset = res.headers["x-nuon-page-offset"],
    limit = res.headers["x-nuon-page-limit"], number = res.headers["x-nuon-page-number"],
  }
end

-- The runs the server holds for a demo install, as the generator makes them.
local function expected(demo)
  return generator.runs(demo.id, { count = demo.count, flavor = demo.flavor, seed = demo.seed })
end

before_each(function() ts.reset() end)

describe("authentication", function()
  it("answers 401 with the upstream body when the token is missing", function()
    local res = get(DEMO1.id, nil, { ["X-Nuon-Org-ID"] = ts.org_id })
    assert.equal(401, res.status)
    assert.equal(JSON, res.headers["content-type"])
    assert.equal('{"error":"auth token was empty","user_error":true,"description":'
      .. '"Please make sure you set the -H Authorization:Bearer \\u003ctoken\\u003e header or token query param"}',
      res.body)
  end)

  it("answers 401 for a token that is not valid", function()
    local res = get(DEMO1.id, nil, { Authorization = "Bearer not-the-token", ["X-Nuon-Org-ID"] = ts.org_id })
    assert.equal(401, res.status)
    assert.equal('{"error":"unable to validate token: could not parse the token: go-jose/go-jose: '
      .. 'compact JWS format must have three parts","user_error":true,'
      .. '"description":"Please make sure the token is valid, and not expired."}', res.body)
  end)

  it("answers 401 for an Authorization header that is not 'Bearer <token>'", function()
    for _, value in ipairs{ "Token nuon-test-token", "Bearer", "Bearer a b", "nuon-test-token" } do
      local res = get(DEMO1.id, nil, { Authorization = value, ["X-Nuon-Org-ID"] = ts.org_id })
      assert.equal(401, res.status, value)
      assert.equal('{"error":"authorization header format must be Bearer {token}","user_error":true,'
        .. '"description":"Please make sure you set the -H Authorization:Bearer token header"}', res.body)
    end
  end)

  it("accepts any case of the scheme and the token query parameter", function()
    assert.equal(200, get(DEMO1.id, nil, { Authorization = "bearer   nuon-test-token",
      ["X-Nuon-Org-ID"] = ts.org_id }).status)
    assert.equal(200, get(DEMO1.id, "token=nuon-test-token", { ["X-Nuon-Org-ID"] = ts.org_id }).status)
  end)

  it("checks the token before the org", function()
    assert.equal(401, get(DEMO1.id, nil, {}).status)
  end)
end)

describe("the org header", function()
  it("answers 403 when X-Nuon-Org-ID is missing", function()
    local res = get(DEMO1.id, nil, { Authorization = "Bearer " .. ts.token })
    assert.equal(403, res.status)
    assert.equal('{"error":"org ID was empty","user_error":true,'
      .. '"description":"please retry request with X-Nuon-Org-ID header or org query param"}', res.body)
  end)

  it("answers 403 for an unknown org", function()
    local res = get(DEMO1.id, nil, ts.auth_headers{ ["X-Nuon-Org-ID"] = "org<x>&y" })
    assert.equal(403, res.status)
    assert.equal('{"error":"org org\\u003cx\\u003e\\u0026y was not found","user_error":true,'
      .. '"description":"please make sure org ID is set properly"}', res.body)
  end)

  it("falls back to the org_id query parameter", function()
    local res = get(DEMO1.id, "org_id=" .. ts.org_id .. "&limit=1", { Authorization = "Bearer " .. ts.token })
    assert.equal(200, res.status)
    assert.equal(1, #cjson.decode(res.body))
  end)
end)

describe("pagination", function()
  it("defaults to offset 0 and limit 10, newest first", function()
    local res = get(DEMO1.id)
    assert.equal(200, res.status)
    assert.equal(JSON, res.headers["content-type"])
    assert.same({ next = "true", offset = "0", limit = "10" }, page_headers(res))
    assert.equal("[" .. table.concat(expected(DEMO1), ",", 1, 10) .. "]", res.body)
  end)

  it("clamps the limit to 100 and says so in X-Nuon-Page-Limit", function()
    local res = get(DEMO3.id, "limit=500")
    assert.same({ next = "true", offset = "0", limit = "100" }, page_headers(res))
    assert.equal(100, #cjson.decode(res.body))
  end)

  it("turns page into offset (page - 1) * limit and sends X-Nuon-Page-Number", function()
    local res = get(DEMO1.id, "limit=5&page=3")
    assert.same({ next = "true", offset = "10", limit = "5", number = "3" }, page_headers(res))
    assert.same(ids(get(DEMO1.id, "limit=5&offset=10")), ids(res))
    local over = get(DEMO1.id, "offset=7&page=2&limit=5")
    assert.same({ next = "true", offset = "5", limit = "5", number = "2" }, page_headers(over))
  end)

  it("asks for limit + 1 rows: Next is false when exactly limit remain", function()
    local runs = expected(DEMO1)
    local res = get(DEMO1.id, "offset=15&limit=10")
    assert.same({ next = "false", offset = "15", limit = "10" }, page_headers(res))
    assert.equal("[" .. table.concat(runs, ",", 16, 25) .. "]", res.body)
    assert.same({ next = "true", offset = "14", limit = "10" }, page_headers(get(DEMO1.id, "offset=14&limit=10")))
    local last = get(DEMO1.id, "offset=24&limit=10")
    assert.same({ next = "false", offset = "24", limit = "10" }, page_headers(last))
    assert.equal("[" .. runs[25] .. "]", last.body)
    for _, q in ipairs{ "offset=25", "offset=1000" } do
      local empty = get(DEMO1.id, q)
      assert.equal("[]", empty.body)
      assert.equal("false", empty.headers["x-nuon-page-next"])
    end
  end)

  it("ignores values strconv.Atoi rejects and keeps what it accepts", function()
    local cases = {
      { "limit=abc&offset=x&page=1.5", "0", "10", nil, 10 },
      { "limit=&offset=", "0", "10", nil, 10 },
      { "limit=%2B5", "0", "5", nil, 5 },
      { "limit=+5", "0", "10", nil, 10 }, -- "+" is a space in a query
      { "limit=007&offset=003", "3", "7", nil, 7 },
      { "limit=5.0", "0", "10", nil, 10 },
      { "limit=%205", "0", "10", nil, 10 },
      { "limit=99999999999999999999", "0", "10", nil, 10 },
      { "limit=9223372036854775807", "0", "100", nil, 25 },
      { "limit=3&limit=7", "0", "3", nil, 3 },
      { "limit=3;x=1", "0", "10", nil, 10 },
      { "limit=%33", "0", "3", nil, 3 },
      { "limit=%zz", "0", "10", nil, 10 },
      { "page=0&limit=4", "0", "4", nil, 4 },
      { "page=-2&offset=2&limit=4", "2", "4", nil, 4 },
      { "offset=-4&limit=4", "-4", "4", nil, 4 },
    }
    for _, c in ipairs(cases) do
      local res = get(DEMO1.id, c[1])
      assert.equal(200, res.status, c[1])
      assert.same({ next = c[5] < 25 and "true" or "false", offset = c[2], limit = c[3], number = c[4] },
        page_headers(res), c[1])
      assert.equal(c[5], #cjson.decode(res.body), c[1])
    end
  end)

  it("reproduces the limit edge cases of the Go code", function()
    -- limit=0: LIMIT 1, one row dropped again: an empty page that has a next
    local zero = get(DEMO1.id, "limit=0")
    assert.same({ next = "true", offset = "0", limit = "0" }, page_headers(zero))
    assert.equal("[]", zero.body)
    -- limit=-1: LIMIT 0, then models[:len-1] panics: 500 from the panicker
    local panic = get(DEMO1.id, "limit=-1")
    assert.equal(500, panic.status)
    assert.equal('{"error":"internal error occurred","description":"Please try the request again"}', panic.body)
    -- limit <= -2: no LIMIT at all, the last row dropped
    local all = get(DEMO1.id, "limit=-3&offset=5")
    assert.same({ next = "true", offset = "5", limit = "-3" }, page_headers(all))
    assert.equal(19, #cjson.decode(all.body))
  end)

  it("pages through every run newest first without gaps", function()
    local seen, all, offset = {}, {}, 0
    repeat
      local res = get(DEMO2.id, "limit=100&offset=" .. offset)
      for _, run in ipairs(cjson.decode(res.body)) do
        assert.is_nil(seen[run.id])
        seen[run.id] = true
        all[#all + 1] = run
      end
      offset = offset + tonumber(res.headers["x-nuon-page-limit"])
    until res.headers["x-nuon-page-next"] == "false"
    assert.equal(DEMO2.count, #all)
    for i = 2, #all do assert.is_true(all[i - 1].created_at > all[i].created_at) end
  end)
end)

describe("install ids", function()
  it("answers 200 [] for an unknown install", function()
    local res = get("inl00000000000000000000000")
    assert.equal(200, res.status)
    assert.equal("[]", res.body)
    assert.same({ next = "false", offset = "0", limit = "10" }, page_headers(res))
  end)

  it("takes the decoded path segment, %2F included, and logs raw and decoded", function()
    ts.install{ id = "a/b c", count = 3, flavor = "current", seed = 9 }
    ts.clear_requests()
    local res = assert(ts.get("/v1/installs/a%2Fb%20c/sandbox-runs?limit=2"))
    assert.equal(200, res.status)
    local runs = cjson.decode(res.body)
    assert.equal(2, #runs)
    assert.equal("a/b c", runs[1].install_id)
    local log = ts.requests()
    assert.equal(1, #log)
    assert.equal("/v1/installs/a%2Fb%20c/sandbox-runs?limit=2", log[1].uri)
    assert.equal("a/b c", log[1].install_id)
    assert.same({ limit = "2" }, log[1].args)
  end)

  it("answers gin's 404 for other paths and methods", function()
    for _, req in ipairs{ { "GET", "/v1/installs/a/b/sandbox-runs" }, { "POST", runs_path(DEMO1.id) },
      { "GET", "/v1/installs/" .. DEMO1.id }, { "GET", "/" }, { "GET", "/v1/installs//sandbox-runs" } } do
      local res = assert(ts.request(req[1], req[2], ts.auth_headers()))
      assert.equal(404, res.status, req[2])
      assert.equal("text/plain", res.headers["content-type"])
      assert.equal("404 page not found", res.body)
    end
  end)

  it("answers 400 for a malformed escape in the path", function()
    local res = assert(ts.get("/v1/installs/a%zzb/sandbox-runs"))
    assert.equal(400, res.status)
  end)
end)

describe("one run", function()
  local function run_path(install_id, run_id)
    return "/v1/installs/" .. ts.escape_segment(install_id) .. "/sandbox-runs/" .. ts.escape_segment(run_id)
  end

  it("serves a run by its id alone, without created_by, on both routes", function()
    local want = expected(DEMO2)[37]
    local id = cjson.decode(want).id
    -- want's created_by, cut out as the single-run query does not preload it
    local cut = want:gsub(',"created_by":%b{}', "", 1)
    for _, path in ipairs{ run_path(DEMO2.id, id), run_path("inlsomeotherinstall0000001", id),
      "/v1/installs/sandbox-runs/" .. id } do
      local res = assert(ts.get(path))
      assert.equal(200, res.status, path)
      assert.equal(JSON, res.headers["content-type"])
      assert.equal(cut, res.body, path)
      assert.is_nil(res.headers["x-nuon-page-next"])
    end
    assert.truthy(want:find('"created_by":{', 1, true))
  end)

  it("finds a run in a body set with /runs", function()
    ts.set_body("inlhandmade000000000000002", '[ {"id":"sbrA","status":"queued"} , {"x":[1,"]"],"id":"sbrB"}]')
    assert.equal('{"x":[1,"]"],"id":"sbrB"}', assert(ts.get(run_path("inlhandmade000000000000002", "sbrB"))).body)
    assert.equal('{"id":"sbrA","status":"queued"}', assert(ts.get("/v1/installs/sandbox-runs/sbrA")).body)
  end)

  it("answers 404 with the JSON error body for an unknown run", function()
    for _, path in ipairs{ run_path(DEMO1.id, "sbrnosuchrun00000000000001"), "/v1/installs/sandbox-runs/nope" } do
      local res = assert(ts.get(path))
      assert.equal(404, res.status)
      assert.equal(JSON, res.headers["content-type"])
      assert.equal('{"error":"unable to get install sandbox run: record not found","user_error":true,'
        .. '"description":"record not found"}', res.body)
    end
  end)

  it("checks the token and the org first", function()
    local res = assert(ts.request("GET", "/v1/installs/sandbox-runs/x", { ["X-Nuon-Org-ID"] = ts.org_id }))
    assert.equal(401, res.status)
  end)

  it("logs the route, the run id and the install id", function()
    ts.clear_requests()
    ts.get(run_path(DEMO1.id, "sbrX"))
    ts.get("/v1/installs/sandbox-runs/sbrY")
    ts.get(runs_path(DEMO1.id))
    local log = ts.requests()
    assert.same({ "run", "sbrX", DEMO1.id }, { log[1].route, log[1].run_id, log[1].install_id })
    assert.same({ "run_alias", "sbrY" }, { log[2].route, log[2].run_id })
    assert.is_nil(log[2].install_id)
    assert.same({ "runs", DEMO1.id }, { log[3].route, log[3].install_id })
    assert.is_nil(log[3].run_id)
  end)
end)

describe("X-Nuon-API-Version", function()
  it("is on every response of the API, errors and gin's 404 included", function()
    for _, res in ipairs{ get(DEMO1.id), assert(ts.get("/v1/installs/sandbox-runs/nope")),
      assert(ts.request("GET", runs_path(DEMO1.id), {})), assert(ts.get("/nowhere")) } do
      assert.equal(generator.API_VERSION, res.headers["x-nuon-api-version"])
    end
  end)
end)

describe("the wire", function()
  it("serves exactly the generator's runs", function()
    local res = get(DEMO3.id, "limit=100&offset=100")
    assert.equal("[" .. table.concat(expected(DEMO3), ",", 101, 200) .. "]", res.body)
  end)

  it("gzips JSON when asked, and keeps connections alive", function()
    local res = get(DEMO3.id, "limit=50", ts.auth_headers{ ["Accept-Encoding"] = "gzip" })
    assert.equal("gzip", res.headers["content-encoding"])
    assert.is_nil(get(DEMO3.id, "limit=50").headers["content-encoding"])
    local sock = socket.tcp()
    sock:settimeout(5)
    assert(sock:connect(ts.url:match("//([^:]+):(%d+)")))
    local req = "GET " .. runs_path(DEMO1.id, "limit=1") .. " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
      .. ts.token .. "\r\nX-Nuon-Org-ID: " .. ts.org_id .. "\r\n"
    sock:send(req .. "\r\n" .. req .. "Connection: close\r\n\r\n")
    local all = sock:receive("*a")
    sock:close()
    local n = select(2, all:gsub("HTTP/1%.1 200 OK", ""))
    assert.equal(2, n)
    assert.truthy(all:find("Connection: keep-alive", 1, true))
  end)

  it("sends Content-Length for small bodies and streams large ones chunked", function()
    local small = get(DEMO1.id, "offset=1000")
    assert.equal("2", small.headers["content-length"])
    local large = get(DEMO1.id, "limit=5")
    assert.equal("chunked", large.headers["transfer-encoding"])
  end)
end)

describe("faults", function()
  it("answers with the fault's status, body and headers, once by default", function()
    ts.fault{ install = DEMO1.id, status = 503, body = '{"error":"unavailable"}',
      headers = { ["X-Fault"] = "yes" }, retry_after = "2" }
    local res = get(DEMO1.id)
    assert.equal(503, res.status)
    assert.equal('{"error":"unavailable"}', res.body)
    assert.equal("yes", res.headers["x-fault"])
    assert.equal("2", res.headers["retry-after"])
    assert.equal(JSON, res.headers["content-type"])
    assert.equal(200, get(DEMO1.id).status)
  end)

  it("is consumed FIFO, one per matching request, `times` times", function()
    ts.fault{ install = "*", status = 500, times = 2, body = "a" }
    ts.fault{ install = DEMO2.id, status = 502, body = "b" }
    ts.fault{ install = "*", status = 504, retry_after = "Wed, 21 Oct 2015 07:28:00 GMT", body = "c" }
    assert.equal(3, #ts.faults())
    assert.equal("a", get(DEMO2.id).body)
    assert.equal("a", get(DEMO1.id).body)
    local c = get(DEMO1.id)
    assert.equal(504, c.status)
    assert.equal("Wed, 21 Oct 2015 07:28:00 GMT", c.headers["retry-after"])
    assert.equal(200, get(DEMO1.id).status)
    assert.equal("b", get(DEMO2.id).body)
    assert.same({}, ts.faults())
  end)

  it("applies before authentication", function()
    ts.fault{ install = DEMO1.id, status = 429, body = "slow down" }
    assert.equal(429, get(DEMO1.id, nil, {}).status)
  end)

  it("delays the response", function()
    ts.fault{ install = DEMO1.id, delay = 0.4 }
    local t0 = socket.gettime()
    local res = get(DEMO1.id, "limit=1")
    assert.equal(200, res.status)
    assert.is_true(socket.gettime() - t0 >= 0.38)
  end)

  it("closes the connection without a response", function()
    ts.fault{ install = DEMO1.id, close = true }
    local res, err = ts.get(runs_path(DEMO1.id))
    assert.is_nil(res)
    assert.equal("closed", err)
    assert.equal(200, get(DEMO1.id).status)
  end)

  it("stalls mid-body after sending the headers", function()
    ts.fault{ install = DEMO1.id, stall = 0.6 }
    local res, err, partial = ts.raw("GET " .. runs_path(DEMO1.id, "limit=3") .. " HTTP/1.1\r\nHost: x\r\n"
      .. "Connection: close\r\nAuthorization: Bearer " .. ts.token .. "\r\nX-Nuon-Org-ID: " .. ts.org_id
      .. "\r\n\r\n", 0.3)
    assert.is_nil(res)
    assert.equal("timeout", err)
    assert.equal(200, partial.status)
    ts.fault{ install = DEMO1.id, stall = 0.3, status = 200, body = "[1,2,3]" }
    local whole = get(DEMO1.id)
    assert.equal("[1,2,3]", whole.body)
    assert.equal("7", whole.headers["content-length"])
  end)

  it("lists and clears pending faults", function()
    ts.fault{ install = "x", status = 500, times = 3 }
    local f = ts.faults()
    assert.equal(1, #f)
    assert.equal(3, f[1].times)
    assert.equal("x", f[1].install)
    ts.clear_faults()
    assert.same({}, ts.faults())
  end)
end)

describe("inserting runs", function()
  it("prepends newer runs so later pages shift", function()
    local page1 = ids(get(DEMO2.id, "limit=10"))
    local first = cjson.decode(get(DEMO2.id, "limit=1").body)[1]
    local info = ts.insert(DEMO2.id, 3)
    assert.equal(DEMO2.count + 3, info.count)
    local fresh = cjson.decode(get(DEMO2.id, "limit=4").body)
    assert.equal(first.id, fresh[4].id)
    for i = 1, 3 do
      assert.is_true(fresh[i].created_at > first.created_at)
      assert.equal(DEMO2.id, fresh[i].install_id)
    end
    local page2 = ids(get(DEMO2.id, "limit=10&offset=10"))
    assert.same({ page1[8], page1[9], page1[10] }, { page2[1], page2[2], page2[3] })
    local tail = get(DEMO2.id, "limit=100&offset=100")
    assert.equal(23, #cjson.decode(tail.body))
  end)
end)

describe("the control API", function()
  it("serves a body set with /runs verbatim", function()
    ts.set_body("inlhandmade000000000000001", '[{"id":"sbr1", "x": [1, 2]} ]')
    local res = get("inlhandmade000000000000001", "limit=1")
    assert.equal('[{"id":"sbr1", "x": [1, 2]} ]', res.body)
    assert.same({ next = "false", offset = "0", limit = "1" }, page_headers(res))
  end)

  it("passes bridge through to the generator", function()
    for _, bridge in ipairs{ true, false } do
      ts.install{ id = "inlbridge", count = 40, flavor = "current", seed = 3, bridge = bridge }
      assert.equal(generator.body("inlbridge", { count = 40, flavor = "current", seed = 3, bridge = bridge }),
        get("inlbridge", "limit=40").body)
    end
  end)

  it("creates installs of each flavor and delays them by latency_ms", function()
    local info = ts.install{ id = "inllegacy0000000000000001", count = 30, flavor = "legacy", seed = 4,
      latency_ms = 300 }
    assert.equal(30, info.count)
    local t0 = socket.gettime()
    local res = get("inllegacy0000000000000001", "limit=30")
    assert.is_true(socket.gettime() - t0 >= 0.28)
    assert.equal(generator.body("inllegacy0000000000000001", { count = 30, flavor = "legacy", seed = 4 }),
      res.body)
    ts.install{ id = "inllegacy0000000000000001", latency_ms = 0 }
    assert.equal(30, ts.install_info("inllegacy0000000000000001").count)
  end)

  it("resets faults, the request log and non-demo installs, and restores demo installs", function()
    ts.install{ id = "inltemp", count = 5 }
    ts.insert(DEMO1.id, 2)
    ts.fault{ install = "*", status = 500 }
    ts.reset()
    assert.same({}, ts.faults())
    assert.same({}, ts.requests())
    assert.equal("[]", get("inltemp").body)
    assert.equal("[" .. table.concat(expected(DEMO1), ",", 1, 10) .. "]", get(DEMO1.id).body)
  end)

  it("logs each API request, oldest first, and not its own calls", function()
    get(DEMO1.id, "limit=2&offset=1")
    get("inlother", nil, { ["User-Agent"] = "spec/1.0" })
    local log = ts.requests()
    assert.equal(2, #log)
    assert.equal("GET", log[1].method)
    assert.equal(runs_path(DEMO1.id, "limit=2&offset=1"), log[1].uri)
    assert.equal(DEMO1.id, log[1].install_id)
    assert.same({ limit = "2", offset = "1" }, log[1].args)
    assert.equal("Bearer " .. ts.token, log[1].headers.authorization)
    assert.equal(ts.org_id, log[1].headers["x-nuon-org-id"])
    assert.equal(200, log[1].status)
    assert.equal("inlother", log[2].install_id)
    assert.equal("spec/1.0", log[2].headers["user-agent"])
    assert.equal(401, log[2].status)
    ts.clear_requests()
    assert.same({}, ts.requests())
  end)

  it("rejects bad input", function()
    local res = assert(ts.request("POST", "/__nuon/installs", {}, '{"count":3}'))
    assert.equal(400, res.status)
    res = assert(ts.request("POST", "/__nuon/installs", {}, '{"id":"x","flavor":"weird"}'))
    assert.equal(400, res.status)
    res = assert(ts.request("POST", "/__nuon/installs/" .. DEMO1.id .. "/insert", {}, "{}"))
    assert.equal(400, res.status)
    res = assert(ts.request("GET", "/__nuon/nothing", {}))
    assert.equal(404, res.status)
  end)
end)
