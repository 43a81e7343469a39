-- core.protocol (src/exchange.c): the C core's protocol rules for a transport
-- that moves the bytes itself (nuon.resty on cosockets).  Checked two ways:
-- what each method returns for hand-made responses, and that a response the
-- blocking client got from the test server, handed to the protocol as
-- nuon.resty would hand it, gives the very same result or error (one rule,
-- whichever transport).
local core = require "nuon.core"
local ts = require "helpers.testserver"

local TOKEN = "tok-0123456789abcdef"

local function protocol(opts)
  local s = { base_url = "http://api.test/prefix/", token = TOKEN, org_id = "org1", retries = 2,
    max_backoff = 30 }
  for k, v in pairs(opts or {}) do s[k] = v end
  return core.protocol(s)
end

local function failure(name, message, hint)
  return { failure = name, message = message, hint = hint }
end

describe("core.protocol: requests", function()
  it("builds paths and URLs as the blocking client does, ids as one encoded segment", function()
    local p = protocol()
    assert.equal("/v1/installs/a%2F%2E%2E%3Fb/sandbox-runs?limit=10&offset=20&page=2",
      p:path("a/..?b", 10, 20, 2))
    assert.equal("/v1/installs/i/sandbox-runs", p:path("i"))
    assert.equal("/v1/installs/i/sandbox-runs/r%20x", p:run_path("i", "r x"))
    assert.equal("http://api.test/prefix/v1/installs/i/sandbox-runs?offset=5", p:url("i", nil, 5))
    local c = ts.client()
    assert.equal(c:url("a/..?b", { limit = 10, offset = 20, page = 2 }):gsub("^.-/v1/", "/v1/"),
      p:path("a/..?b", 10, 20, 2))
    c:close()
  end)

  it("gives the header lines with the token, the org and the user agent", function()
    assert.same({ "Authorization: Bearer " .. TOKEN, "X-Nuon-Org-ID: org1", "Accept: application/json",
      "User-Agent: my-tool lua-nuon/" .. core.VERSION }, protocol{ user_agent = "my-tool" }:headers())
  end)

  it("checks its settings as core.new_client does, in the same words", function()
    local ok, err = pcall(core.protocol, { base_url = "http://x", token = "t", org_id = "o", retries = 11 })
    assert.is_false(ok)
    assert.matches("nuon.core.protocol: option 'retries' must be an integer from 0 to 10", err)
    ok, err = pcall(core.protocol, { base_url = "http://x", token = "t\r\nX: y", org_id = "o" })
    assert.is_false(ok)
    assert.matches("option 'token' contains a control character", err)
    assert.equal(64 * 1024 * 1024, protocol():max_body())
    assert.equal(500, protocol{ max_body = 500 }:max_body())
  end)
end)

describe("core.protocol: retry", function()
  it("retries 429, 502, 503, 504 and the failures libcurl's transports retry, while attempts last", function()
    local p = protocol{ retries = 2, max_backoff = 0.01 }
    for _, status in ipairs{ 429, 502, 503, 504 } do
      assert.is_number(p:retry(1, { status = status }))
      assert.is_number(p:retry(2, { status = status }))
      assert.is_nil(p:retry(3, { status = status }), "after retries + 1 attempts")
    end
    for _, status in ipairs{ 200, 400, 401, 404, 500 } do assert.is_nil(p:retry(1, { status = status })) end
    for _, name in ipairs{ "timeout", "connect", "resolve", "send", "recv", "empty", "partial" } do
      assert.is_number(p:retry(1, failure(name, "x")), name)
    end
    for _, name in ipairs{ "protocol", "tls", "tls_verify", "setup", "too_large" } do
      assert.is_nil(p:retry(1, failure(name, "x")), name)
    end
  end)

  it("waits a jittered backoff under max_backoff, or Retry-After capped by it", function()
    local p = protocol{ max_backoff = 5 }
    for _ = 1, 50 do
      local d = p:retry(1, { status = 503 })
      assert.is_true(d >= 0 and d <= 0.25, "first retry within 0.25 s: " .. d)
    end
    assert.near(3, p:retry(1, { status = 429, headers = { "Retry-After: 3" } }), 0.01)
    assert.near(5, p:retry(1, { status = 429, headers = { "retry-after:  600" } }), 0.01)
    local d = p:retry(1, { status = 503, headers = { "Retry-After: " .. os.date("!%a, %d %b %Y %H:%M:%S GMT",
      os.time() + 2) } })
    assert.is_true(d >= 0.9 and d <= 2.1, "an HTTP date two seconds ahead: " .. d)
  end)

  it("raises for a response it cannot read (a bug in the transport)", function()
    local p = protocol()
    assert.has_error(function() p:retry(1, failure("exploded", "x")) end)
    assert.has_error(function() p:retry(1, { status = 42 }) end)
    assert.has_error(function() p:retry(0, { status = 503 }) end)
    assert.has_error(function() p:retry(1, "503") end)
  end)
end)

