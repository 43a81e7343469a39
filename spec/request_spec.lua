-- The non-blocking request object, driven by a select() loop the way an
-- event loop (libuv, nginx, ...) would drive it.
local ts = require "helpers.testserver"

local client = ts.client

local drive = require "helpers.select_loop"

describe("client:start_sandbox_runs", function()
  local c
  before_each(function()
    ts.reset()
    c = client()
  end)
  after_each(function() c:close() end)

  it("gives the same runs as a blocking call when driven by a select loop", function()
    local want = assert(c:sandbox_runs(ts.demo[1].id, { limit = 7 }))
    local req = assert(c:start_sandbox_runs(ts.demo[1].id, { limit = 7 }))
    assert.is_false(req:done())
    local runs = drive(req)
    assert.equal(7, #runs)
    for i = 1, 7 do assert.equal(want[i].id, runs[i].id) end
    assert.same(want.page, runs.page)
    req:close()
  end)

  it("returns control to the loop while the server is slow", function()
    ts.fault{ install = ts.demo[1].id, delay = 0.5 }
    local req = c:start_sandbox_runs(ts.demo[1].id)
    local runs, turns = drive(req)
    assert.equal(10, #runs)
    assert.is_true(turns >= 5, "only " .. turns .. " loop turns")
  end)

  it("waits for its retry without a socket and then succeeds", function()
    ts.fault{ install = "*", status = 503, body = '{"error":"busy"}' }
    local req = c:start_sandbox_runs(ts.demo[1].id, { limit = 2 })
    local runs = drive(req)
    assert.equal(2, #runs)
    assert.matches("attempt 2", tostring(req))
  end)

  it("reports errors like a blocking call", function()
    ts.fault{ install = "*", status = 404, body = '{"error":"no such install"}' }
    local req = c:start_sandbox_runs(ts.demo[1].id)
    local runs, err = req:perform()
    assert.is_nil(runs)
    assert.equal("http", err.kind)
    assert.equal("HTTP 404 Not Found: no such install", err.message)
  end)

  it("can be performed blocking, and survives its client being closed", function()
    local c2 = client()
    local req = c2:start_sandbox_runs(ts.demo[2].id, { limit = 3 })
    c2:close()
    local runs = assert(req:perform())
    assert.equal(3, #runs)
  end)

  it("fails cleanly when closed before it finished", function()
    local req = c:start_sandbox_runs(ts.demo[1].id)
    req:close()
    assert.is_true(req:done())
    local runs, err = req:result()
    assert.is_nil(runs)
    assert.equal("the request was closed before it finished", err.message)
  end)

  it("raises when the result is asked for too early", function()
    local req = c:start_sandbox_runs(ts.demo[1].id)
    assert.has_error(function() req:result() end,
      "nuon.request: result() before the request is done")
    req:close()
  end)
end)
