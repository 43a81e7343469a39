-- Today's API (issue 13): every enum value a real server has sent is known,
-- so strict mode accepts every body of every server version; a value no
-- version sent is worth a warning (an error in strict mode); known_values
-- adds values; the enum table of the docs (README.md or docs/) is the C core's.
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

  -- The enum tables of the docs: rows | `enum` | `value` | provenance | in
  -- README.md and docs/*.md, wherever the table stands and however much of
  -- it a page shows.
  local root = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec") .. "/.."
  local function doc_tables()
    local pages = { "README.md" }
    local ls = assert(io.popen('ls "' .. root .. '/docs"'))
    for name in ls:lines() do
      if name:match("%.md$") then pages[#pages + 1] = "docs/" .. name end
    end
    ls:close()
    local tables = {}
    for _, page in ipairs(pages) do
      local fh = assert(io.open(root .. "/" .. page))
      local text = fh:read("*a")
      fh:close()
      local rows, n = {}, 0
      for enum, value, prov in text:gmatch("\n| `([%w_]+)` | `([^`]*)` | ([^|\n]-) |") do
        rows[enum] = rows[enum] or {}
        rows[enum][#rows[enum] + 1] = { value, prov }
        n = n + 1
      end
      if n > 0 then tables[page] = rows end
    end
    return tables
  end

  it("are the table the docs show: every row as the core has it, in its order, and one page with all", function()
    local complete = {}
    for page, rows in pairs(doc_tables()) do
      local all = true
      for name, list in pairs(rows) do
        local values = nuon.enums[name]
        assert.is_table(values, page .. ": no enum " .. name)
        local at = 0 -- rows come in the core's order, each value once
        for _, row in ipairs(list) do
          local i = at + 1
          while values[i] ~= nil and values[i] ~= row[1] do i = i + 1 end
          assert.is_not_nil(values[i], page .. ": " .. name .. " `" .. row[1] .. "` unknown or out of order")
          assert.equal(nuon.enum_provenance[name][row[1]], row[2], page .. ": " .. name .. " " .. row[1])
          at = i
        end
        all = all and #list == #values
      end
      for name in pairs(nuon.enums) do all = all and rows[name] ~= nil end
      if all then complete[#complete + 1] = page end
    end
    assert.is_true(#complete > 0, "no page of README.md or docs/ shows every enum value")
  end)
end)
