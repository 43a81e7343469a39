-- nuon.format: JSON, CSV and aligned tables (lua/nuon/format.lua), on every
-- Lua of the matrix.
local format = require "nuon.format"
local core = require "nuon.core"
local cjson = require "cjson"

local HAS_INTEGERS = math.type ~= nil

describe("nuon.format.json", function()
  local json = format.json

  it("writes scalars, nil as null, NaN and infinities as null", function()
    assert.equal('"x"', json("x"))
    assert.equal("true", json(true))
    assert.equal("null", json(nil))
    assert.equal("null", json(0 / 0))
    assert.equal("null", json(math.huge))
    assert.equal("null", json(-math.huge))
    assert.equal("-5", json(-5))
    assert.equal("0.1", json(0.1))
    assert.equal("1.5e-07", json(1.5e-7))
  end)

  it("keeps every number exactly: integers as integers, floats by their shortest round trip", function()
    for _, v in ipairs{ 86400000000000, 1234567890123456, 2^53 - 1, -(2^53 - 1), 0.1 + 0.2, 1 / 3, 1e300, 5e-324 } do
      local s = json(v)
      assert.equal(v, tonumber(s), s)
      assert.equal(v, core.decode_json(s), s)
    end
    assert.equal("1234567890123456", json(1234567890123456))
    if HAS_INTEGERS then
      assert.equal("9223372036854775807", json(math.maxinteger))
      assert.equal("123456789012345678", json(123456789012345678))
    else
      assert.equal("9007199254740992", json(2^53))
      assert.equal("1152921504606846976", json(2^60)) -- integral doubles beyond 2^53 in full
    end
  end)

  it("escapes quotes, backslashes and control characters", function()
    assert.equal([["a\"b\\c\n\t\u0001\u007f"]], json('a"b\\c\n\t\1\127'))
    assert.equal('"\226\130\172"', json("\226\130\172")) -- UTF-8 as it is
    assert.equal('a"b\\c\n\t\1\127', cjson.decode(json('a"b\\c\n\t\1\127')))
  end)

  it("writes sequences as arrays and other tables as objects with sorted keys", function()
    assert.equal('[1,"a",[true]]', json{ 1, "a", { true } })
    assert.equal('{"a":1,"b":{"c":[2]},"z":"last"}', json{ z = "last", b = { c = { 2 } }, a = 1 })
    assert.equal('{"1":"x","k":"y"}', json{ "x", k = "y" })
    assert.equal("{}", json{})
  end)

  it("with array = true, writes the items 1 to #t only, and [] for an empty table", function()
    local runs = { { id = "a" }, { id = "b" }, warnings = { { path = "[1].status" } } }
    assert.equal('[{"id":"a"},{"id":"b"}]', json(runs, { array = true }))
    assert.equal("[]", json({ warnings = {} }, { array = true }))
  end)

  it("pretty-prints with indent, and the result reads back the same", function()
    local v = { b = { 1, 2 }, a = { x = "y" }, e = {} }
    assert.equal('{\n  "a": {\n    "x": "y"\n  },\n  "b": [\n    1,\n    2\n  ],\n  "e": {}\n}',
      json(v, { indent = "  " }))
    assert.same(cjson.decode(json(v)), cjson.decode(json(v, { indent = "  " })))
  end)

  it("reads back as the decoder's own tables for a fixture of real runs", function()
    local f = assert(io.open("spec/fixtures/current_runs.json", "rb"))
    local text = f:read("*a")
    f:close()
    local runs = assert(core.decode_json(text))
    assert.same(runs, core.decode_json(json(runs)))
  end)

  it("raises for a cycle instead of running out of stack", function()
    local t = {}
    t.self = t
    assert.has_error(function() json(t) end, "nuon.format.json: tables nested deeper than 1000")
  end)
end)

describe("nuon.format.csv_row", function()
  it("quotes fields with a comma, quote, CR or LF and doubles quotes; nil is empty", function()
    assert.equal('a,"b,c","say ""hi""","l1\nl2",,3\r\n',
      format.csv_row({ x = "a", y = "b,c", z = 'say "hi"', w = "l1\nl2", n = 3 }, { "x", "y", "z", "w", "v", "n" }))
  end)
end)

describe("nuon.format.table", function()
  it("aligns columns to the widest cell, two spaces apart, with no trailing blanks", function()
    local lines = format.table({ { a = "x", b = "long value", c = nil }, { a = "wider", b = "y", c = 7 } },
      { { name = "a", title = "A" }, { name = "b", title = "B" }, { name = "c", title = "C" } })
    assert.same({
      "A      B           C",
      "x      long value",
      "wider  y           7",
    }, lines)
  end)

  it("shows a run's id, created, type, status and job status", function()
    local rows = format.run_rows{ { id = "sbr1", created_at = "2025-01-01T00:00:00Z", run_type = "provision",
                                    status = "active", runner_job = { status = "finished" } } }
    assert.same({
      "ID    CREATED               TYPE       STATUS  JOB STATUS",
      "sbr1  2025-01-01T00:00:00Z  provision  active  finished",
    }, format.table(rows, format.RUN_COLUMNS))
  end)
end)