describe("core.protocol: result", function()
  it("decodes a 200 with its page headers, and one run with its API version", function()
    local p = protocol()
    local runs = assert(p:result(1, { status = 200, body = "[]", headers = { "X-Nuon-Page-Next: true",
      "X-Nuon-Page-Offset: 20", "x-nuon-page-limit: 10", "X-Nuon-API-Version: 2026-11" } }))
    assert.same({ next = true, offset = 20, limit = 10, api_version = "2026-11" }, runs.page)
    local run = assert(p:result(1, { status = 200, body = '{"id":"r1"}',
      headers = { "X-Nuon-API-Version: 2026-11" } }, nil, nil, true))
    assert.equal("r1", run.id)
    assert.equal("2026-11", core.meta(run).api_version)
  end)

  it("builds the error objects of the libcurl transports, with the attempts and the token scrubbed", function()
    local p = protocol()
    local _, err = p:result(3, { status = 503, body = '{"error":"busy ' .. TOKEN .. '","description":"later"}' })
    assert.same({ "http", 503, true, 3, "HTTP 503 Service Unavailable: busy <redacted>: later (after 3 attempts)" },
      { err.kind, err.status, err.retryable, err.attempts, err.message })
    assert.equal("nuon.error", getmetatable(err).__name)
    _, err = p:result(1, { status = 302, headers = { "Location: http://elsewhere/?t=" .. TOKEN } })
    assert.equal("HTTP 302 Found: redirects are not followed (Location: http://elsewhere/?t=<redacted>)",
      err.message)
    _, err = p:result(2, failure("empty", "Empty reply from server"))
    assert.same({ "network", true, "Empty reply from server (after 2 attempts)" },
      { err.kind, err.retryable, err.message })
    _, err = p:result(1, failure("timeout", "Operation timed out after 10 milliseconds"))
    assert.same({ "timeout", "request timed out: Operation timed out after 10 milliseconds" },
      { err.kind, err.message })
    _, err = protocol{ max_body = 500 }:result(1, failure("too_large"))
    assert.same({ "decode", false, "response body exceeds max_body (500 bytes)" },
      { err.kind, err.retryable, err.message })
    _, err = p:result(1, failure("tls_verify", "unable to get local issuer certificate", "trust the CA"))
    assert.equal("TLS certificate verification failed: unable to get local issuer certificate (trust the CA)",
      err.message)
    _, err = p:result(1, { status = 200, body = "[{" })
    assert.same({ "decode", 200, false }, { err.kind, err.status, err.retryable })
  end)

  it("gives what the blocking client gives for the same server response", function()
    ts.reset()
    local c = ts.client{ retries = 0 }
    local p = core.protocol{ base_url = ts.url, token = ts.token, org_id = ts.org_id, retries = 0 }
    local id = ts.demo[1].id
    local cases = {
      { status = 404, body = '{"error":"not found","description":"no such install","user_error":true}' },
      { status = 503, body = '{"error":"unavailable"}' },
      { status = 500, body = "oops" },
    }
    for _, f in ipairs(cases) do
      ts.clear_faults()
      ts.fault{ install = id, status = f.status, body = f.body }
      local _, want = c:sandbox_runs(id, { limit = 3 })
      local _, got = p:result(1, { status = f.status, body = f.body })
      for _, k in ipairs{ "kind", "message", "status", "retryable", "attempts", "error", "description",
        "user_error" } do
        assert.equal(want[k], got[k], k .. " for HTTP " .. f.status)
      end
    end
    ts.clear_faults()
    local want = assert(c:sandbox_runs(id, { limit = 3 }))
    local raw = assert(ts.get(p:path(id, 3)))
    local headers = {}
    for name, value in pairs(raw.headers) do headers[#headers + 1] = name .. ": " .. value end
    local got = assert(p:result(1, { status = raw.status, headers = headers, body = raw.body }))
    assert.same(want.page, got.page)
    assert.equal(#want, #got)
    for i = 1, #want do assert.equal(want[i].id, got[i].id) end
    c:close()
  end)
end)
