-- Hostile response bodies: truncated, malformed, non-UTF-8, BOM, NaN,
-- duplicate keys, huge numbers, deep nesting and 60 MB strings.  Each is
-- served by the test API server (spec/server) to a live client, and decoded
-- directly with nuon.decode_sandbox_runs: both must give a clean `nil, err`
-- (a "decode" or "validation" error with a message), never raise, crash or
-- hang.  That nothing leaks is checked by running this suite under ASan
-- (make check-asan) and valgrind (make check-valgrind).
local nuon = require "nuon"
local ts = require "helpers.testserver"

local rep = string.rep
local MB = 1024 * 1024

-- { name, body, kind, message pattern (optional) }
local CASES = {
  -- truncated
  { "an empty body", "", "decode", "unexpected end of input" },
  { "only whitespace", " \r\n", "decode", "unexpected end of input" },
  { "an unclosed array", "[", "decode", "unexpected end of input" },
  { "an unclosed object", '[{"id":"sbr1"', "decode", "unexpected end of input" },
  { "a cut after a comma", '[{"id":"sbr1",', "decode", "unexpected end of input" },
  { "a cut inside a string", '[{"id":"sb', "decode", "unexpected end of input" },
  { "a cut after a colon", '[{"id":"sbr1","runner_job":{"status":', "decode", "unexpected end of input" },
  { "a cut inside an escape", '[{"id":"\\u12', "decode" },
  { "a cut after a backslash", '[{"id":"\\', "decode" },
  { "a missing closing bracket", '[{"id":"sbr1"}', "decode", "unexpected end of input" },
  -- malformed
  { "a lone closing bracket", "]", "decode" },
  { "mismatched brackets", "[}", "decode" },
  { "an empty element", "[,]", "decode" },
  { "a missing colon", '[{"id" "x"}]', "decode" },
  { "a missing value", '[{"id":}]', "decode" },
  { "a trailing comma", '[{"id":"a"},]', "decode" },
  { "two documents", "[] []", "decode" },
  { "trailing garbage", '[{"id":"a"}]x', "decode" },
  { "a misspelt literal", "[tru]", "decode" },
  { "a leading zero", '[{"x":01}]', "decode", "leading zero" },
  { "a bare minus", '[{"x":-}]', "decode" },
  { "a fraction without digits", '[{"x":1.}]', "decode" },
  { "an exponent without digits", '[{"x":1e}]', "decode" },
  { "a raw tab in a string", '[{"id":"a\tb"}]', "decode", "control character" },
  { "a raw NUL in a string", '[{"id":"a\0b"}]', "decode", "control character" },
  { "a NUL after the document", "[]\0", "decode" },
  { "an unknown escape", '[{"id":"a\\x"}]', "decode", "escape" },
  { "single quotes", "['x']", "decode" },
  { "a comment", "[/* c */]", "decode" },
  { "an object instead of an array", '{"id":"a"}', "validation", "expected array" },
  { "a number instead of a run", "[1]", "validation", "expected object" },
  -- not UTF-8
  { "a 0xFF byte", '[{"id":"\255"}]', "decode", "invalid UTF%-8" },
  { "an overlong encoding", '[{"id":"\192\175"}]', "decode", "invalid UTF%-8" },
  { "a UTF-8-encoded surrogate", '[{"id":"\237\160\128"}]', "decode", "invalid UTF%-8" },
  { "a code point above U+10FFFF", '[{"id":"\244\144\128\128"}]', "decode", "invalid UTF%-8" },
  { "a truncated sequence", '[{"id":"a\226\130"}]', "decode", "invalid UTF%-8" },
  { "a stray continuation byte", '[{"x":"\128"}]', "decode", "invalid UTF%-8" },
  { "invalid UTF-8 in a key", '[{"\255":1}]', "decode", "invalid UTF%-8" },
  { "an unpaired high surrogate escape", '[{"id":"\\ud800"}]', "decode", "surrogate" },
  { "surrogate escapes in the wrong order", '[{"id":"\\udc00\\ud800"}]', "decode", "surrogate" },
  -- byte order marks
  { "a UTF-8 BOM", "\239\187\191[]", "decode", "byte order mark" },
  { "a UTF-16 BOM", "\254\255[]", "decode" },
  -- NaN and infinities
  { "NaN in an integer field", '[{"id":"a","runner_job":{"max_executions":NaN}}]', "decode" },
  { "Infinity", '[{"id":"a","runner_job":{"max_executions":Infinity}}]', "decode" },
  { "-Infinity", '[{"id":"a","runner_job":{"max_executions":-Infinity}}]', "decode" },
  { "NaN in an unknown field", '[{"x":NaN}]', "decode" },
  { "lowercase nan", '[{"x":nan}]', "decode" },
  -- duplicate keys
  { "a duplicate schema key", '[{"id":"a","id":"b"}]', "decode", "duplicate key \"id\"" },
  { "a duplicate unknown key", '[{"x":1,"x":2}]', "decode", "duplicate key \"x\"" },
  { "a duplicate nested key", '[{"id":"a","runner_job":{"status":"queued","status":"failed"}}]', "decode",
    "duplicate key \"status\"" },
  -- huge numbers
  { "1e999 in an integer field", '[{"id":"a","runner_job":{"max_executions":1e999}}]', "decode", "out of range" },
  { "-1e999", '[{"id":"a","runner_job":{"max_executions":-1e999}}]', "decode", "out of range" },
  { "a 400-digit integer", '[{"id":"a","runner_job":{"max_executions":' .. rep("9", 400) .. '}}]', "decode",
    "out of range" },
  { "2^63 in an integer field", '[{"id":"a","runner_job":{"max_executions":9223372036854775808}}]', "validation",
    "expected integer" },
  { "-2^63 - 1", '[{"id":"a","runner_job":{"max_executions":-9223372036854775809}}]', "validation" },
  { "1e400 in an unknown field", '[{"x":1e400}]', "decode", "out of range" },
  { "a 1 MB number", '[{"x":' .. rep("1", MB) .. '}]', "decode", "out of range" },
  -- nesting
  { "objects nested 10000 deep", '[{"x":' .. rep('{"a":', 10000) .. "1" .. rep("}", 10000) .. "}]", "decode",
    "max_depth %(128%)" },
  { "arrays nested 100000 deep", '[{"x":' .. rep("[", 100000), "decode", "max_depth %(128%)" },
  { "arrays nested just past the limit", '[{"x":' .. rep("[", 127) .. rep("]", 127) .. "}]", "decode",
    "max_depth" },
  { "a top level nested 100000 deep", rep("[", 100000), "validation" },
}

