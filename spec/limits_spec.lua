-- Limits and numbers in options (API.md, issue 11): integral floats taken
-- wherever an integer is, ranges checked once with the option named, the C
-- core refusing what would overflow with the same words, errors that say
-- what happened, and a fresh error object per failure.
local nuon = require "nuon"
local core = require "nuon.core"
local ts = require "helpers.testserver"

local ID = "inllimitsspec0000000000001"

local function raised(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "did not raise")
  return tostring(err)
end

describe("integer options", function()
  local c
  before_each(function()
    ts.reset()
    ts.install{ id = ID, count = 30, flavor = "current", seed = 3 }
    ts.clear_requests()
    c = ts.client()
  end)
  after_each(function() c:close() end)

  it("sandbox_runs takes limit = 10/2 and sends limit=5", function()
    local runs = assert(c:sandbox_runs(ID, { limit = 10 / 2, offset = 4 / 2 }))
    assert.equal(5, #runs)
    assert.equal("/v1/installs/" .. ID .. "/sandbox-runs?limit=5&offset=2", ts.last_request().uri)
  end)

  it("all_sandbox_runs takes page_size = 20/2 and max = 25.0", function()
    local runs = assert(c:all_sandbox_runs(ID, { page_size = 20 / 2, max = 25.0 }))
    assert.equal(25, #runs)
    for _, r in ipairs(ts.requests()) do assert.equal("10", r.args.limit) end
  end)

  it("sandbox_runs_many takes limit = 5.0 and concurrency = 4.0", function()
    local res = c:sandbox_runs_many({ ID }, { limit = 5.0, concurrency = 4.0 })
    assert.equal(5, #res[ID].runs)
  end)

  it("start_sandbox_runs takes limit = 6/2", function()
    local req = assert(c:start_sandbox_runs(ID, { limit = 6 / 2 }))
    while not req:done() do req:step() end
    assert.equal(3, #assert(req:result()))
    req:close()
  end)

  it("a non-integral or negative value raises naming the option, blaming the caller", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local msg = raised(function() c:sandbox_runs(ID, { limit = 2.5 }) end)
    assert.equal(("spec/limits_spec.lua:%d: nuon.sandbox_runs: option 'limit' must be a"
      .. " non-negative integer"):format(line), msg)
    assert.matches("option 'page_size' must be a positive integer",
      raised(c.all_sandbox_runs, c, ID, { page_size = -1 }))
  end)

  it("the C core takes integral floats too, and refuses others with an argument error", function()
    local h = core.new_client{ base_url = ts.url, token = ts.token, org_id = ts.org_id }
    assert.equal(ts.url .. "/v1/installs/x/sandbox-runs?limit=5", h:url("x", 10 / 2))
    assert.matches("integer from 0 to 2%^53 expected", raised(h.url, h, "x", 2.5))
    assert.matches("integer from 0 to 2%^53 expected", raised(h.url, h, "x", -1))
    assert.matches("integer from 0 to 2%^53 expected", raised(h.url, h, "x", 2^63))
    h:close()
  end)
end)

describe("option ranges", function()
  local base = { base_url = "http://127.0.0.1:1", token = "t0k3n-t0k3n", org_id = "o" }
  local function with(k, v)
    local t = {}
    for kk, vv in pairs(base) do t[kk] = vv end
    t[k] = v
    return t
  end

  it("values a C type cannot hold raise in nuon.new, naming the option", function()
    assert.matches("option 'max_body' must be an integer from 1 to 2%^53",
      raised(nuon.new, with("max_body", 2^64)))
    assert.matches("option 'timeout' must be a number of seconds from 0.001 to 2147483",
      raised(nuon.new, with("timeout", 1e17)))
    assert.matches("option 'connect_timeout' must be a number of seconds from 0.001 to 2147483",
      raised(nuon.new, with("connect_timeout", 1e17)))
    assert.matches("option 'retries' must be an integer from 0 to 10",
      raised(nuon.new, with("retries", 11)))
  end)

  it("the C core checks the same bounds with the same words", function()
    local cases = {
      { "max_body", 2^64, "must be an integer from 1 to 2^53" },
      { "max_runs", 0, "must be an integer from 1 to 2^53" },
      { "timeout", 1e17, "must be a number of seconds from 0.001 to 2147483" },
      { "connect_timeout", 0.0001, "must be a number of seconds from 0.001 to 2147483" },
      { "max_backoff", -1, "must be a number of seconds from 0 to 2147483" },
      { "retries", 11, "must be an integer from 0 to 10" },
      { "retries", 1.5, "must be an integer from 0 to 10" },
    }
    for _, case in ipairs(cases) do
      local name, v, words = case[1], case[2], case[3]
      local lua_msg = raised(nuon.new, with(name, v))
      local c_msg = raised(core.new_client, with(name, v))
      assert.equal("nuon.core.new_client: option '" .. name .. "' " .. words, c_msg)
      assert.truthy(lua_msg:find("option '" .. name .. "' " .. words, 1, true), lua_msg)
    end
  end)

  it("core.limits holds the bounds nuon.config checks", function()
    assert.equal(0.001, core.limits.min_seconds)
    assert.equal(2147483, core.limits.max_seconds)
    assert.equal(10, core.limits.max_retries)
    assert.equal(2^53, core.limits.max_int)
    assert.equal(10000, core.limits.default_max_runs)
    assert.equal(256, core.limits.max_concurrency)
    assert.equal(1000, core.limits.max_depth)
  end)

  it("nuon.decode_sandbox_runs bounds max_depth as the core does, in its own name", function()
    local ok, msg = pcall(nuon.decode_sandbox_runs, "[]", { max_depth = 1001 })
    assert.is_false(ok)
    assert.matches("nuon.decode_sandbox_runs: option 'max_depth' must be an integer from 1 to 1000$", msg)
    assert.equal(0, #assert(nuon.decode_sandbox_runs("[]", { max_depth = 1000 })))
  end)

  it("core.decode checks max_runs and max_depth", function()
    assert.equal("nuon.core.decode: option 'max_runs' must be an integer from 1 to 2^53",
      raised(core.decode, "[]", { max_runs = 0 }))
    assert.equal("nuon.core.decode: option 'max_depth' must be an integer from 1 to 1000",
      raised(core.decode, "[]", { max_depth = 1.5 }))
    assert.equal(2, #assert(core.decode("[{},{}]", { max_runs = 4 / 2 })))
  end)
end)

describe("decode_sandbox_runs and max_runs", function()
  local body = "[" .. ("{},"):rep(99) .. "{}]"
  it("has no limit unless given", function()
    assert.equal(100, #assert(nuon.decode_sandbox_runs(body)))
  end)
  it("fails with kind decode naming max_runs when given", function()
    local runs, err = nuon.decode_sandbox_runs(body, { max_runs = 99 })
    assert.is_nil(runs)
    assert.equal("decode", err.kind)
    assert.equal("response holds more than max_runs (99) runs", err.message)
    assert.equal(100, #assert(nuon.decode_sandbox_runs(body, { max_runs = 100 })))
  end)
end)

describe("errors that say what happened", function()
  local c
  before_each(function()
    ts.reset()
    c = ts.client{ retries = 0 }
  end)
  after_each(function() c:close() end)

  it("a 1 MB response header line is named, not 'Out of memory'", function()
    ts.fault{ install = "*", headers = { ["X-Big"] = ("a"):rep(1000000) } }
    local runs, err = c:sandbox_runs(ts.demo[1].id)
    assert.is_nil(runs)
    assert.equal("network", err.kind)
    assert.equal("response header line exceeds 102400 bytes", err.message)
    assert.is_false(err.retryable)
    -- the client is still usable
    assert.truthy(c:sandbox_runs(ts.demo[1].id, { limit = 1 }))
  end)

  it("a 1 MB install id raises a programmer error with the limit", function()
    local id = ("i"):rep(1000000)
    for _, m in ipairs{ "sandbox_runs", "all_sandbox_runs", "start_sandbox_runs" } do
      assert.matches("nuon%." .. m .. ": install_id is 1000000 bytes, at most 1024",
        raised(c[m], c, id))
    end
    assert.matches("install_id is 1000000 bytes, at most 1024",
      raised(c.sandbox_runs_many, c, { "ok", id }))
    local h = core.new_client{ base_url = ts.url, token = ts.token, org_id = ts.org_id }
    assert.matches("install_id is 1000000 bytes, at most 1024", raised(h.url, h, id))
    h:close()
  end)

  it("each failure gets a fresh error table, after close() too", function()
    c:close()
    local _, e1 = c:sandbox_runs("x")
    local _, e2 = c:all_sandbox_runs("x")
    e1.seen_by_first_caller = true
    assert.equal("the client is closed", e2.message)
    assert.is_not.equal(e1, e2)
    assert.is_nil(e2.seen_by_first_caller)
  end)
end)
