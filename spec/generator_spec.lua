-- spec/server/generator.lua: deterministic sandbox-run JSON in the exact shape
-- Nuon's Go server writes ("seed", seed-era "legacy", "current", "mixed", "today").
local cjson = require "cjson"
local gen = require "server.generator"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"

local ID = "inlgeneratorspec0000000001"

-- The keys of a JSON object text, in order (top level only).
local function keys_of(text)
  local keys, depth, i, n = {}, 0, 1, #text
  while i <= n do
    local c = text:sub(i, i)
    if c == '"' then
      local j = i + 1
      while true do
        local d = text:sub(j, j)
        if d == "\\" then j = j + 2 elseif d == '"' then break else j = j + 1 end
      end
      if depth == 1 and text:sub(j + 1, j + 1) == ":" then keys[#keys + 1] = text:sub(i + 1, j - 1) end
      i = j + 1
    else
      if c == "{" or c == "[" then depth = depth + 1 elseif c == "}" or c == "]" then depth = depth - 1 end
      i = i + 1
    end
  end
  return keys
end

-- The text of the value of top-level key `key` in object text `text`.
local function raw_value(text, key)
  local at = text:find('"' .. key .. '":', 1, true)
  if not at then return nil end
  local i, depth, start = at + #key + 3, 0, at + #key + 3
  local in_str = false
  while i <= #text do
    local c = text:sub(i, i)
    if in_str then
      if c == "\\" then i = i + 1 elseif c == '"' then in_str = false end
    elseif c == '"' then in_str = true
    elseif c == "{" or c == "[" then depth = depth + 1
    elseif c == "}" or c == "]" then
      if depth == 0 then return text:sub(start, i - 1) end
      depth = depth - 1
    elseif c == "," and depth == 0 then return text:sub(start, i - 1) end
    i = i + 1
  end
  return text:sub(start)
end

local function walk(v, fn, path)
  path = path or ""
  fn(v, path)
  if type(v) == "table" then
    for k, x in pairs(v) do walk(x, fn, path .. "." .. tostring(k)) end
  end
end

-- A minimal JSON Schema check of types only (enums are left out on purpose:
-- the zero-valued placeholders send "" outside them; enums_spec decodes every
-- flavor strictly).
local schema
local function load_schema()
  if not schema then
    local fh = assert(io.open(here .. "/../schema/sandbox_runs.schema.json"))
    schema = cjson.decode(fh:read("*a"))
    fh:close()
  end
  return schema
end

local function check_type(v, t)
  if t == "null" then return v == cjson.null end
  if t == "string" then return type(v) == "string" end
  if t == "boolean" then return type(v) == "boolean" end
  if t == "integer" then return type(v) == "number" and v == math.floor(v) end
  if t == "number" then return type(v) == "number" end
  if t == "array" then return type(v) == "table" and (next(v) == nil or v[1] ~= nil) end
  if t == "object" then return type(v) == "table" and v[1] == nil end
  return false
end

local function validate(v, s, path, errs)
  if s["$ref"] then
    s = load_schema()["$defs"][s["$ref"]:match("^#/%$defs/(.+)$")]
  end
  if s.anyOf then
    for _, alt in ipairs(s.anyOf) do
      local e = {}
      validate(v, alt, path, e)
      if #e == 0 then return end
    end
    errs[#errs + 1] = path .. ": matches no alternative"
    return
  end
  if s.type then
    local types = type(s.type) == "table" and s.type or { s.type }
    local ok = false
    for _, t in ipairs(types) do ok = ok or check_type(v, t) end
    if not ok then
      errs[#errs + 1] = path .. ": expected " .. table.concat(types, "|") .. ", got " .. type(v)
      return
    end
  end
  if type(v) ~= "table" or v == cjson.null then return end
  if s.properties and v[1] == nil then
    for k, sub in pairs(s.properties) do
      if v[k] ~= nil then validate(v[k], sub, path .. "." .. k, errs) end
    end
  end
  if s.additionalProperties and type(s.additionalProperties) == "table" then
    for k, x in pairs(v) do
      -- hstore values can be SQL NULL: {"k": null} (NOTES.md (b) 8)
      if not (s.properties and s.properties[k]) and x ~= cjson.null then
        validate(x, s.additionalProperties, path .. "." .. k, errs)
      end
    end
  end
  if s.items then
    for i, x in ipairs(v) do validate(x, s.items, path .. "[" .. i .. "]", errs) end
  end
end

local LEGACY_KEYS = { "id", "created_by_id", "created_at", "updated_at", "runner_job", "log_stream", "org_id",
  "install_id", "run_type", "status", "status_description", "app_sandbox_config" }
local JOB_KEYS_LEGACY = { "id", "created_by_id", "created_at", "updated_at", "org_id", "runner_id", "owner_id",
  "owner_type", "log_stream_id", "queue_timeout", "available_timeout", "execution_timeout", "overall_timeout",
  "max_executions", "status", "status_description", "type", "group", "operation", "executions",
  "execution_count" }
local CURRENT_ORDER = { "id", "created_by_id", "created_by", "created_at", "updated_at", "runner_jobs",
  "runner_job", "log_stream", "action_workflow_runs", "org_id", "install_id", "install_sandbox_id",
  "install_workflow_id", "run_type", "status", "status_description", "status_v2", "app_sandbox_config",
  "outputs", "workflow_id", "workflow" }

local SEED_STATUSES = { active = true, error = true, queued = true, deprovisioning = true, provisioning = true,
  reprovisioning = true, access_error = true, unknown = true, empty = true }
local OPEN_STATUSES = { deprovisioned = true, cancelled = true, ["pending-approval"] = true,
  ["approval-denied"] = true, planning = true, applying = true, ["auto-skipped"] = true }
for k in pairs(SEED_STATUSES) do OPEN_STATUSES[k] = true end

-- keys must appear in this relative order
local function assert_in_order(keys, order, what)
  local pos = {}
  for i, k in ipairs(order) do pos[k] = i end
  local last = 0
  for _, k in ipairs(keys) do
    assert.is_not_nil(pos[k], what .. ": unexpected key " .. k)
    assert.is_true(pos[k] > last, what .. ": key out of order: " .. k)
    last = pos[k]
  end
end

describe("generator.runs", function()
  it("is deterministic for the same install and options", function()
    for _, flavor in ipairs{ "seed", "legacy", "current", "mixed", "today" } do
      local a = gen.body(ID, { count = 60, flavor = flavor, seed = 3 })
      assert.equal(a, gen.body(ID, { count = 60, flavor = flavor, seed = 3 }))
      assert.are_not.equal(a, gen.body(ID, { count = 60, flavor = flavor, seed = 4 }))
      assert.are_not.equal(a, gen.body(ID .. "x", { count = 60, flavor = flavor, seed = 3 }))
    end
  end)

  it("gives byte-identical output on LuaJIT and Lua 5.1", function()
    local script = "package.path='" .. here .. "/?.lua;'..package.path local g=require'server.generator' "
      .. "for _,f in ipairs{'legacy','current','mixed'} do io.write(g.body('" .. ID .. "',{count=80,flavor=f,seed=5})) "
      .. "io.write(table.concat(g.newer('" .. ID .. "',4,{flavor=f,after=1766188800,batch=2}),',')) end"
    local want = {}
    for _, f in ipairs{ "legacy", "current", "mixed" } do
      want[#want + 1] = gen.body(ID, { count = 80, flavor = f, seed = 5 })
      want[#want + 1] = table.concat(gen.newer(ID, 4, { flavor = f, after = 1766188800, batch = 2 }), ",")
    end
    want = table.concat(want)
    local ran = 0
    for _, lua in ipairs{ "luajit", "lua5.1" } do
      local found = os.execute("command -v " .. lua .. " >/dev/null 2>&1")
      if found == true or found == 0 then
        ran = ran + 1
        local p = io.popen(lua .. " -e \"" .. script .. "\" 2>&1")
        local got = p:read("*a")
        p:close()
        assert.equal(#want, #got, lua)
        assert.is_true(want == got, lua)
      end
    end
    assert.is_true(ran > 0, "neither luajit nor lua5.1 is installed")
  end)

  it("writes ids as a 3-letter prefix and 23 characters of [0-9a-z]", function()
    local runs = cjson.decode(gen.body(ID, { count = 200, flavor = "mixed" }))
    local n = 0
    walk(runs, function(v, path)
      local key = path:match("%.([%a_]+)$")
      if type(v) == "string" and key and (key == "id" or key:match("_id$")) and v ~= ""
        and not path:find(".outputs.", 1, true) and key ~= "github_install_id"
        and key ~= "install_id" and key ~= "github_account_id" then
        assert.matches("^%l%l%l[0-9a-z]+$", v, path)
        assert.equal(26, #v, path)
        n = n + 1
      end
    end)
    assert.is_true(n > 2000)
    for _, run in ipairs(runs) do
      assert.matches("^sbr", run.id)
      assert.equal(ID, run.install_id)
      assert.equal(gen.ORG_ID, run.org_id)
    end
  end)

  it("writes timestamps in RFC 3339 UTC with 0 to 6 fractional digits, newest first", function()
    local runs = cjson.decode(gen.body(ID, { count = 300, flavor = "mixed" }))
    local digits = {}
    walk(runs, function(v, path)
      if type(v) == "string" and (path:match("_at$")) then
        local frac = v:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d(%.?%d*)Z$")
        assert.is_not_nil(frac, path .. " " .. v)
        if frac ~= "" then
          assert.is_nil(frac:match("0$"), v)
          assert.is_true(#frac >= 2 and #frac <= 7, v)
        end
        digits[#frac == 0 and 0 or #frac - 1] = true
      end
    end)
    for d = 0, 6 do assert.is_true(digits[d] ~= nil, d .. " fractional digits never seen") end
    for i = 2, #runs do assert.is_true(runs[i - 1].created_at > runs[i].created_at) end
  end)

  it("escapes strings like Go's encoding/json with HTML escaping", function()
    local body = gen.body(ID, { count = 300, flavor = "mixed", seed = 2 })
    for _, c in ipairs{ "<", ">", "&", "\226\128\168" } do
      assert.is_nil(body:find(c, 1, true), c)
    end
    for _, e in ipairs{ "\\u003c", "\\u003e", "\\u0026", "\\u2028" } do
      assert.truthy(body:find(e, 1, true), e)
    end
    assert.equal('"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\b\\f\\u0001\\u2028\\u2029\226\130\172"',
      gen.encode_string("a<b>&\"\\\n\t\b\f\1\226\128\168\226\128\169\226\130\172"))
    local seen = false
    walk(cjson.decode(body), function(v)
      if type(v) == "string" and v:find("\226\128\168", 1, true) then seen = true end
    end)
    assert.is_true(seen)
  end)

  it("writes durations as int64 nanoseconds", function()
    local body = gen.body(ID, { count = 50, flavor = "legacy" })
    assert.truthy(body:find('"queue_timeout":86400000000000,"available_timeout":30000000000,'
      .. '"execution_timeout":3600000000000,"overall_timeout":90030000000000,"max_executions":1', 1, true))
  end)

  it("parses and matches the seed schema's types in every flavor", function()
    for _, flavor in ipairs{ "seed", "legacy", "current", "mixed", "today" } do
      local errs = {}
      validate(cjson.decode(gen.body(ID, { count = 400, flavor = flavor })), load_schema(), "", errs)
      assert.same({}, errs, flavor)
    end
  end)

  it("writes a 10,000-run body of tens of megabytes in a few seconds", function()
    local t0 = os.clock()
    local body = gen.body(ID, { count = 10000 })
    local took = os.clock() - t0
    assert.is_true(#body > 30e6 and #body < 60e6, tostring(#body))
    assert.is_true(took < 10, tostring(took))
    assert.equal(10000, #cjson.decode(body))
  end)
end)

describe("the legacy flavor", function()
  local texts = gen.runs(ID, { count = 300, flavor = "legacy" })
  local runs = cjson.decode("[" .. table.concat(texts, ",") .. "]")

  it("writes every field in Go struct order, zero values included", function()
    for i, text in ipairs(texts) do
      assert.same(LEGACY_KEYS, keys_of(text))
      assert.same(JOB_KEYS_LEGACY, keys_of(raw_value(text, "runner_job")))
      assert.same({ "id", "created_by_id", "created_at", "updated_at", "org_id", "owner_id", "owner_type",
        "open", "attrs", "write_token", "runner_api_url" }, keys_of(raw_value(text, "log_stream")))
      local cfg = runs[i].app_sandbox_config
      assert.equal(cjson.null, cfg.aws_delegation_config)
      assert.equal(cjson.null, runs[i].runner_job.executions)
      assert.is_table(cfg.artifacts)
      assert.is_string(cfg.aws_region_type)
      if cfg.connected_github_vcs_config then
        assert.equal("unknown", cfg.cloud_platform)
        assert.equal("", cfg.artifacts.trust_policy)
        assert.equal(cjson.null, cfg.connected_github_vcs_config.vcs_connection.vcs_connection_commit)
      else
        assert.matches("^https://nuon%-artifacts%.s3%.us%-west%-2%.amazonaws%.com/sandbox/.+/trust%.json$",
          cfg.artifacts.trust_policy)
      end
      assert.is_true(SEED_STATUSES[runs[i].status], runs[i].status)
    end
  end)

  it("gives old runs zero-valued placeholders", function()
    local placeholders, zero_logs = 0, 0
    for _, run in ipairs(runs) do
      if run.created_at < "2024-10-11" then
        placeholders = placeholders + 1
        assert.same({ id = "", created_by_id = "", created_at = "0001-01-01T00:00:00Z",
          updated_at = "0001-01-01T00:00:00Z", org_id = "", runner_id = "", owner_id = "", owner_type = "",
          log_stream_id = cjson.null, queue_timeout = 0, available_timeout = 0, execution_timeout = 0,
          overall_timeout = 0, max_executions = 0, status = "", status_description = "", type = "", group = "",
          operation = "", executions = cjson.null, execution_count = 0 }, run.runner_job)
      else
        assert.matches("^job", run.runner_job.id)
        assert.equal(86400000000000, run.runner_job.queue_timeout)
      end
      if run.created_at < "2024-11-13" then
        zero_logs = zero_logs + 1
        assert.equal("", run.log_stream.id)
        assert.equal(false, run.log_stream.open)
        assert.equal(cjson.null, run.log_stream.attrs)
      else
        assert.matches("^log", run.log_stream.id)
        assert.equal(run.log_stream.id, run.runner_job.log_stream_id)
      end
    end
    assert.is_true(placeholders > 10)
    assert.is_true(zero_logs > placeholders)
  end)
end)

describe("the current flavor", function()
  local texts = gen.runs(ID, { count = 400, flavor = "current", bridge = false })
  local runs = cjson.decode("[" .. table.concat(texts, ",") .. "]")

  it("omits zero values and sends runner_jobs, never runner_job", function()
    local body = table.concat(texts)
    assert.is_nil(body:find(':""', 1, true))
    assert.is_nil(body:find('"open":false', 1, true))
    assert.is_nil(body:find("0001-01-01", 1, true))
    assert.is_nil(body:find('"artifacts"', 1, true))
    assert.is_nil(body:find('"aws_delegation_config"', 1, true))
    for i, run in ipairs(runs) do
      assert_in_order(keys_of(texts[i]), CURRENT_ORDER, run.id)
      assert.is_nil(run.runner_job)
      assert.is_table(run.runner_jobs)
      assert.same({}, run.action_workflow_runs)
      assert.is_table(run.outputs)
      assert.same({}, run.app_sandbox_config.Refs)
      assert.is_not_nil(run.app_sandbox_config.references)
      assert.is_true(OPEN_STATUSES[run.status], run.status)
      for j = 2, #run.runner_jobs do
        assert.is_true(run.runner_jobs[j - 1].created_at > run.runner_jobs[j].created_at)
      end
    end
  end)

  it("sends today's fields and enum values, and keeps old values on old runs", function()
    local seen = {}
    for i, run in ipairs(runs) do
      for _, job in ipairs(run.runner_jobs) do
        seen[job.operation] = true
        seen[job.type] = true
        if run.created_at < "2025-06-13" then
          assert.is_true(job.operation == "apply" or job.operation == "destroy" or job.operation == "plan-only")
        end
        -- the enum has it, but no code path of the server creates one
        assert.are_not.equal("sandbox-terraform-plan", job.type)
      end
      if run.status_v2 then
        seen.status_v2 = true
        assert.equal(run.status_v2.status, run.status)
      end
      if run.created_by then seen.created_by = true end
      if run.workflow then seen.workflow = true end
      if run.install_sandbox_id then seen.install_sandbox_id = true end
      if texts[i]:find('"max_pods_total":12345678901234567000', 1, true) then seen.big = true end
      if run.app_sandbox_config.references == cjson.null then seen.null_refs = true end
      if type(run.app_sandbox_config.references) == "table" then seen.empty_refs = true end
      seen[run.status] = true
    end
    for _, want in ipairs{ "create-apply-plan", "create-teardown-plan", "apply-plan", "apply", "destroy",
      "sandbox-terraform", "status_v2", "created_by", "workflow",
      "install_sandbox_id", "big", "null_refs", "empty_refs", "cancelled", "auto-skipped", "error" } do
      assert.is_true(seen[want], want)
    end
  end)

  it("bridges about half the runs with a copy of runner_jobs[1] by default", function()
    local bridged, with_jobs = 0, 0
    for _, text in ipairs(gen.runs(ID, { count = 400, flavor = "current" })) do
      local jobs = raw_value(text, "runner_jobs")
      if jobs ~= "[]" then
        with_jobs = with_jobs + 1
        local job = raw_value(text, "runner_job")
        if job then
          bridged = bridged + 1
          assert.equal(1, jobs:find(job, 1, true) - 1)
        end
      end
    end
    assert.is_true(bridged > with_jobs * 0.35 and bridged < with_jobs * 0.65, bridged .. "/" .. with_jobs)
  end)
end)

describe("the today flavor", function()
  local texts = gen.runs(ID, { count = 400, flavor = "today", seed = 7 })
  local runs = cjson.decode("[" .. table.concat(texts, ",") .. "]")
  -- app.Status (status_v2.status), NOTES.md (c), nuon-python's included
  local COMPOSITE = {}
  for s in ("error pending in-progress checking-plan success not-attempted cancelled retrying discarded "
    .. "user-skipped auto-skipped planning applying queued generating awaiting-user-run provisioning "
    .. "active outdated expired approved drifted no-drift approval-expired approval-denied "
    .. "approval-retry building deleting noop approval-awaiting warning"):gmatch("%S+") do
    COMPOSITE[s] = true
  end

  it("gives each run of the plan/apply era its apply job and its plan job, newest first", function()
    local new, old = 0, 0
    for _, run in ipairs(runs) do
      local jobs = run.runner_jobs
      if run.created_at >= "2025-06-13" then
        new = new + 1
        assert.equal(2, #jobs, run.id)
        assert.same({ "sandbox-terraform", "apply-plan" }, { jobs[1].type, jobs[1].operation })
        assert.equal("sandbox-terraform", jobs[2].type)
        assert.equal(run.run_type == "deprovision" and "create-teardown-plan" or "create-apply-plan",
          jobs[2].operation)
        assert.is_true(jobs[1].created_at > jobs[2].created_at)
        assert.is_table(run.status_v2)
        assert.equal(run.status_v2.status, run.status)
        assert.is_true(COMPOSITE[run.status], run.status)
      else
        old = old + 1
        assert.equal(1, #jobs, run.id)
        assert.is_true(jobs[1].operation == "apply" or jobs[1].operation == "destroy"
          or jobs[1].operation == "plan-only", jobs[1].operation)
        assert.is_nil(run.status_v2)
      end
      for _, job in ipairs(jobs) do assert.is_nil(job.executions) end
    end
    -- one run in five from before the split
    assert.is_true(old > 0.12 * #runs and old < 0.28 * #runs, old .. " of " .. #runs)
    assert.is_true(new > 0)
  end)

  it("omits zero values, sends references null and Refs with capitalised keys", function()
    -- (the Refs items have no json tags, hence no omitzero: "Input":"" stays)
    local body = table.concat(texts):gsub('"Input":""', "")
    assert.is_nil(body:find(':""', 1, true))
    assert.is_nil(body:find('"runner_job":', 1, true))
    local refs = 0
    for i, run in ipairs(runs) do
      local cfg = run.app_sandbox_config
      assert.equal(cjson.null, cfg.references)
      assert.is_table(cfg.Refs)
      assert.is_nil(cfg.refs)
      if #cfg.Refs > 0 then
        refs = refs + 1
        -- a Go struct without json tags: its field names, in its order
        assert.same({ "Type", "Name", "Value", "Input" }, keys_of(texts[i]:match('"Refs":%[(%b{})')))
      end
    end
    assert.is_true(refs > 0)
  end)

  it("sends the apply job's outputs_json in base64 and today's statuses", function()
    local seen, b64 = {}, 0
    for _, run in ipairs(runs) do
      seen[run.status] = true
      for _, job in ipairs(run.runner_jobs) do
        if job.outputs_json then
          b64 = b64 + 1
          assert.matches("^[A-Za-z0-9+/]+=*$", job.outputs_json)
        end
      end
    end
    assert.is_true(b64 > 0)
    for _, want in ipairs{ "drifted", "success", "active", "error", "no-drift" } do
      assert.is_true(seen[want], want)
    end
  end)
end)

describe("the seed flavor", function()
  it("is the legacy wire without the keys the 2024 page never documented", function()
    local texts = gen.runs(ID, { count = 200, flavor = "seed" })
    local want = {}
    for _, k in ipairs(LEGACY_KEYS) do
      if k ~= "org_id" then want[#want + 1] = k end
    end
    for _, text in ipairs(texts) do
      assert.same(want, keys_of(text))
      local run = cjson.decode(text)
      local cfg = run.app_sandbox_config
      local vcs = cfg.public_git_vcs_config or cfg.connected_github_vcs_config
      if vcs then assert.is_nil(vcs.org_id) end
      assert.is_string(cfg.org_id) -- documented
      assert.is_true(run.created_at < "2024-12-19", run.created_at)
    end
  end)
end)

describe("the mixed flavor", function()
  it("shapes runs before the runner_jobs rename like the seed era, newer ones like today", function()
    local texts = gen.runs(ID, { count = 200 })
    local legacy, current = 0, 0
    for _, text in ipairs(texts) do
      if cjson.decode(text).created_at < "2025-06-23" then
        legacy = legacy + 1
        assert.same(LEGACY_KEYS, keys_of(text))
      else
        current = current + 1
        assert.is_nil(raw_value(text, "runner_job"))
        assert.truthy(raw_value(text, "runner_jobs"))
      end
    end
    assert.is_true(legacy > 50 and current > 30)
  end)
end)

describe("generator.newer", function()
  it("makes runs newer than `after`, newest first, distinct per batch", function()
    local a = cjson.decode("[" .. table.concat(gen.newer(ID, 5, { after = 1766188800, batch = 1 }), ",") .. "]")
    local b = cjson.decode("[" .. table.concat(gen.newer(ID, 5, { after = 1766188800, batch = 2 }), ",") .. "]")
    assert.equal(5, #a)
    assert.are_not.equal(a[1].id, b[1].id)
    for i = 1, 5 do assert.is_true(a[i].created_at > "2025-12-20T00:00:00Z") end
    for i = 2, 5 do assert.is_true(a[i - 1].created_at > a[i].created_at) end
  end)
end)

describe("helpers", function()
  it("formats timestamps and base64 like Go", function()
    assert.equal("2024-12-18T23:58:12.12345Z", gen.timestamp(1734566292, 123450))
    assert.equal("2024-12-18T23:58:12Z", gen.timestamp(1734566292, 0))
    assert.equal("2024-12-18T23:58:12.000001Z", gen.timestamp(1734566292, 1))
    assert.equal("eyJhIjogMX0=", gen.base64('{"a": 1}'))
    assert.equal("YQ==", gen.base64("a"))
  end)

  it("encodes maps with sorted keys, and jsonb text with Postgres' key order", function()
    local v = { zz = "1", a = { num = "12345678901234567000" }, bbb = { "x<" } }
    assert.equal('{"a":12345678901234567000,"bbb":["x\\u003c"],"zz":"1"}', gen.encode_value(v))
    assert.equal('{"a": 12345678901234567000, "zz": "1", "bbb": ["x<"]}', gen.encode_value(v, true))
  end)
end)