local function check_error(label, runs, err, kind, pattern)
  assert.is_nil(runs, label)
  assert.is_table(err, label)
  assert.equal(kind, err.kind, label .. ": " .. tostring(err.message))
  assert.is_string(err.message)
  assert.is_true(#err.message > 0 and #err.message < 600, label)
  assert.is_nil(err.message:find("[\r\n]"), label) -- one line
  if pattern then assert.matches(pattern, err.message, 1, false, label) end
  assert.is_true(nuon.is_error(err))
end

describe("a hostile body decoded directly", function()
  for _, case in ipairs(CASES) do
    local name, body, kind, pattern = case[1], case[2], case[3], case[4]
    it("gives nil and a " .. kind .. " error: " .. name, function()
      local runs, err = nuon.decode_sandbox_runs(body)
      check_error(name, runs, err, kind, pattern)
    end)
  end

  it("honours a lower max_depth", function()
    local body = '[{"x":' .. rep("[", 10) .. rep("]", 10) .. "}]"
    assert.truthy(nuon.decode_sandbox_runs(body))
    local runs, err = nuon.decode_sandbox_runs(body, { max_depth = 5 })
    check_error("max_depth = 5", runs, err, "decode", "max_depth %(5%)")
  end)

  it("decodes a tiny number as 0 rather than failing", function()
    local runs = assert(nuon.decode_sandbox_runs('[{"x":1e-400}]'))
    assert.equal(0, runs[1].x)
  end)
end)

describe("a hostile body from the server", function()
  local c
  setup(function()
    ts.reset()
    c = nuon.new{ base_url = ts.url, token = ts.token, org_id = ts.org_id, retries = 0, timeout = 20 }
  end)
  teardown(function()
    c:close()
    ts.reset()
  end)

  it("gives a clean nil, err for every case, with the status and no retry", function()
    local id = "inlhostile0000000000000001"
    for _, case in ipairs(CASES) do
      local name, body, kind, pattern = case[1], case[2], case[3], case[4]
      ts.set_body(id, body)
      ts.clear_requests()
      local runs, err = c:sandbox_runs(id)
      check_error(name, runs, err, kind, pattern)
      assert.equal(200, err.status, name)
      assert.is_false(err.retryable, name)
      assert.equal(1, err.attempts, name)
      assert.equal(1, #ts.requests(), name)
    end
    -- and the client is none the worse for it
    assert.equal(10, #assert(c:sandbox_runs(ts.demo[1].id)))
  end)

  it("gives a clean nil, err in sandbox_runs_many", function()
    ts.set_body("inlhostile0000000000000002", '[{"id":"\255"}]')
    ts.set_body("inlhostile0000000000000003", '[{"id":"a","id":"b"}]')
    local results = assert(c:sandbox_runs_many({ "inlhostile0000000000000002", "inlhostile0000000000000003",
      ts.demo[1].id }))
    check_error("non-UTF-8", nil, results["inlhostile0000000000000002"].err, "decode", "invalid UTF%-8")
    check_error("duplicate", nil, results["inlhostile0000000000000003"].err, "decode", "duplicate key")
    assert.equal(10, #results[ts.demo[1].id].runs)
  end)
end)

describe("60 MB strings #big", function()
  local big = rep("a", 60 * MB)

  it("decode directly when valid, and fail cleanly when not", function()
    local runs = assert(nuon.decode_sandbox_runs('[{"id":"' .. big .. '"}]'))
    assert.equal(60 * MB, #runs[1].id)
    runs = nil -- luacheck: ignore 311
    for _, case in ipairs{
      { "unterminated", '[{"id":"' .. big, "decode", "unexpected end of input" },
      { "ending in a bad byte", '[{"id":"' .. big .. '\255"}]', "decode", "invalid UTF%-8" },
      { "in an integer field", '[{"id":"a","runner_job":{"max_executions":"' .. big .. '"}}]', "validation",
        "expected integer, got string" },
      { "as a duplicate key", '[{"' .. big .. '":1,"' .. big .. '":2}]', "decode", "duplicate key" },
    } do
      local r, err = nuon.decode_sandbox_runs(case[2])
      check_error(case[1], r, err, case[3], case[4])
      collectgarbage()
    end
  end)

  it("come through the server, and fail cleanly when broken or above max_body", function()
    ts.reset()
    local id = "inlhostile0000000000000060"
    local c = nuon.new{ base_url = ts.url, token = ts.token, org_id = ts.org_id, retries = 0, timeout = 60 }
    ts.set_body(id, '[{"id":"' .. big .. '"}]')
    local runs = assert(c:sandbox_runs(id))
    assert.equal(60 * MB, #runs[1].id)
    runs = nil -- luacheck: ignore 311
    collectgarbage()
    local small = nuon.new{ base_url = ts.url, token = ts.token, org_id = ts.org_id, retries = 0,
      max_body = 32 * MB }
    local none, err = small:sandbox_runs(id)
    check_error("above max_body", none, err, "decode", "exceeds max_body")
    ts.set_body(id, '[{"id":"' .. big)
    none, err = c:sandbox_runs(id)
    check_error("unterminated", none, err, "decode", "unexpected end of input")
    ts.set_body(id, "[]")
    small:close()
    c:close()
    collectgarbage()
  end)
end)
