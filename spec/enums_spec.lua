-- Today's API (issue 13): every enum value a real server has sent is known,
-- so strict mode accepts every body of every server version; a value no
-- version sent is worth a warning (an error in strict mode); known_values
-- adds values; the enum tables of the README and docs/ENUMS.md are the C
-- core's table.
local nuon = require "nuon"
local gen = require "server.generator"

local FLAVORS = { "seed", "legacy", "current", "mixed", "today" }
local SEEDS = { 1, 2, 5, 11 }
local SIZES = { 1, 17, 250 }

-- Every runner job of a decoded run (runner_job, runner_jobs[]).
local function jobs_of(run)
  local out = {}
  if run.runner_job then out[#out + 1] = run.runner_job end
  for _, j in ipairs(run.runner_jobs or {}) do out[#out + 1] = j end
  return out
end

describe("strict decoding of every generator flavor", function()
  for _, flavor in ipairs(FLAVORS) do
    it("accepts " .. flavor .. " bodies at every seed and size: no error, no warning", function()
      local decoded = 0
      for _, seed in ipairs(SEEDS) do
        for _, size in ipairs(SIZES) do
          local body = gen.body("inlenumsspec" .. seed, { count = size, flavor = flavor, seed = seed })
          local runs, err = nuon.decode_sandbox_runs(body, { strict = true })
          assert.is_nil(err, flavor .. " seed " .. seed .. " size " .. size)
          assert.equal(size, #runs)
          assert.same({}, runs.warnings)
          local lax = assert(nuon.decode_sandbox_runs(body))
          assert.same({}, lax.warnings)
          decoded = decoded + size
        end
      end
      assert.equal(#SEEDS * (1 + 17 + 250), decoded)
    end)
  end

  it("meets the values that made the 2024 enums fail: old, new and unset", function()
    local seen = {}
    for _, flavor in ipairs(FLAVORS) do
      local runs = assert(nuon.decode_sandbox_runs(gen.body("inlenumsspec", { count = 400, flavor = flavor }),
        { strict = true }))
      for _, run in ipairs(runs) do
        seen[run.status] = true
        for _, j in ipairs(jobs_of(run)) do
          seen[j.operation or "(absent)"] = true
          seen[j.type or "(absent)"] = true
        end
      end
    end
    for _, v in ipairs{ "apply", "destroy", "plan-only", "create-apply-plan", "create-teardown-plan",
      "apply-plan", "sandbox-terraform", "", "drifted", "success", "deprovisioned" } do
      assert.is_true(seen[v], v)
    end
    assert.is_nil(seen["sandbox-terraform-plan"]) -- no code path of the server creates one
  end)
end)

describe("a value no version of the API sent", function()
  -- a today body with one job type replaced by a value nobody ever sent
  local body = gen.body("inlenumsspec", { count = 30, flavor = "today", seed = 3 })
  local at = body:find('"type":"sandbox-terraform"', 1, true)
  local bad = body:sub(1, at - 1) .. '"type":"sandbox-quantum"'
    .. body:sub(at + #'"type":"sandbox-terraform"')

  it("is exactly one warning, naming its path, value and enum", function()
    local runs = assert(nuon.decode_sandbox_runs(bad))
    assert.equal(30, #runs)
    assert.same({ { path = "[1].runner_jobs[1].type", value = "sandbox-quantum", enum = "runner_job_type" } },
      runs.warnings)
    assert.equal("sandbox-quantum", runs[1].runner_jobs[1].type)
  end)

  it("is an error in strict mode", function()
    local runs, err = nuon.decode_sandbox_runs(bad, { strict = true })
    assert.is_nil(runs)
    assert.equal("validation", err.kind)
    assert.equal("[1].runner_jobs[1].type", err.path)
    assert.equal("sandbox-quantum", err.value)
    assert.equal("runner_job_type", err.enum)
  end)

  it("is neither once known_values declares it", function()
    local kv = { known_values = { runner_job_type = { "sandbox-quantum" } } }
    assert.same({}, assert(nuon.decode_sandbox_runs(bad, kv)).warnings)
    kv.strict = true
    assert.same({}, assert(nuon.decode_sandbox_runs(bad, kv)).warnings)
    -- declared for another enum, it does not count
    local runs = assert(nuon.decode_sandbox_runs(bad, { known_values = { run_status = { "sandbox-quantum" } } }))
    assert.equal(1, #runs.warnings)
  end)

  it("is a warning in every enum, the two run status enums included; \"\" never is", function()
    local runs = assert(nuon.decode_sandbox_runs('[{"status":"", "run_type":"",'
      .. '"status_v2":{"status":"","history":[{"status":"frozen"}]}},'
      .. '{"status":"frozen","runner_jobs":[{"status":"","group":"","type":"","operation":"",'
      .. '"executions":[{"status":""},{"status":"frozen"}]}]}]'))
    assert.same({
      { path = "[1].status_v2.history[1].status", value = "frozen", enum = "composite_status" },
      { path = "[2].status", value = "frozen", enum = "run_status" },
      { path = "[2].runner_jobs[1].executions[2].status", value = "frozen",
        enum = "runner_job_execution_status" },
    }, runs.warnings)
  end)
end)

describe("nuon.enums and nuon.enum_provenance", function()
  it("give every value a provenance: seed, added YYYY-MM, and removed YYYY-MM where it was", function()
    local n = 0
    for name, values in pairs(nuon.enums) do
      local prov = nuon.enum_provenance[name]
      local count = 0
      for _ in pairs(prov) do count = count + 1 end
      assert.equal(#values, count, name)
      for _, v in ipairs(values) do
        n = n + 1
        local p = prov[v]
        assert.is_true(p == "seed" or p:find("^seed, removed 20%d%d%-%d%d$") ~= nil
          or p:find("^added 20%d%d%-%d%d$") ~= nil or p:find("^added 20%d%d%-%d%d, removed 20%d%d%-%d%d$") ~= nil,
          name .. " " .. v .. ": " .. p)
      end
    end
    assert.is_true(n > 150)
    assert.equal("seed, removed 2025-06", nuon.enum_provenance.runner_job_operation.apply)
    assert.equal("added 2025-06", nuon.enum_provenance.runner_job_operation["apply-plan"])
    assert.equal("seed, removed 2025-01", nuon.enum_provenance.runner_job_group.user)
    assert.equal("seed", nuon.enum_provenance.run_status.active)
    assert.equal("added 2025-06", nuon.enum_provenance.composite_status.drifted)
  end)
end)

-- The two copies of the enum table that people read, checked against the C
-- core's (core.enums, core.enum_provenance): the README's compact one (one
-- row per enum) and docs/ENUMS.md (one row per value).  `""` is the unset
-- value.
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec") .. "/.."

local function read(rel)
  local fh = assert(io.open(ROOT .. "/" .. rel))
  local text = fh:read("*a")
  fh:close()
  return text
end

local function unquote(v) return v == '""' and "" or v end

-- What the core says, as rows: enum -> sequence of { value, provenance }.
local function core_rows()
  local rows = {}
  for name, values in pairs(nuon.enums) do
    rows[name] = {}
    for i, v in ipairs(values) do rows[name][i] = { v, nuon.enum_provenance[name][v] } end
  end
  return rows
end

-- The lines of the table under `header` (up to the first line that is not a row).
local function table_after(text, header)
  local at = text:find("\n" .. header .. "\n| ---", 1, true)
  assert(at, "no table headed " .. header)
  local body = text:sub(at + 1):match("^[^\n]*\n[^\n]*\n(.-)\n[^|]") or text:sub(at + 1)
  return "\n" .. body .. "\n"
end

-- docs/ENUMS.md: | `enum` | `value` | provenance |
local FULL_HEADER = "| enum | value | provenance |"
local function full_table(text)
  local rows = {}
  for enum, value, prov in table_after(text, FULL_HEADER):gmatch("\n| `([%w_]+)` | `([^`]*)` | ([^|\n]-) |") do
    rows[enum] = rows[enum] or {}
    rows[enum][#rows[enum] + 1] = { unquote(value), prov }
  end
  return rows
end

-- The README: | `enum` | seed: `a` `b` (removed 2025-06); 2025-01: `c` |
-- Groups separated by "; ", each a label (seed or the month first sent) and
-- its values; a value the server stopped writing carries "(removed YYYY-MM)".
-- Anything else in a cell is an error, so a typo cannot hide a value.
local COMPACT_HEADER = "| enum | values, by the month they were first sent |"
local function compact_table(text)
  local rows = {}
  for enum, cell in table_after(text, COMPACT_HEADER):gmatch("\n| `([%w_]+)` | ([^|\n]+) |") do
    assert(rows[enum] == nil, "README: two rows for " .. enum)
    local out = {}
    for group in (cell .. "; "):gmatch("(.-); ") do
      local label, values = group:match("^(%S+): (.*)$")
      assert(label == "seed" or (label and label:find("^20%d%d%-%d%d$")),
        "README: " .. enum .. ": a group must start with seed: or YYYY-MM: (" .. group .. ")")
      local added = label == "seed" and "seed" or "added " .. label
      local pos = 1
      while pos <= #values do
        local value, after = values:match("^`([^`]*)`()", pos)
        assert(value, "README: " .. enum .. ": cannot read '" .. values:sub(pos) .. "'")
        local removed, after2 = values:match("^ %(removed (20%d%d%-%d%d)%)()", after)
        out[#out + 1] = { unquote(value), removed and added .. ", removed " .. removed or added }
        pos = after2 or after
        if pos <= #values then
          assert(values:sub(pos, pos) == " ", "README: " .. enum .. ": values are separated by a space")
          pos = pos + 1
        end
      end
    end
    rows[enum] = out
  end
  return rows
end

-- Fails naming the first row where a table and the core differ.
local function check(where, rows)
  local want = core_rows()
  local function show(r) return r and ("`%s` (%s)"):format(r[1], r[2]) or "nothing" end
  for name, exp in pairs(want) do
    local got = rows[name]
    assert(got, where .. " has no row for " .. name)
    for i = 1, math.max(#exp, #got) do
      local e, g = exp[i], got[i]
      if not (e and g and e[1] == g[1] and e[2] == g[2]) then
        error(("%s, %s #%d: the core has %s, the table %s"):format(where, name, i, show(e), show(g)), 0)
      end
    end
  end
  for name in pairs(rows) do assert(want[name], where .. " names an enum the core does not have: " .. name) end
end

describe("the enum tables people read", function()
  it("the README's compact table is the C core's", function()
    check("README.md", compact_table(read("README.md")))
  end)

  it("docs/ENUMS.md's full table is the C core's", function()
    check("docs/ENUMS.md", full_table(read("docs/ENUMS.md")))
  end)

  it("the parsers read what the tables say: values, order, provenance, and nothing else", function()
    local ok = "\n" .. COMPACT_HEADER .. "\n| --- | --- |\n"
      .. "| `run_type` | seed: `provision` `reprovision` `deprovision` |\n"
    assert.same({ run_type = { { "provision", "seed" }, { "reprovision", "seed" }, { "deprovision", "seed" } } },
      compact_table(ok))
    assert.same({ { "provision", "seed" }, { "deprovision", "seed" } },
      compact_table(ok:gsub(" `reprovision`", "")).run_type)
    assert.same({ { "provision", "seed" }, { "reprovision", "seed" }, { "deprovision", "seed" },
      { "x", "added 2030-01, removed 2030-02" } },
      compact_table(ok:gsub(" |\n$", "; 2030-01: `x` (removed 2030-02) |\n")).run_type)
    assert.has_error(function() compact_table(ok:gsub("`reprovision`", "`reprovision`,")) end)
    assert.has_error(function() compact_table(ok:gsub("seed:", "sed:")) end)
    assert.same({ group = { { "", "seed" }, { "any", "seed, removed 2025-01" } } },
      full_table("\n" .. FULL_HEADER .. "\n| --- | --- | --- |\n| `group` | `\"\"` | seed |\n"
        .. "| `group` | `any` | seed, removed 2025-01 |\n\nafter the table\n| `other` | `x` | seed |\n"))
  end)
end)
