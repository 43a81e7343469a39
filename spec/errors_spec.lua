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

-- Every family of public functions: the message in the one style, blamed on
-- the line of the call (each case is one line: its function's linedefined).
describe("programmer errors of every public function", function()
  local c = nuon.new{ base_url = "http://127.0.0.1:1", token = "t0k3n-t0k3n", org_id = "o" }
  local closed = nuon.new{ base_url = "http://127.0.0.1:1", token = "t0k3n-t0k3n", org_id = "o" }
  closed:close()
  local time, format, config = require "nuon.time", require "nuon.format", require "nuon.config"
  local Pager, nvim = require "nuon.pager", require "nuon.nvim"
  local cyclic = {}
  cyclic[1] = cyclic

  local cases = {
    { function() nuon.new{ timout = 1 } end, "nuon.new: unknown option 'timout'" },
    { function() nuon.new{ retries = 11 } end, "nuon.new: option 'retries' must be an integer from 0 to 10 (got 11)" },
    { function() nuon.decode_sandbox_runs(5) end,
      "nuon.decode_sandbox_runs: argument 1 must be a string (got number)" },
    { function() nuon.decode_sandbox_runs("[]", { stric = true }) end,
      "nuon.decode_sandbox_runs: unknown option 'stric'" },
    { function() nuon.decode_sandbox_runs("[]", { max_runs = 0 }) end,
      "nuon.decode_sandbox_runs: option 'max_runs' must be a positive integer" },
    { function() nuon.filter({}, { statuz = 1 }) end, "nuon.filter: unknown key 'statuz'" },
    { function() nuon.summarize({}, { success = 1 }) end,
      "nuon.summarize: option 'success' must be a string or a sequence of strings" },
    { function() nuon.error(1, "x") end, "nuon.error: kind must be a string (got number)" },
    { function() time.format("x") end, "nuon.time.format: argument 1 must be a finite number (got string)" },
    { function() time.to_epoch(true, "since") end,
      "nuon.time.to_epoch: since must be an epoch number or a timestamp string (got boolean)" },
    { function() format.json(cyclic) end, "nuon.format.json: tables nested deeper than 1000" },
    { function() config.parse_yaml(nil) end, "nuon.config.parse_yaml: argument 1 must be a string (got nil)" },
    { function() config.redact("x") end, "nuon.config.redact: argument 1 must be a table (got string)" },
    { function() config.resolve(nil, 5) end, "nuon.config.resolve: env must be a function (got number)" },
    { function() Pager.new{ where = 5 } end, "nuon.pager.new: option 'where': where must be a table (got number)" },
    { function() c:sandbox_runs(nil) end, "nuon.sandbox_runs: install_id must be a non-empty string (got nil)" },
    { function() c:sandbox_run("i", "r", { strict = 1 }) end, "nuon.sandbox_run: option 'strict' must be a boolean" },
    { function() c:url("i", { limit = -1 }) end, "nuon.url: option 'limit' must be a non-negative integer" },
    { function() closed:url("i") end, "nuon.url: the client is closed" },
    { function() c:each_sandbox_run("i", { where = { since = true } }) end,
      "nuon.each_sandbox_run: option 'where': 'since' must be an epoch number or a timestamp string (got boolean)" },
    { function() c:all_sandbox_runs("i", { where = { statuz = "x" } }) end,
      "nuon.all_sandbox_runs: option 'where': unknown key 'statuz'" },
    { function() c:sandbox_runs_many("i") end, "nuon.sandbox_runs_many: install_ids must be a sequence (got string)" },
    { function() c:sandbox_runs_many({ "i" }, { concurrency = 300 }) end,
      "nuon.sandbox_runs_many: option 'concurrency' must be at most 256" },
    { function() c:all_sandbox_runs_many({ "i" }, { concurrency = 257 }) end,
      "nuon.all_sandbox_runs_many: option 'concurrency' must be at most 256" },
    { function() c:start_all_sandbox_runs_many({ "" }) end,
      "nuon.start_all_sandbox_runs_many: install_id must be a non-empty string (got an empty string)" },
    { function() c:latest_sandbox_run("i", { fn = 1 }) end,
      "nuon.latest_sandbox_run: 'fn' must be a function (got number)" },
    { function() c:wait_sandbox_run("i", "r", { interval = 5, max_interval = 1 }) end,
      "nuon.wait_sandbox_run: option 'max_interval' must not be less than 'interval'" },
    { function() nvim.sandbox_runs(c, "i", nil, print) end, "nuon.nvim.sandbox_runs: needs Neovim (vim.loop)" },
    { function() nvim.all_sandbox_runs(c, "i", { page_size = 0 }, print) end,
      "nuon.nvim.all_sandbox_runs: option 'page_size' must be a positive integer" },
    { function() nvim.sandbox_run(c, "i", "r", nil, nil) end,
      "nuon.nvim.sandbox_run: callback must be a function (got nil)" },
  }

  for i, case in ipairs(cases) do
    local f, want = case[1], case[2]
    it(("%d: %s"):format(i, want), function()
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.equal(("spec/errors_spec.lua:%d: %s"):format(debug.getinfo(f, "S").linedefined, want), err)
    end)
  end

  teardown(function() c:close() end)
end)
