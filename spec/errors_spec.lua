-- nuon.errors (lua/nuon/errors.lua): the error objects the Lua layer builds,
-- and the one style of programmer errors: "nuon.<function>: ...", blaming the
-- user's line whichever of nuon's helpers found the mistake.
local nuon = require "nuon"
local core = require "nuon.core"
local errors = require "nuon.errors"

describe("nuon.errors.new", function()
  it("builds an error object with the C core's metatable and tostring", function()
    local e = errors.new("http", "HTTP 404 Not Found", { status = 404, retryable = false })
    assert.equal(core.error_mt, getmetatable(e))
    assert.same({ kind = "http", message = "HTTP 404 Not Found", status = 404, retryable = false },
      setmetatable(e, nil))
    local _, c_err = core.decode("[", {})
    assert.equal(getmetatable(c_err), getmetatable(errors.new("decode", "x")))
    assert.equal("nuon decode error: x", tostring(errors.new("decode", "x")))
  end)

  it("is nuon.error, which checks its arguments", function()
    local e = nuon.error("config", "the client is closed", { retryable = false })
    assert.is_true(nuon.is_error(e))
    assert.is_false(e.retryable)
    assert.has_error(function() nuon.error(nil, "x") end, "nuon.error: kind must be a string (got nil)")
    assert.has_error(function() nuon.error("http", 404) end,
      "nuon.error: message must be a string (got number)")
    assert.has_error(function() nuon.error("http", "x", "status") end,
      "nuon.error: fields must be a table (got string)")
  end)
end)

describe("nuon.errors.is_error", function()
  it("is true for the errors of the C core and of the Lua layer, false for anything else", function()
    local _, c_err = core.decode("[", {})
    assert.is_true(errors.is_error(c_err))
    assert.is_true(errors.is_error(errors.closed()))
    assert.is_false(errors.is_error({ kind = "http", message = "x" }))
    assert.is_false(errors.is_error("nuon http error: x"))
    assert.equal(errors.is_error, nuon.is_error)
  end)
end)

describe("nuon.errors.closed", function()
  it("is a new config error each time", function()
    local a, b = errors.closed(), errors.closed()
    assert.are_not.equal(a, b)
    assert.same({ kind = "config", message = "the client is closed", retryable = false },
      setmetatable(a, nil))
  end)
end)

describe("nuon.errors.raise", function()
  it("prefixes nuon.<fname>, formatting only when values follow", function()
    local ok, err = pcall(errors.raise, "time.format", "epoch %s is outside years 0000-9999", "1e20")
    assert.is_false(ok)
    -- pcall called it: no position, as with error()
    assert.equal("nuon.time.format: epoch 1e20 is outside years 0000-9999", err)
    ok, err = pcall(errors.raise, "filter", "unknown key '100%'")
    assert.is_false(ok)
    assert.equal("nuon.filter: unknown key '100%'", err)
  end)

  it("blames the first line outside nuon's files", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() errors.raise("x", "y") end)
    assert.is_false(ok)
    assert.equal("spec/errors_spec.lua:" .. line .. ": nuon.x: y", err)
  end)
end)
