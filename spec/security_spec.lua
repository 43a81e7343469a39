-- Security guarantees, each checked against the test API server (spec/server):
-- TLS verification (HTTPS listener with a CA made at test time by
-- spec/tls/mkcerts.sh), redirects never followed (a second "other host"
-- listener records whatever reaches it), install ids always one encoded path
-- segment, no header injection, and the token kept out of every error, every
-- tostring and any output.
local nuon = require "nuon"
local ts = require "helpers.testserver"

local TOKEN = ts.token
local ID = ts.demo[1].id

local function client(opts) return ts.client(opts, { retries = 0 }) end
local header = ts.header

-- Asserts that `secret` occurs in no string reachable from value (keys,
-- values, nested tables, metatables' __tostring result).
local function assert_no_secret(value, secret, where, seen)
  seen = seen or {}
  where = where or "value"
  if type(value) == "string" then
    assert.is_nil(value:find(secret, 1, true), where .. " contains the token: " .. value)
  elseif type(value) == "table" and not seen[value] then
    seen[value] = true
    for k, v in pairs(value) do
      assert_no_secret(k, secret, where .. " (a key)", seen)
      assert_no_secret(v, secret, where .. "." .. tostring(k), seen)
    end
    assert_no_secret(tostring(value), secret, "tostring(" .. where .. ")", seen)
  elseif value ~= nil then
    assert_no_secret(tostring(value), secret, where, seen)
  end
end

describe("TLS", function()
  local url
  setup(function()
    url = assert(ts.tls_url, "the test server has no HTTPS listener (is openssl installed?)")
  end)
  before_each(function() ts.reset() end)

  it("verifies certificates by default and refuses an unknown CA with a clear message", function()
    local c = client{ base_url = url, retries = 2 }
    local runs, err = c:sandbox_runs(ID)
    assert.is_nil(runs)
    assert.equal("network", err.kind)
    assert.matches("^TLS certificate verification failed: ", err.message)
    assert.matches("ca_file", err.message)
    assert.is_false(err.retryable)
    assert.equal(1, err.attempts) -- not retried: it would fail the same way
    c:close()
  end)

  it("accepts the server with ca_file set to the CA that signed it", function()
    local c = client{ base_url = url, ca_file = ts.ca_file }
    local runs = assert(c:sandbox_runs(ID, { limit = 3 }))
    assert.equal(3, #runs)
    local all = assert(c:all_sandbox_runs(ID, { page_size = 10 }))
    assert.equal(ts.demo[1].count, #all)
    c:close()
  end)

  it("refuses a certificate signed by another CA", function()
    local c = client{ base_url = url, ca_file = ts.other_ca_file }
    local runs, err = c:sandbox_runs(ID)
    assert.is_nil(runs)
    assert.matches("^TLS certificate verification failed: ", err.message)
    c:close()
  end)

  it("refuses a certificate issued for another host name, even from a trusted CA", function()
    -- the certificate names IP 127.0.0.1 only
    local c = client{ base_url = url:gsub("127%.0%.0%.1", "localhost"), ca_file = ts.ca_file }
    local runs, err = c:sandbox_runs(ID)
    assert.is_nil(runs)
    assert.matches("^TLS certificate verification failed: ", err.message)
    assert.matches("localhost", err.message)
    c:close()
  end)

  it("says so when ca_file cannot be read", function()
    local c = client{ base_url = url, ca_file = "/nonexistent/nuon-ca.pem" }
    local runs, err = c:sandbox_runs(ID)
    assert.is_nil(runs)
    assert.equal("config", err.kind)
    assert.matches("^cannot use ca_file: .*/nonexistent/nuon%-ca%.pem", err.message)
    assert.is_false(err.retryable)
    c:close()
  end)

  it("verifies in sandbox_runs_many and in event-loop requests too", function()
    local c = client{ base_url = url }
    local results = assert(c:sandbox_runs_many({ ID, ts.demo[2].id }))
    assert.matches("^TLS certificate verification failed: ", results[ID].err.message)
    assert.matches("^TLS certificate verification failed: ", results[ts.demo[2].id].err.message)
    local _, err = c:start_sandbox_runs(ID):perform()
    assert.matches("^TLS certificate verification failed: ", err.message)
    c:close()
    local ok = client{ base_url = url, ca_file = ts.ca_file }
    results = assert(ok:sandbox_runs_many({ ID, ts.demo[2].id }, { limit = 2 }))
    assert.equal(2, #results[ID].runs)
    assert.equal(2, #assert(ok:start_sandbox_runs(ID, { limit = 2 }):perform()))
    ok:close()
  end)

  it("skips verification with verify_tls = false", function()
    local c = client{ base_url = url, verify_tls = false }
    local runs = assert(c:sandbox_runs(ID, { limit = 2 }))
    assert.equal(2, #runs)
    c:close()
  end)

  it("is documented: the README calls verify_tls = false dangerous", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("*a")
    f:close()
    local row = readme:match("\n| `verify_tls` |[^\n]*")
    assert.is_truthy(row, "no verify_tls row in the README's option table")
    assert.matches("dangerous", row)
  end)
end)

describe("redirects", function()
  before_each(function()
    ts.reset()
    ts.clear_other_requests()
  end)

  it("the other host records what reaches it (so an empty log means something)", function()
    local c = client{ base_url = ts.other_url }
    assert(c:sandbox_runs("inlprobe"))
    local log = ts.other_requests()
    assert.equal(1, #log)
    assert.equal("Bearer " .. TOKEN, header(log[1], "authorization"))
    c:close()
  end)

  for _, status in ipairs{ 301, 302, 303, 307, 308 } do
    it("are never followed: " .. status .. " is an http error naming the Location", function()
      local target = ts.other_url .. "/v1/installs/" .. ID .. "/sandbox-runs"
      ts.fault{ install = "*", status = status, headers = { Location = target }, times = 4 }
      local c = client{ retries = 2 }
      local runs, err = c:sandbox_runs(ID)
      assert.is_nil(runs)
      assert.equal("http", err.kind)
      assert.equal(status, err.status)
      assert.is_false(err.retryable)
      assert.equal(1, err.attempts)
      assert.matches("redirects are not followed %(Location: " .. target:gsub("%p", "%%%0") .. "%)$",
        err.message)
      assert.same({}, ts.other_requests()) -- neither the token nor the org id went there
      c:close()
    end)
  end

  it("are never followed by paging, sandbox_runs_many or event-loop requests", function()
    local target = ts.other_url .. "/elsewhere"
    ts.fault{ install = "*", status = 307, headers = { Location = target }, times = 10 }
    local c = client()
    local all, err = c:all_sandbox_runs(ID)
    assert.is_nil(all)
    assert.equal(307, err.status)
    local ok, err2 = pcall(function() for _ in c:each_sandbox_run(ID) do end end)
    assert.is_false(ok)
    assert.equal(307, err2.status)
    local results = assert(c:sandbox_runs_many({ ID, ts.demo[2].id }))
    assert.equal(307, results[ID].err.status)
    assert.equal(307, results[ts.demo[2].id].err.status)
    local _, err3 = c:start_sandbox_runs(ID):perform()
    assert.equal(307, err3.status)
    assert.same({}, ts.other_requests())
    c:close()
  end)

  it("are not followed over TLS either", function()
    local url = assert(ts.tls_url)
    ts.fault{ install = "*", status = 302, headers = { Location = ts.other_url .. "/x" } }
    local c = client{ base_url = url, ca_file = ts.ca_file }
    local _, err = c:sandbox_runs(ID)
    assert.equal(302, err.status)
    assert.same({}, ts.other_requests())
    c:close()
  end)
end)

describe("install ids", function()
  local c
  before_each(function()
    ts.reset()
    c = client()
  end)
  after_each(function() c:close() end)

  -- Decodes a path segment (the server does the same).
  local function unescape(s)
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
  end

  for _, id in ipairs{
    "a/b", "../x", "..", ".", "?limit=100", "#fragment", "%2F", "100%", "with space",
    "a+b", "a;b", "a&offset=5", "ñandú", "a\r\nX-Injected: yes", "tab\there", "\"quoted\"", "<b>",
  } do
    local shown = ("%q"):format(id):gsub("\\\n", "\\n")
    it("reaches the server as one encoded path segment: " .. shown, function()
      ts.clear_requests()
      local runs, err = c:sandbox_runs(id)
      assert.is_nil(err)
      assert.equal(0, #runs) -- an unknown install: 200 []
      local log = ts.requests()
      assert.equal(1, #log)
      local req = log[1]
      assert.equal(id, req.install_id)
      assert.equal("", req.query)
      local segment = req.path:match("^/v1/installs/([^/]+)/sandbox%-runs$")
      assert.is_truthy(segment, req.path)
      assert.matches("^[%w%-_~%%]+$", segment) -- nothing but unreserved characters and escapes
      assert.equal(id, unescape(segment))
      assert.is_nil(header(req, "x-injected"))
    end)
  end

  it("cannot climb out of the API path (nginx refuses what would, cleanly)", function()
    local id = "../../../../etc/passwd"
    local url = c:url(id)
    local segment = url:match("/v1/installs/([^/]+)/sandbox%-runs$")
    assert.is_truthy(segment, url)
    assert.equal(id, unescape(segment))
    assert.matches("^[%w%-_~%%]+$", segment)
    -- nginx itself resolves the decoded dots and answers 400 before the API sees it
    local runs, err = c:sandbox_runs(id)
    assert.is_nil(runs)
    assert.equal("http", err.kind)
    assert.equal(400, err.status)
  end)

  it("encodes a NUL byte too (the server refuses it, cleanly)", function()
    assert.matches("/v1/installs/a%%00b/sandbox%-runs$", c:url("a\0b"))
    local runs, err = c:sandbox_runs("a\0b")
    assert.is_nil(runs)
    assert.equal("http", err.kind)
    assert.equal(400, err.status)
  end)
end)

describe("nuon.new refuses header injection", function()
  local base = { base_url = "http://127.0.0.1:1", token = "tok-abcdefgh", org_id = "org1" }
  for _, field in ipairs{ "token", "org_id", "user_agent" } do
    for name, ch in pairs{ CR = "\r", LF = "\n", NUL = "\0", CRLF = "\r\n" } do
      it("with " .. name .. " in " .. field, function()
        local opts = {}
        for k, v in pairs(base) do opts[k] = v end
        opts[field] = "value-secret" .. ch .. "X-Injected: yes"
        local ok, err = pcall(nuon.new, opts)
        assert.is_false(ok)
        assert.matches("option '" .. field .. "' contains a control character", err)
        assert.is_nil(err:find("value-secret", 1, true)) -- the value is not shown
      end)
    end
  end

  it("from the environment and the config file as well", function()
    local config = require "nuon.config"
    local env = { NUON_API_TOKEN = "tok-secret\r\nX: y", NUON_ORG_ID = "org1" }
    local ok, err = pcall(config.resolve, { config_file = nil }, function(k) return env[k] end)
    assert.is_false(ok)
    assert.matches("NUON_API_TOKEN contains a control character", err)
    assert.is_nil(err:find("tok-secret", 1, true))
    env = { NUON_API_TOKEN = "tok", NUON_ORG_ID = "org\n1" }
    ok, err = pcall(config.resolve, {}, function(k) return env[k] end)
    assert.is_false(ok)
    assert.matches("NUON_ORG_ID contains a control character", err)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('api_token: "tok-secret\\r\\nX: y"\norg_id: org1\n')
    f:close()
    ok, err = pcall(config.resolve, { config_file = path }, function() return nil end)
    os.remove(path)
    assert.is_false(ok)
    assert.matches("api_token in .* contains a control character", err)
    assert.is_nil(err:find("tok-secret", 1, true))
  end)

  it("in the C core as well, for callers of nuon.core", function()
    local core = require "nuon.core"
    for _, field in ipairs{ "token", "org_id", "user_agent" } do
      local opts = { base_url = "http://127.0.0.1:1", token = "t", org_id = "o" }
      opts[field] = "x\r\ny"
      local ok, err = pcall(core.new_client, opts)
      assert.is_false(ok)
      assert.matches("option '" .. field .. "' contains", err)
    end
  end)
end)

describe("the token", function()
  local SECRET = "tok-" .. string.rep("s3cr3t", 8)

  before_each(function()
    ts.reset()
    ts.clear_other_requests()
  end)

  it("is in no tostring and no field of the client", function()
    local c = client{ token = SECRET }
    assert_no_secret(c, SECRET, "client")
    assert_no_secret(tostring(c._core), SECRET, "tostring(client._core)")
    assert_no_secret(getmetatable(c), SECRET, "getmetatable(client)")
    c:close()
    assert_no_secret(tostring(c), SECRET, "tostring(closed client)")
  end)

  it("is in no error of any kind", function()
    local errors = {}
    local function collect(label, c, id, opts)
      local runs, err = c:sandbox_runs(id or ID, opts)
      assert.is_nil(runs, label)
      errors[label] = err
    end
    local c = client{ token = SECRET }
    collect("401", c)
    local good = client{ retries = 1 }
    ts.fault{ install = "*", status = 503, times = 2 }
    collect("503 after retries", good)
    ts.fault{ install = "*", status = 302, headers = { Location = ts.other_url .. "/x" } }
    collect("redirect", client{ token = SECRET })
    collect("refused", client{ token = SECRET, base_url = "http://127.0.0.1:1", retries = 1 })
    ts.fault{ install = "*", delay = 3 }
    collect("timeout", client{ token = SECRET, timeout = 0.3 })
    ts.set_body("inlbroken00000000000000001", '[{"id": ')
    collect("decode", good, "inlbroken00000000000000001")
    ts.set_body("inlbroken00000000000000002", '[{"id":"sbr1","run_type":"x"}]')
    collect("validation", client{ strict = true }, "inlbroken00000000000000002")
    collect("max_body", client{ token = SECRET, max_body = 10 })
    if ts.tls_url then collect("tls", client{ token = SECRET, base_url = ts.tls_url }) end
    c:close()
    collect("closed", c)
    for label, err in pairs(errors) do
      assert.is_table(err, label)
      assert_no_secret(err, SECRET, label)
      assert_no_secret(tostring(err), SECRET, "tostring(" .. label .. ")")
    end
    local results = client{ token = SECRET }:sandbox_runs_many({ ID, ts.demo[2].id })
    assert_no_secret(results, SECRET, "sandbox_runs_many results")
  end)

  it("is in no message of nuon.new", function()
    for _, opts in ipairs{
      { token = SECRET, org_id = "o", base_url = "ftp://" .. SECRET },
      { token = SECRET, org_id = "o", base_url = "http://user:" .. SECRET .. "@host/" },
      { token = SECRET, org_id = "o", base_url = ts.url, [SECRET] = true },
      { token = SECRET, org_id = "o", base_url = ts.url, timeout = SECRET },
      { token = SECRET, org_id = "o", base_url = ts.url, user_agent = SECRET .. "\n" },
      { token = SECRET, base_url = ts.url, config_file = "/nonexistent/nuon" },
    } do
      local ok, err = pcall(nuon.new, opts)
      assert.is_false(ok)
      assert_no_secret(err, SECRET, "nuon.new error")
    end
  end)

  it("is never written to stdout or stderr (no debug output)", function()
    -- a separate process runs failing and succeeding calls; all it prints is
    -- checked for the token (libcurl's verbose output would show the headers)
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(([[
      package.path, package.cpath = %q, %q
      local nuon = require "nuon"
      local function new(o)
        local t = { token = %q, org_id = %q, base_url = %q, retries = 1, max_backoff = 0.01, timeout = 2 }
        for k, v in pairs(o) do t[k] = v end
        return nuon.new(t)
      end
      local c = new{}
      assert(c:sandbox_runs(%q, { limit = 2 }))
      assert(c:sandbox_runs_many({ %q }))
      assert(c:start_sandbox_runs(%q):perform())
      new{ base_url = "http://127.0.0.1:1" }:sandbox_runs("x")
      new{ token = "wrong-" .. %q }:sandbox_runs("x")
      print("done")
    ]]):format(package.path, package.cpath, TOKEN, ts.org_id, ts.url, ID, ID, ID, TOKEN))
    f:close()
    local lua = arg and arg[-1] or "lua5.4"
    local p = assert(io.popen(("%s %s 2>&1"):format(lua, script)))
    local out = p:read("*a")
    p:close()
    os.remove(script)
    assert.equal("done\n", out)
    assert.is_nil(out:find(TOKEN, 1, true))
  end)

  it("is scrubbed from errors when a hostile server echoes it back", function()
    -- the test server's own token, so that valid requests get through too
    local echo = "invalid token " .. TOKEN .. " for org"
    ts.fault{ install = "*", status = 401,
      body = ('{"error":"%s","description":"%s","user_error":true}'):format(echo, echo) }
    ts.fault{ install = "*", status = 302, headers = { Location = "http://example.com/?t=" .. TOKEN } }
    local c = client()
    local _, err = c:sandbox_runs(ID)
    assert.equal(401, err.status)
    assert.equal("invalid token <redacted> for org", err.error)
    assert.equal("HTTP 401 Unauthorized: invalid token <redacted> for org: invalid token <redacted> for org",
      err.message)
    assert_no_secret(err, TOKEN, "401 error")
    local _, err2 = c:sandbox_runs(ID)
    assert.equal(302, err2.status)
    assert.matches("Location: http://example.com/%?t=<redacted>", err2.message)
    assert_no_secret(err2, TOKEN, "302 error")
    ts.set_body("inlecho0000000000000000001", ('[{"id":"sbr1","run_type":"%s"}]'):format(TOKEN))
    local strict = client{ strict = true }
    local _, err3 = strict:sandbox_runs("inlecho0000000000000000001")
    assert.equal("validation", err3.kind)
    assert.equal("<redacted>", err3.value)
    assert_no_secret(err3, TOKEN, "validation error")
    ts.fault{ install = "*", status = 403, body = ('{"error":"%s"}'):format(echo) }
    local results = c:sandbox_runs_many({ ID })
    assert.equal(403, results[ID].err.status)
    assert_no_secret(results[ID].err, TOKEN, "sandbox_runs_many error")
    strict:close()
    c:close()
  end)
end)
