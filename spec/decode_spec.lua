-- Specs of the C decoder: core.decode (schema-driven, validating) and
-- core.decode_json (any JSON), against hand-written fixtures, every rejection
-- the decoder promises, and lua-cjson as a reference on random documents.
--
--   busted --lua=lua5.4 spec/decode_spec.lua
--   busted --lua=luajit --run=luajit spec/decode_spec.lua
local core = require "nuon.core"
local cjson = require "cjson"

local HAS_INTEGERS = math.type ~= nil
local floor, char, format, rep = math.floor, string.char, string.format, string.rep

local FIXTURES = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "fixtures/"

local function fixture(name)
  local f = assert(io.open(FIXTURES .. name, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

-- Decodes text expecting a failure; returns the error object.
local function decode_error(text, opts)
  local runs, err = core.decode(text, opts)
  assert.is_nil(runs)
  assert.is_table(err)
  return err
end

local function json_error(text, max_depth)
  local v, err = core.decode_json(text, max_depth)
  assert.is_nil(v)
  assert.is_table(err)
  return err
end

-- A decode error: kind, message and position, exactly.
local function assert_syntax(err, position, detail)
  assert.equal("decode", err.kind)
  assert.equal(format("invalid JSON at byte %d: %s", position, detail), err.message)
  assert.equal(position, err.position)
end

-- An it per case { name, row..., ok = { { value, text }... } }.  A row
-- { text, position, detail [, runs = true] }: core.decode_json (core.decode
-- with runs) rejects text with exactly that decode error.  ok: what
-- core.decode_json gives for texts it accepts.
local function syntax_cases(cases)
  for _, case in ipairs(cases) do
    it(case[1], function()
      for i = 2, #case do
        local row = case[i]
        assert_syntax((row.runs and decode_error or json_error)(row[1]), row[2], row[3])
      end
      for _, v in ipairs(case.ok or {}) do
        if type(v[1]) == "table" then
          assert.same(v[1], (core.decode_json(v[2])))
        else
          assert.equal(v[1], (core.decode_json(v[2])))
        end
      end
    end)
  end
end

local function assert_integer(v)
  if HAS_INTEGERS then assert.equal("integer", math.type(v)) end
end

local function assert_float(v)
  if HAS_INTEGERS then assert.equal("float", math.type(v)) end
end

-- Deep equality where cjson.null stands for an absent value.  `skip(path, a, b,
-- key)` may excuse a key that only one side has.  Returns true or false, why.
local function deep_equal(a, b, path, skip)
  path = path or ""
  if a == cjson.null then a = nil end
  if b == cjson.null then b = nil end
  if type(a) ~= "table" or type(b) ~= "table" then
    if a == b then return true end
    return false, format("%s: %s ~= %s", path, tostring(a), tostring(b))
  end
  for k, v in pairs(a) do
    if v ~= cjson.null and not (skip and skip(path, a, b, k)) then
      local ok, why = deep_equal(v, b[k], path .. "." .. tostring(k), skip)
      if not ok then return false, why end
    end
  end
  for k, v in pairs(b) do
    if v ~= cjson.null and a[k] == nil and not (skip and skip(path, a, b, k)) then
      return false, format("%s.%s: missing on the left", path, tostring(k))
    end
  end
  return true
end

local function assert_deep_equal(a, b, skip)
  local ok, why = deep_equal(a, b, "", skip)
  assert(ok, why)
end

-- core.decode adds runs.warnings and bridges runner_job; nothing else differs.
local function runs_skip(path, a, _, key)
  if path == "" and key == "warnings" then return true end
  if path:match("^%.%d+$") and key == "runner_job" and a.runner_job ~= nil
      and rawequal(a.runner_job, a.runner_jobs and a.runner_jobs[1]) then
    return true
  end
  return false
end

describe("core.decode of a seed-era body", function()
  local runs, err = core.decode(fixture("seed_runs.json"))

  it("returns every run in order and an empty error", function()
    assert.is_nil(err)
    assert.equal(3, #runs)
    assert.equal("sbr8k2m4q6s8u0w2y4a6c8e0g2", runs[1].id)
    assert.equal("sbr0h2j4l6n8p0r2t4v6x8z0b2", runs[2].id)
    assert.equal("sbr6t8v0x2z4b6d8f0h2j4l6n8", runs[3].id)
  end)

  it("keeps the run's plain fields as strings", function()
    local run = runs[1]
    assert.equal("acc3n5p7r9t1v3x5z7b9d1f3h5", run.created_by_id)
    assert.equal("2024-12-18T23:58:12.12345Z", run.created_at)
    assert.equal("2024-12-19T00:14:40.5Z", run.updated_at)
    assert.equal("inl5c7e9g1i3k5m7o9q1s3u5w7", run.install_id)
    assert.equal("provision", run.run_type)
    assert.equal("active", run.status)
    assert.equal("successfully provisioned", run.status_description)
  end)

  it("keeps the undocumented org_id as decoded", function()
    assert.equal("org0p9o8i7u6y5t4r3e2w1q0az", runs[1].org_id)
  end)

  it("reads int64 nanosecond durations as integers", function()
    local job = runs[1].runner_job
    assert.equal(86400000000000, job.queue_timeout)
    assert.equal(30000000000, job.available_timeout)
    assert.equal(3600000000000, job.execution_timeout)
    assert.equal(90030000000000, job.overall_timeout)
    assert.equal(1, job.max_executions)
    assert.equal(1, job.execution_count)
    for _, k in ipairs { "queue_timeout", "available_timeout", "execution_timeout",
                         "overall_timeout", "max_executions", "execution_count" } do
      assert_integer(job[k])
    end
  end)

  it("reads the runner job's enums and strings", function()
    local job = runs[1].runner_job
    assert.equal("job1a2b3c4d5e6f7g8h9i0j1k2", job.id)
    assert.equal("finished", job.status)
    assert.equal("sandbox-terraform", job.type)
    assert.equal("sandbox", job.group)
    assert.equal("apply", job.operation)
    assert.equal("log7m9o1q3s5u7w9y1a3c5e7g9", job.log_stream_id)
  end)

  it("turns JSON null into absent fields", function()
    assert.is_nil(runs[1].runner_job.executions)
    assert.is_nil(runs[1].log_stream.attrs)
    assert.is_nil(runs[1].app_sandbox_config.aws_delegation_config)
    assert.is_nil(runs[1].app_sandbox_config.connected_github_vcs_config.vcs_connection
                    .vcs_connection_commit)
    assert.is_nil(runs[2].app_sandbox_config.variables)
    assert.is_nil(runs[3].runner_job.log_stream_id)
    local has_executions = false
    for k in pairs(runs[1].runner_job) do has_executions = has_executions or k == "executions" end
    assert.is_false(has_executions)
  end)

  it("reads booleans as booleans", function()
    assert.is_false(runs[1].log_stream.open)
    assert.is_true(runs[2].log_stream.open)
    assert.is_false(runs[2].runner_job.executions[1].result.success)
  end)

  it("decodes Go's HTML-safe escapes in string maps", function()
    local vars = runs[1].app_sandbox_config.variables
    assert.same({
      cluster_name = "acme-eu",
      description = "<managed by nuon>",
      enable_nat_gateway = "true",
      note = "line\226\128\168separator",
      tags = "team=platform&env=prod",
    }, vars)
  end)

  it("nests the connected GitHub config, its connection and its commits", function()
    local vcs = runs[3].app_sandbox_config.connected_github_vcs_config
    assert.equal("acme-corp/infra-sandbox", vcs.repo)
    assert.equal("vcs1c3e5g7i9k1m3o5q7s9u1w3", vcs.vcs_connection_id)
    assert.equal("51234567", vcs.vcs_connection.github_install_id)
    local commit = vcs.vcs_connection.vcs_connection_commit[1]
    assert.equal("Jordan Ng\195\169", commit.author_name)
    assert.equal("sandbox: tag subnets & bump eks to 1.30", commit.message)
    assert.equal("vcs1c3e5g7i9k1m3o5q7s9u1w3", commit.component_config_connection_id)
  end)

  it("reads executions, their result and its error metadata map", function()
    local ex = runs[2].runner_job.executions
    assert.equal(1, #ex)
    assert.equal("failed", ex[1].status)
    assert.equal(-1, ex[1].result.error_code)
    assert_integer(ex[1].result.error_code)
    assert.same({ exit_code = "1", message = "terraform destroy: \"vpc\" has dependent objects\n" },
      ex[1].result.error_metadata)
  end)

  it("reads the public git config and the artifact links", function()
    local cfg = runs[2].app_sandbox_config
    assert.equal("https://github.com/nuonco/sandboxes", cfg.public_git_vcs_config.repo)
    assert.equal("https://nuon-artifacts.s3.us-west-2.amazonaws.com/sandbox/aws-eks/trust.json",
      cfg.artifacts.trust_policy)
    assert.equal("aws", cfg.cloud_platform)
    assert.equal("default", cfg.aws_region_type)
  end)

  it("reads an empty map as an empty table", function()
    assert.same({}, runs[3].app_sandbox_config.variables)
  end)

  it("takes the placeholder runner job's empty enum values for unset: no warning", function()
    -- Go's zero value "" means unset in every enum
    assert.same({}, runs.warnings)
    assert.equal("", runs[3].runner_job.group) -- "" is a runner_job_group value
    assert.equal("", runs[3].runner_job.type)
    assert.equal("", runs[3].runner_job.operation)
  end)

  it("keeps an out-of-enum value as it is", function()
    assert.equal("", runs[3].runner_job.status)
    assert.equal("0001-01-01T00:00:00Z", runs[3].runner_job.created_at)
  end)
end)

describe("core.decode of a today-shaped body", function()
  local runs, err = core.decode(fixture("current_runs.json"))

  it("validates every runner_jobs item as a runner job", function()
    assert.is_nil(err)
    local jobs = runs[1].runner_jobs
    assert.equal(2, #jobs)
    assert.equal("jobh3j5k7l9z1x3c5v7b9n1m3q", jobs[1].id)
    assert.equal(3600000000000, jobs[1].execution_timeout)
    assert_integer(jobs[1].execution_timeout)
    assert.equal("create-apply-plan", jobs[2].operation)
    assert.equal("sandbox-terraform-plan", jobs[2].type)
  end)

  it("knows the post-seed enum values: no warning", function()
    -- apply-plan, create-apply-plan, create-teardown-plan, sandbox-terraform-plan,
    -- mng-runner-update-version, management: added since the seed (nuon.enum_provenance)
    assert.same({}, runs.warnings)
    assert.equal("management", runs[3].runner_jobs[1].group)
    local strict = assert(core.decode(fixture("current_runs.json"), { strict = true }))
    assert.same({}, strict.warnings)
  end)

  it("keeps unknown fields decoded generically", function()
    local run = runs[1]
    assert.equal("isbm1n3b5v7c9x1z3l5k7j9h1g", run.install_sandbox_id)
    assert.same({}, run.action_workflow_runs)
    assert.equal("sam.lee@acme.dev", run.created_by.email)
    assert.equal("success", run.workflow.status.status)
    assert.equal("active", run.status_v2.status)
    assert.equal(1766184733, run.status_v2.created_at_ts)
    assert_integer(run.status_v2.created_at_ts)
    assert.equal("applying", run.status_v2.history[2].status)
    assert.equal(2, run.status_v2.history[2].metadata.step)
    assert.same({ "vars/common.tfvars", "vars/prod.tfvars" }, run.app_sandbox_config.variables_files)
    assert.is_nil(run.app_sandbox_config.references)
    assert.same({ { Type = "input", Name = "region", Value = "us-west-2", Input = "aws_region" } },
      runs[2].app_sandbox_config.Refs)
  end)

  it("reads numbers beyond int64 in outputs as floats", function()
    local outputs = runs[1].outputs
    assert.equal(12345678901234567000, outputs.max_pods_total)
    assert.equal(1.2345678901234567e19, outputs.max_pods_total)
    assert_float(outputs.max_pods_total)
    assert.equal(3, outputs.nat_gateway_count)
    assert_integer(outputs.nat_gateway_count)
    assert.equal(0.25, outputs.spot_ratio)
    assert.equal("<outputs & more>", outputs.note)
    assert.is_true(outputs.private)
    assert.same({ "subnet-0a1b2c3d", "subnet-0e5f6a7b", "subnet-08c9d0e1" }, outputs.public_subnet_ids)
  end)

  it("keeps a log stream without the omitted zero values", function()
    local ls = runs[1].log_stream
    assert.is_true(ls.open)
    assert.is_nil(ls.write_token)
    assert.is_nil(ls.attrs)
  end)
end)

describe("a null inside a typed array", function()
  it("is a warning and the element is left out: typed arrays never hold holes", function()
    local runs = assert(core.decode('[null,{"runner_jobs":[null,{"id":"j2"},null,{"id":"j4"}],'
      .. '"app_sandbox_config":{"references":["a",null],"variables_files":[null]},'
      .. '"created_by":{"org_ids":[null,"org1"]}},null]'))
    assert.equal(1, #runs)
    local run = runs[1]
    assert.same({ "j2", "j4" }, { run.runner_jobs[1].id, run.runner_jobs[2].id })
    assert.equal(2, #run.runner_jobs)
    assert.is_true(rawequal(run.runner_job, run.runner_jobs[1]))
    assert.same({ "a" }, run.app_sandbox_config.references)
    assert.same({}, run.app_sandbox_config.variables_files)
    assert.same({ "org1" }, run.created_by.org_ids)
    -- paths name the JSON positions
    assert.same({
      { path = "[1]", expected = "object", got = "null" },
      { path = "[2].runner_jobs[1]", expected = "object", got = "null" },
      { path = "[2].runner_jobs[3]", expected = "object", got = "null" },
      { path = "[2].app_sandbox_config.references[2]", expected = "string", got = "null" },
      { path = "[2].app_sandbox_config.variables_files[1]", expected = "string", got = "null" },
      { path = "[2].created_by.org_ids[1]", expected = "string", got = "null" },
      { path = "[3]", expected = "object", got = "null" },
    }, runs.warnings)
  end)

  it("is an error with strict", function()
    local err = decode_error('[{"app_sandbox_config":{"references":["a",null]}}]', { strict = true })
    assert.equal("validation", err.kind)
    assert.equal("[1].app_sandbox_config.references[2]: expected string, got null", err.message)
    assert.equal("[1].app_sandbox_config.references[2]", err.path)
  end)

  it("keeps arrays outside the schema as they come", function()
    local runs = assert(core.decode('[{"outputs":{"ids":["a",null,"c"]},"action_workflow_runs":[null]}]',
      { strict = true }))
    assert.equal("c", runs[1].outputs.ids[3])
    assert.same({}, runs.warnings)
  end)
end)

describe("today's fields", function()
  local runs = assert(core.decode('[{"id":"sbr1","org_id":"org1","install_sandbox_id":"isb1",'
    .. '"install_workflow_id":"inw1","workflow_id":"inw1","created_by":{"id":"acc1","email":"a@b.c",'
    .. '"account_type":"auth0","org_ids":["org1"],"permissions":{"x":[1]}},'
    .. '"runner_jobs":[{"started_at":"2025-12-01T00:00:02Z","finished_at":"2025-12-01T00:10:00Z",'
    .. '"execution_time":598000000000,"final_runner_job_execution_id":"run1","metadata":'
    .. '{"sandbox_run_id":"sbr1"},"outputs_json":"eyJhIjogMX0=","outputs":{"a":1},'
    .. '"executions":[{"metadata":{"k":"v"},"result":{"contents":"c","contents_gzip":"H4sI"}}]}],'
    .. '"app_sandbox_config":{"app_config_id":"cfg1","env_vars":{"TF_LOG":"WARN"},'
    .. '"variables_files":["a.tfvars"],"drift_schedule":"0 * * * *","references":null,"Refs":[]},'
    .. '"status_v2":{"status":"drifted","created_at_ts":1766188800,"metadata":{"any":[true]},'
    .. '"history":[{"status":"queued"}]}}]', { strict = true }))
  local run = runs[1]

  it("are validated where known", function()
    assert.same({}, runs.warnings)
    assert.equal("isb1", run.install_sandbox_id)
    assert.equal("a@b.c", run.created_by.email)
    assert.same({ "org1" }, run.created_by.org_ids)
    local job = run.runner_jobs[1]
    assert.equal(598000000000, job.execution_time)
    assert_integer(job.execution_time)
    assert.same({ sandbox_run_id = "sbr1" }, job.metadata)
    assert.equal("eyJhIjogMX0=", job.outputs_json)
    assert.same({ k = "v" }, job.executions[1].metadata)
    assert.equal("H4sI", job.executions[1].result.contents_gzip)
    assert.same({ TF_LOG = "WARN" }, run.app_sandbox_config.env_vars)
    assert.same({ "a.tfvars" }, run.app_sandbox_config.variables_files)
    assert.equal("drifted", run.status_v2.status)
    assert_integer(run.status_v2.created_at_ts)
    assert.equal("queued", run.status_v2.history[1].status)
  end)

  it("are kept as they are where the schema has no type for them", function()
    assert.same({ x = { 1 } }, run.created_by.permissions)
    assert.same({ a = 1 }, run.runner_jobs[1].outputs)
    assert.same({ any = { true } }, run.status_v2.metadata)
    assert.same({}, run.app_sandbox_config.Refs)
  end)

  it("reject a value of the wrong JSON type", function()
    for _, case in ipairs{
      { '[{"runner_jobs":[{"execution_time":"598"}]}]', "[1].runner_jobs[1].execution_time", "integer" },
      { '[{"created_by":{"org_ids":"org1"}}]', "[1].created_by.org_ids", "array" },
      { '[{"app_sandbox_config":{"env_vars":{"A":1}}}]', "[1].app_sandbox_config.env_vars.A", "string" },
      { '[{"status_v2":[]}]', "[1].status_v2", "object" },
      { '[{"install_sandbox_id":7}]', "[1].install_sandbox_id", "string" },
    } do
      local err = decode_error(case[1])
      assert.equal("validation", err.kind, case[1])
      assert.equal(case[2], err.path, case[1])
      assert.equal(case[3], err.expected, case[1])
    end
  end)
end)

describe("the runner_job bridge", function()
  local runs = assert(core.decode(fixture("current_runs.json")))

  it("sets runner_job to the very table of runner_jobs[1] when it is absent", function()
    assert.is_true(rawequal(runs[1].runner_job, runs[1].runner_jobs[1]))
    assert.is_true(rawequal(runs[3].runner_job, runs[3].runner_jobs[1]))
  end)

  it("keeps a runner_job the server sent", function()
    assert.is_table(runs[2].runner_job)
    assert.is_false(rawequal(runs[2].runner_job, runs[2].runner_jobs[1]))
    assert.equal("jobc1v3b5n7m9q1w3e5r7t9y1u", runs[2].runner_job.id)
  end)

  it("leaves runner_job nil when runner_jobs is empty", function()
    assert.same({}, runs[4].runner_jobs)
    assert.is_nil(runs[4].runner_job)
  end)

  it("bridges over a null runner_job without warning twice", function()
    local r = assert(core.decode('[{"runner_job":null,"runner_jobs":[{"status":"bogus"},{"id":"b"}]}]'))
    assert.is_true(rawequal(r[1].runner_job, r[1].runner_jobs[1]))
    assert.same({ { path = "[1].runner_jobs[1].status", value = "bogus", enum = "runner_job_status" } },
      r.warnings)
  end)

  it("does not bridge from a null runner_jobs", function()
    local r = assert(core.decode('[{"runner_jobs":null}]'))
    assert.is_nil(r[1].runner_job)
    assert.is_nil(r[1].runner_jobs)
  end)
end)

describe("enum validation", function()
  it("always gives runs.warnings, empty when every value is known", function()
    local r = assert(core.decode("[]"))
    assert.same({}, r.warnings)
    assert.equal(0, #r)
    r = assert(core.decode('[{"run_type":"provision","runner_job":{"group":""}}]'))
    assert.same({}, r.warnings)
  end)

  it("warns with the exact path, value and enum in lenient mode", function()
    local r = assert(core.decode(
      '[{},{},{"runner_job":{"status":"bogus","executions":[{"status":"running"}]},"run_type":"x"}]'))
    assert.equal("bogus", r[3].runner_job.status)
    assert.equal("running", r[3].runner_job.executions[1].status)
    assert.same({
      { path = "[3].runner_job.status", value = "bogus", enum = "runner_job_status" },
      { path = "[3].runner_job.executions[1].status", value = "running",
        enum = "runner_job_execution_status" },
      { path = "[3].run_type", value = "x", enum = "run_type" },
    }, r.warnings)
  end)

  it("keeps the top-level status an open set", function()
    local r = assert(core.decode('[{"status":"drift-detected"}]'))
    assert.equal("drift-detected", r[1].status)
    assert.same({}, r.warnings)
  end)

  it("accepts every schema value without a warning", function()
    for _, case in ipairs { -- { enum, the path of one of its fields in a run }
      { "run_type", { "run_type" } },
      { "runner_job_status", { "runner_job", "status" } },
      { "runner_job_group", { "runner_job", "group" } },
      { "runner_job_operation", { "runner_job", "operation" } },
      { "runner_job_type", { "runner_job", "type" } },
      { "runner_job_execution_status", { "runner_jobs", 1, "executions", 1, "status" } },
    } do
      local path = case[2]
      for _, v in ipairs(core.enums[case[1]]) do
        local run = {}
        local t = run
        for i = 1, #path - 1 do
          t[path[i]] = {}
          t = t[path[i]]
        end
        t[path[#path]] = v
        local r = assert(core.decode(cjson.encode { run }))
        local got = r[1]
        for i = 1, #path do got = got[path[i]] end
        assert.equal(v, got)
        assert.same({}, r.warnings)
      end
    end
  end)

  it("matches an escaped spelling of a known value", function()
    local r = assert(core.decode('[{"runner_job":{"status":"fin\\u0069shed"}}]'))
    assert.equal("finished", r[1].runner_job.status)
    assert.same({}, r.warnings)
  end)

  it("returns a validation error for an unknown value in strict mode", function()
    local err = decode_error('[{},{},{"runner_job":{"status":"zombie"}}]', { strict = true })
    assert.equal("validation", err.kind)
    assert.equal('[3].runner_job.status: "zombie" is not a valid runner_job_status', err.message)
    assert.equal("[3].runner_job.status", err.path)
    assert.equal("zombie", err.value)
    assert.equal("runner_job_status", err.enum)
    assert.equal('nuon validation error: [3].runner_job.status: "zombie" is not a valid runner_job_status',
      tostring(err))
    -- the seed fixture's zero-valued placeholder ("" = unset) passes
    assert.is_table(core.decode(fixture("seed_runs.json"), { strict = true }))
  end)

  it("names the execution status enum in strict mode", function()
    local err = decode_error('[{"runner_jobs":[{},{"executions":[{"status":"bogus"}]}]}]',
      { strict = true })
    assert.equal('[1].runner_jobs[2].executions[1].status: "bogus" is not a valid '
      .. "runner_job_execution_status", err.message)
    assert.equal("bogus", err.value)
    assert.equal("runner_job_execution_status", err.enum)
  end)

  it("lets a known value pass in strict mode", function()
    local r = assert(core.decode('[{"runner_job":{"status":"queued","group":""}}]', { strict = true }))
    assert.equal("queued", r[1].runner_job.status)
  end)
end)

describe("wrong JSON types", function()
  local function check(text, path, expected, got, value, opts)
    local err = decode_error(text, opts)
    assert.equal("validation", err.kind)
    assert.equal(format("%s: expected %s, got %s", path == "" and "response" or path, expected, got),
      err.message)
    assert.equal(path, err.path)
    assert.equal(expected, err.expected)
    assert.equal(got, err.got)
    assert.equal(value, err.value)
    return err
  end

  -- One it per case: { name, { text, path, expected, got, value [, opts =,
  -- float =, string = ] }... }; float: err.value is a float, string: what
  -- tostring(err) gives.
  for _, case in ipairs {
    { "rejects a string where an integer belongs",
      { '[{},{"runner_job":{"max_executions":"1"}}]', "[2].runner_job.max_executions",
        "integer", "string", "1" } },
    { "rejects a float in an integer field",
      { '[{"runner_job":{"queue_timeout":1.5}}]', "[1].runner_job.queue_timeout",
        "integer", "number", 1.5, float = true } },
    { "rejects an exponent in an integer field even when it is whole",
      { '[{"runner_job":{"queue_timeout":1e3}}]', "[1].runner_job.queue_timeout",
        "integer", "number", 1000 } },
    { "rejects an array where an object belongs",
      { '[{"app_sandbox_config":[]}]', "[1].app_sandbox_config", "object", "array", "array" } },
    { "rejects an object where a string belongs",
      { '[{"id":{"a":1}}]', "[1].id", "string", "object", "object" } },
    { "rejects a boolean where a string belongs",
      { '[{"runner_job":{"log_stream_id":true}}]', "[1].runner_job.log_stream_id",
        "string", "boolean", true } },
    { "rejects a string where a boolean belongs",
      { '[{"log_stream":{"open":"yes"}}]', "[1].log_stream.open", "boolean", "string", "yes" } },
    { "rejects a number in an enum field",
      { '[{"run_type":1}]', "[1].run_type", "string", "number", 1 } },
    { "rejects an array where a string map belongs",
      { '[{"app_sandbox_config":{"variables":["a"]}}]', "[1].app_sandbox_config.variables",
        "object", "array", "array" } },
    { "rejects a string where a string map belongs",
      { '[{"log_stream":{"attrs":"a=b"}}]', "[1].log_stream.attrs", "object", "string", "a=b" } },
    { "rejects a non-string value in a string map",
      { '[{"app_sandbox_config":{"variables":{"A":"x","KEY":1}}}]',
        "[1].app_sandbox_config.variables.KEY", "string", "number", 1 },
      { '[{"app_sandbox_config":{"variables":{"KEY":{}}}}]',
        "[1].app_sandbox_config.variables.KEY", "string", "object", "object" },
      { '[{},{"runner_job":{"executions":[{"result":{"error_metadata":{"code":false}}}]}}]',
        "[2].runner_job.executions[1].result.error_metadata.code", "string", "boolean", false } },
    { "rejects an object where an array belongs",
      { '[{"runner_jobs":{}}]', "[1].runner_jobs", "array", "object", "object" } },
    { "rejects a non-object item in an array of objects",
      { '[{"runner_jobs":[{},"x"]}]', "[1].runner_jobs[2]", "object", "string", "x" },
      -- null is left out with a warning (the strict form of the error below)
      { '[{"runner_job":{"executions":[null]}}]', "[1].runner_job.executions[1]",
        "object", "null", "null", opts = { strict = true } } },
    { "rejects a wrong type deep inside a runner job's executions",
      { '[{"runner_job":{"executions":[{"status":5}]}}]',
        "[1].runner_job.executions[1].status", "string", "number", 5 } },
    { "rejects a non-object run",
      { '[{},{},{},"sbr1"]', "[4]", "object", "string", "sbr1" },
      { "[null]", "[1]", "object", "null", "null", opts = { strict = true } } },
    { "rejects a body that is not an array",
      { '{"error":"not found"}', "", "array", "object", "object",
        string = "nuon validation error: response: expected array, got object" },
      { '"runs"', "", "array", "string", "runs" },
      { "null", "", "array", "null", "null" } },
  } do
    it(case[1], function()
      for i = 2, #case do
        local c = case[i]
        local err = check(c[1], c[2], c[3], c[4], c[5], c.opts)
        if c.float then assert_float(err.value) end
        if c.string then assert.equal(c.string, tostring(err)) end
      end
    end)
  end

  it("rejects an integer above int64 and accepts the int64 bounds", function()
    check('[{"runner_job":{"overall_timeout":9223372036854775808}}]',
      "[1].runner_job.overall_timeout", "integer", "number", 9223372036854775808)
    check('[{"runner_job":{"overall_timeout":-9223372036854775809}}]',
      "[1].runner_job.overall_timeout", "integer", "number", -9223372036854775809)
    local r = assert(core.decode(
      '[{"runner_job":{"overall_timeout":9223372036854775807,"queue_timeout":-9223372036854775808}}]'))
    if HAS_INTEGERS then
      assert.equal(math.maxinteger, r[1].runner_job.overall_timeout)
      assert.equal(math.mininteger, r[1].runner_job.queue_timeout)
    else -- the nearest doubles: +-2^63
      assert.equal(2^63, r[1].runner_job.overall_timeout)
      assert.equal(-2^63, r[1].runner_job.queue_timeout)
    end
  end)

  it("reads an int64 above 2^53 exactly on Lua 5.3+, as the nearest double on 5.1, 5.2 and LuaJIT", function()
    local r = assert(core.decode('[{"runner_job":{"overall_timeout":9007199254740993}}]'))
    local v = r[1].runner_job.overall_timeout
    if HAS_INTEGERS then
      assert.equal("integer", math.type(v))
      assert.equal("9007199254740993", string.format("%d", v))
    else
      assert.equal(2^53, v) -- 2^53 + 1 has no double: it rounds to even
      assert.equal("9007199254740992", string.format("%.0f", v))
    end
    assert.same({}, r.warnings) -- neither is a validation problem
  end)

  it("skips a null value in a string map", function()
    local r = assert(core.decode('[{"log_stream":{"attrs":{"a":null,"b":"x"}}}]'))
    assert.same({ b = "x" }, r[1].log_stream.attrs)
  end)

  it("accepts null for every kind of field", function()
    local r = assert(core.decode('[{"id":null,"runner_job":{"max_executions":null,"status":null,'
      .. '"executions":null},"log_stream":{"open":null,"attrs":null},"app_sandbox_config":null}]'))
    assert.same({ runner_job = {}, log_stream = {} }, r[1])
  end)

  it("reports a syntax error inside the wrong-typed scalar instead", function()
    local err = decode_error('[{"id":1.}]')
    assert_syntax(err, 10, "unexpected character '}'")
  end)
end)

describe("syntax errors", function()
  syntax_cases {
    { "rejects an empty body",
      { "", 1, "unexpected end of input", runs = true },
      { "  \n", 4, "unexpected end of input", runs = true },
      { "", 1, "unexpected end of input" } },
    { "rejects trailing garbage after the value",
      { "[] x", 4, "unexpected character 'x'", runs = true },
      { "{} {}", 4, "unexpected character '{'" },
      { "1 2", 3, "unexpected character '2'" },
      ok = { { {}, "{} \r\n\t" } } },
    { "rejects a UTF-8 byte order mark",
      { "\239\187\191[]", 1, "UTF-8 byte order mark is not allowed", runs = true },
      { "\239\187\191{}", 1, "UTF-8 byte order mark is not allowed" } },
    { "rejects NaN and Infinity",
      { "[NaN]", 2, "unexpected character 'N'" },
      { "[Infinity]", 2, "unexpected character 'I'" },
      { "[-Infinity]", 3, "unexpected character 'I'" },
      { "[nan]", 3, "unexpected character 'a'" } },
    { "rejects leading zeros",
      { "[01]", 2, "leading zero in number" },
      { "[-007]", 3, "leading zero in number" },
      ok = {
        { 0, "0" },
        { 0.5, "0.5" },
      } },
    { "rejects malformed numbers",
      { "[1.]", 4, "unexpected character ']'" },
      { "[.5]", 2, "unexpected character '.'" },
      { "[1e]", 4, "unexpected character ']'" },
      { "[-]", 3, "unexpected character ']'" },
      { "[+1]", 2, "unexpected character '+'" },
      { "1e+", 4, "unexpected end of input" },
      { "[0x10]", 3, "unexpected character 'x'" } },
    { "rejects numbers that overflow a double",
      { "[1e400]", 2, "number out of range" },
      { "[-1e400]", 2, "number out of range" },
      { '[{"outputs":{"x":' .. rep("9", 400) .. "}}]", 18, "number out of range", runs = true },
      ok = { { 0, "1e-400" } } },
    { "rejects invalid escapes",
      { '["a\\x"]', 4, "invalid escape '\\x' in string" },
      { '["\\\'"]', 3, "invalid escape '\\'' in string" },
      { '["\\u12G4"]', 3, "invalid \\u escape in string" },
      { '["\\u12"]', 3, "invalid \\u escape in string" },
      { '"\\u12', 6, "unexpected end of input" },
      { '"\\', 3, "unexpected end of input" } },
    { "rejects control characters inside strings",
      { '["a\tb"]', 4, "control character 0x09 in string" },
      { '["\n"]', 3, "control character 0x0A in string" },
      { '["\\n\0"]', 5, "control character 0x00 in string" },
      { '[{"id":"sbr\31"}]', 12, "control character 0x1F in string", runs = true } },
    { "rejects invalid UTF-8",
      { '["\192\175"]', 3, "invalid UTF-8 byte 0xC0 in string" }, -- overlong '/'
      { '["\224\128\175"]', 3, "invalid UTF-8 byte 0xE0 in string" }, -- overlong
      { '["\237\160\128"]', 3, "invalid UTF-8 byte 0xED in string" }, -- U+D800
      { '["\244\144\128\128"]', 3, "invalid UTF-8 byte 0xF4 in string" }, -- > U+10FFFF
      { '["\245\128\128\128"]', 3, "invalid UTF-8 byte 0xF5 in string" },
      { '["\226\130"]', 3, "invalid UTF-8 byte 0xE2 in string" }, -- truncated
      { '"ab\226', 4, "invalid UTF-8 byte 0xE2 in string" },
      { '["\128"]', 3, "invalid UTF-8 byte 0x80 in string" }, -- lone continuation
      { '["\\n\255"]', 5, "invalid UTF-8 byte 0xFF in string" },
      { '{"k\192":1}', 4, "invalid UTF-8 byte 0xC0 in string" },
      ok = {
        { "\240\159\152\128\244\143\191\191\239\191\191", '"\240\159\152\128\244\143\191\191\239\191\191"' },
      } },
    { "rejects unpaired and mismatched surrogate escapes",
      { '["\\uD800"]', 3, "unpaired surrogate \\uD800 in string" },
      { '["\\udc00"]', 3, "unpaired surrogate \\uDC00 in string" },
      { '["x\\uD83D\\u0041"]', 4, "unpaired surrogate \\uD83D in string" },
      { '["\\uD83D\\uD83D"]', 3, "unpaired surrogate \\uD83D in string" },
      { '["\\uDE00\\uD83D"]', 3, "unpaired surrogate \\uDE00 in string" },
      { '["\\uD83Dx"]', 3, "unpaired surrogate \\uD83D in string" } },
    { "combines a surrogate pair into one code point",
      ok = {
        { "\240\159\152\128", '"\\uD83D\\uDE00"' },
        { "\244\143\191\191", '"\\udbff\\udfff"' },
        { "a\0b", '"a\\u0000b"' },
        { "<>&\226\128\168\226\128\169", '"\\u003c\\u003e\\u0026\\u2028\\u2029"' },
        { "\"\\/\b\f\n\r\t", '"\\"\\\\\\/\\b\\f\\n\\r\\t"' },
      } },
    { "rejects unterminated strings, arrays and objects",
      { '["abc', 6, "unexpected end of input" },
      { "[1,2", 5, "unexpected end of input" },
      { '{"a":1', 7, "unexpected end of input" },
      { '{"a"', 5, "unexpected end of input" },
      { '[{"id":"x"', 11, "unexpected end of input", runs = true },
      { '[{"runner_job":{"status":"fini', 31, "unexpected end of input", runs = true } },
    { "rejects misplaced punctuation",
      { "[1 2]", 4, "unexpected character '2'" },
      { "[1,]", 4, "unexpected character ']'" },
      { '{"a":1,}', 8, "unexpected character '}'" },
      { '{"a" 1}', 6, "unexpected character '1'" },
      { "{1:2}", 2, "unexpected character '1'" },
      { "[tru]", 5, "unexpected character ']'" },
      { "[nul", 5, "unexpected end of input" },
      { "[\1]", 2, "unexpected byte 0x01" },
      { '[{"id" "x"}]', 8, "unexpected character '\"'", runs = true },
      { '[{"id":"x"]', 11, "unexpected character ']'", runs = true } },
  }

  it("carries the position in a decode error's string form", function()
    local err = json_error("[1,]")
    assert.equal("nuon decode error: invalid JSON at byte 4: unexpected character ']'", tostring(err))
  end)
end)

describe("limits and duplicate keys", function()
  it("rejects nesting deeper than max_depth, 128 by default", function()
    local ok = rep("[", 128) .. rep("]", 128)
    assert.is_table(core.decode_json(ok))
    local err = json_error(rep("[", 129) .. rep("]", 129))
    assert.equal("decode", err.kind)
    assert.equal("JSON nested deeper than max_depth (128)", err.message)
    assert.equal(129, err.position)
  end)

  it("counts the schema levels of a runs body against max_depth", function()
    -- runs [ run { runner_job { executions [ execution { result { error_metadata {
    local text = '[{"runner_job":{"executions":[{"result":{"error_metadata":{}}}]}}]'
    assert.is_table(core.decode(text, { max_depth = 7 }))
    local err = decode_error(text, { max_depth = 6 })
    assert.equal("JSON nested deeper than max_depth (6)", err.message)
    assert.equal((text:find("{}", 1, true)), err.position)
    assert.equal(59, err.position)
    err = decode_error('[{"outputs":' .. rep("[", 200) .. rep("]", 200) .. "}]")
    assert.equal("JSON nested deeper than max_depth (128)", err.message)
    assert.equal(139, err.position)
  end)

  it("takes max_depth for decode_json as its second argument", function()
    assert.equal("JSON nested deeper than max_depth (2)", json_error("[[[]]]", 2).message)
    assert.same({ { {} } }, core.decode_json("[[[]]]", 3))
  end)

  it("does not exhaust the C stack at the hard depth limit", function()
    local text = rep('{"a":', 1000) .. "1" .. rep("}", 1000)
    assert.is_table(core.decode_json(text, 1000))
    assert.equal("JSON nested deeper than max_depth (1000)",
      json_error(rep("[", 5000) .. rep("]", 5000), 1000).message)
  end)

  syntax_cases {
    { "rejects a duplicate key in a generic object and names it",
      { '{"a":1,"a":2}', 8, 'duplicate key "a"' },
      { '{"a":null,"a":1}', 11, 'duplicate key "a"' },
      { '{"a":1,"\\u0061":2}', 8, 'duplicate key "a"' },
      { '[{"x":{"k":1,"j":2,"k":3}}]', 20, 'duplicate key "k"' } },
    { "rejects a duplicate spelled with escapes first, or after many nulls",
      { '{"\\u0061":1,"a":2}', 13, 'duplicate key "a"' },
      { '{"\\u0061":null,"a":2}', 16, 'duplicate key "a"' },
      { '{"a":null,"b":null,"c":null,"d":null,"e":null,"e":1}', 47, 'duplicate key "e"' },
      { '{"a":null,"b":null,"c":null,"d":null,"e":null,"a":1}', 47, 'duplicate key "a"' },
      { '[{"\\u007a":1,"z":2}]', 14, 'duplicate key "z"', runs = true },
      { '[{"log_stream":{"attrs":{"\\u006b":"a","k":"b"}}}]', 39, 'duplicate key "k"', runs = true },
      ok = { { { b = 1 }, '{"a":null,"b":1,"c":null,"d":null,"e":null,"f":null}' } } },
    { "rejects a duplicate schema field, even after a null",
      { '[{"id":"x","id":"y"}]', 12, 'duplicate key "id"', runs = true },
      { '[{"id":null,"id":"y"}]', 13, 'duplicate key "id"', runs = true },
      { '[{"runner_job":{"status":"queued","st\\u0061tus":"queued"}}]', 35, 'duplicate key "status"',
        runs = true } },
    { "rejects a duplicate unknown field of a schema object",
      { '[{"zz":1,"zz":2}]', 10, 'duplicate key "zz"', runs = true },
      { '[{"zz":null,"id":"x","zz":2}]', 22, 'duplicate key "zz"', runs = true } },
    { "rejects a duplicate key in a string map",
      { '[{"log_stream":{"attrs":{"k":"a","k":"b"}}}]', 34, 'duplicate key "k"', runs = true },
      { '[{"log_stream":{"attrs":{"k":null,"k":"b"}}}]', 35, 'duplicate key "k"', runs = true } },
  }

  -- Keys that share a bucket of the decoder's key cache (key_hash in
  -- src/decode_cache.h for keys under 8 bytes: ((bytes ^ length) * K) >> 40 & 255,
  -- in 64-bit integers: Lua 5.4's, or LuaJIT's FFI ones; each VM's syntax is
  -- compiled only on it; Lua 5.1 and 5.2, which have neither, multiply in
  -- 16-bit limbs): a nested object's keys evict a key of the outer object,
  -- which then comes again.
  local key_bucket
  if math.type or jit then
    key_bucket = assert(load(math.type and [[
      local k = ...
      local a = string.unpack("<I8", k .. ("\0"):rep(8 - #k))
      return ((a ~ #k) * -4417276706812531889) >> 40 & 255
    ]] or [[
      local k, bit = ..., require "bit"
      local a = 0ULL
      for i = #k, 1, -1 do a = a * 256 + k:byte(i) end
      return tonumber(bit.band(bit.rshift(bit.bxor(a, #k) * 0xC2B2AE3D27D4EB4FULL, 40), 255))
    ]]))
  else
    local K = { 0xEB4F, 0x27D4, 0xAE3D, 0xC2B2 } -- 0xC2B2AE3D27D4EB4F, low limb first
    key_bucket = function(k)
      local b = { k:byte(1, -1) }
      for i = #k + 1, 8 do b[i] = 0 end
      -- #k < 8 only changes the low byte: (b1 xor #k) by arithmetic
      local x, y, bit, low = b[1], #k, 1, 0
      while x > 0 or y > 0 do
        if x % 2 ~= y % 2 then low = low + bit end
        x, y, bit = math.floor(x / 2), math.floor(y / 2), bit * 2
      end
      b[1] = low
      local a = { b[1] + 256 * b[2], b[3] + 256 * b[4], b[5] + 256 * b[6], b[7] + 256 * b[8] }
      local r, carry = {}, 0
      for i = 1, 3 do -- limbs 1..3 of the product mod 2^64 (bits 0..47)
        local sum = carry
        for j = 1, i do sum = sum + a[j] * K[i - j + 1] end
        r[i], carry = sum % 65536, math.floor(sum / 65536)
      end
      return math.floor(r[3] / 256) % 256
    end
  end
  local function same_bucket(k, count)
    local found = {}
    for i = 0, 100000 do
      local c = "c" .. i
      if key_bucket(c) == key_bucket(k) then found[#found + 1] = c end
      if #found == count then return found end
    end
    error("no keys in the bucket of " .. k)
  end
  it("rejects a duplicate whose cache entry a nested object replaced in between", function()
    local c = same_bucket("k1", 3)
    for _, nested in ipairs {
      ('{"%s":1,"%s":2}'):format(c[1], c[2]),
      ('{"%s":1,"%s":2,"%s":3}'):format(c[1], c[2], c[3]),
      ('{"%s":{"%s":2}}'):format(c[1], c[2]),
    } do
      local text = '{"k1":1,"n":' .. nested .. ',"k1":2}'
      assert_syntax(json_error(text), text:match('.*()"k1"'), 'duplicate key "k1"')
      text = '[{"zz":{"k1":1,"n":' .. nested .. ',"k1":2}}]'
      assert_syntax(decode_error(text), text:match('.*()"k1"'), 'duplicate key "k1"')
      text = '[{"log_stream":{"attrs":{"k1":"a","' .. c[1] .. '":"b","' .. c[2] .. '":"c","k1":"d"}}}]'
      assert_syntax(decode_error(text), text:match('.*()"k1"'), 'duplicate key "k1"')
    end
  end)

  it("accepts the same key in different objects", function()
    local v = core.decode_json('[{"a":1},{"a":2},{"b":{"a":3}}]')
    assert.same({ { a = 1 }, { a = 2 }, { b = { a = 3 } } }, v)
  end)

  it("caps max_depth options out of range", function()
    assert.has_error(function() core.decode("[]", { max_depth = 0 }) end)
    assert.has_error(function() core.decode_json("[]", 1001) end)
  end)
end)

describe("core.decode_json", function()
  it("decodes a server error body", function()
    assert.same({
      error = "not found",
      description = "install inl5c7e9g1i3k5m7o9q1s3u5w7 was not found",
      user_error = true,
    }, core.decode_json(fixture("error_body.json")))
  end)

  it("decodes scalars, and null to nil with no error", function()
    assert.equal("x", core.decode_json('"x"'))
    assert.equal(true, core.decode_json("true"))
    assert.equal(false, core.decode_json(" false "))
    local v, err = core.decode_json("null")
    assert.is_nil(v)
    assert.is_nil(err)
    assert.equal(-12, core.decode_json("-12"))
    assert_integer(core.decode_json("-12"))
    assert.equal(100, core.decode_json("1E2"))
    assert_float(core.decode_json("1E2"))
    assert.equal(-0.0, core.decode_json("-0.0"))
  end)

  it("reads integers that fit int64 as integers, others as floats", function()
    assert.equal(9007199254740993, core.decode_json("9007199254740993") + (HAS_INTEGERS and 0 or 1))
    assert_integer(core.decode_json("9223372036854775807"))
    assert_float(core.decode_json("9223372036854775808"))
    assert_float(core.decode_json("12345678901234567000"))
    assert.equal(12345678901234567000, core.decode_json("12345678901234567000"))
  end)

  it("leaves a hole for null in an array", function()
    local v = core.decode_json("[1,null,3]")
    assert.equal(1, v[1])
    assert.is_nil(v[2])
    assert.equal(3, v[3])
  end)

  it("drops null object members", function()
    assert.same({ b = 1 }, core.decode_json('{"a":null,"b":1}'))
  end)

  it("decodes long strings with and without escapes", function()
    local long = rep("abcdefghij", 1000)
    assert.equal(long, core.decode_json('"' .. long .. '"'))
    assert.equal(long .. "\n" .. long, core.decode_json('"' .. long .. "\\n" .. long .. '"'))
    assert.equal(rep("\226\130\172", 500), core.decode_json('"' .. rep("\\u20ac", 500) .. '"'))
  end)
end)

describe("core.enums", function()
  it("lists each seed enum's values first, in schema order, then those added since", function()
    local seed = {
      run_type = { "provision", "reprovision", "deprovision" },
      runner_job_status = { "queued", "available", "in-progress", "finished", "failed", "timed-out",
                            "not-attempted", "cancelled", "unknown" },
      runner_job_group = { "health-checks", "sync", "build", "deploy", "sandbox", "runner",
                           "operations", "user", "", "any" },
      runner_job_operation = { "exec", "apply", "destroy", "plan-only", "build", "unknown" },
      runner_job_type = { "health-check", "docker-build", "container-image-build",
                          "terraform-module-build", "helm-chart-build", "noop-build", "oci-sync",
                          "noop-sync", "terraform-deploy", "helm-chart-deploy", "job-deploy",
                          "noop-deploy", "shut-down", "noop", "sandbox-terraform", "runner-helm",
                          "runner-terraform", "runner-local" },
      runner_job_execution_status = { "pending", "initializing", "in-progress", "cleaning-up",
                                      "finished", "failed", "timed-out", "not-attempted",
                                      "cancelled", "unknown" },
    }
    for name, values in pairs(seed) do
      for i, v in ipairs(values) do
        assert.equal(v, core.enums[name][i], name)
        assert.matches("^seed", core.enum_provenance[name][v], name .. " " .. v)
      end
      for i = #values + 1, #core.enums[name] do
        assert.matches("^added 20%d%d%-%d%d", core.enum_provenance[name][core.enums[name][i]])
      end
    end
    local names = {}
    for name in pairs(core.enums) do names[#names + 1] = name end
    table.sort(names)
    assert.same({ "composite_status", "run_status", "run_type", "runner_job_execution_status",
      "runner_job_group", "runner_job_operation", "runner_job_status", "runner_job_type" }, names)
  end)
end)

-- ---- the differential test ------------------------------------------------

-- A small deterministic PRNG (same sequence on Lua 5.4 and LuaJIT).
local function prng(seed)
  local s = seed
  return function(a, b)
    s = (s * 1103515245 + 12345) % 2147483648
    return a + floor(s / 65536) % (b - a + 1)
  end
end

local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
    0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

local ESCAPES = { '\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t" }

local function gen_string(rnd)
  local parts = { '"' }
  for _ = 1, rnd(0, 12) do
    local k = rnd(1, 12)
    if k <= 5 then
      parts[#parts + 1] = char(rnd(32, 126)):gsub('[\\"]', "x")
    elseif k == 6 then
      parts[#parts + 1] = ESCAPES[rnd(1, #ESCAPES)]
    elseif k == 7 then
      local cp = rnd(0, 0xFFFF)
      if cp >= 0xD800 and cp <= 0xDFFF then cp = cp - 0x800 end
      parts[#parts + 1] = format(rnd(0, 1) == 1 and "\\u%04X" or "\\u%04x", cp)
    elseif k == 8 then
      local cp = rnd(0x10000, 0x10FFFF) - 0x10000
      parts[#parts + 1] = format("\\u%04X\\u%04x", 0xD800 + floor(cp / 1024), 0xDC00 + cp % 1024)
    elseif k == 9 then
      local cp = rnd(0x80, 0x10FFFF)
      if cp >= 0xD800 and cp <= 0xDFFF then cp = 0xE000 end
      parts[#parts + 1] = utf8_char(cp)
    elseif k == 10 then
      parts[#parts + 1] = ({ "\\u003c", "\\u003e", "\\u0026", "\\u2028", "\\u2029" })[rnd(1, 5)]
    else
      parts[#parts + 1] = rep(char(rnd(97, 122)), rnd(1, 40))
    end
  end
  parts[#parts + 1] = '"'
  return table.concat(parts)
end

local function gen_number(rnd)
  local k = rnd(1, 6)
  if k == 1 then return tostring(rnd(-1000, 1000)) end
  if k == 2 then return format("%d", rnd(0, 2097151) * 4294967296 + rnd(0, 2147483647)) end
  if k == 3 then return format("%.17g", (rnd(0, 1000000) - 500000) / rnd(1, 100000)) end
  if k == 4 then return format("%de%s%d", rnd(-99, 99), ({ "", "+", "-" })[rnd(1, 3)], rnd(0, 30)) end
  if k == 5 then return format("%d.%dE%d", rnd(0, 9), rnd(0, 99999), rnd(-300, 300)) end
  return ({ "0", "-0", "0.0", "-0.5", "1e-400", "123456789012345678901234567890" })[rnd(1, 6)]
end

local function ws(rnd)
  if rnd(1, 4) > 1 then return "" end
  return ({ " ", "\n", "\t", "\r\n  " })[rnd(1, 4)]
end

local function gen_value(rnd, depth)
  local k = rnd(1, depth > 4 and 6 or 9)
  if k <= 2 then return gen_string(rnd) end
  if k <= 4 then return gen_number(rnd) end
  if k == 5 then return ({ "true", "false" })[rnd(1, 2)] end
  if k == 6 then return "null" end
  if k <= 8 then
    local parts = {}
    for i = 1, rnd(0, 6) do
      local key = gen_string(rnd):gsub('^"', '"k' .. i .. "_")
      parts[i] = ws(rnd) .. key .. ws(rnd) .. ":" .. ws(rnd) .. gen_value(rnd, depth + 1) .. ws(rnd)
    end
    return "{" .. table.concat(parts, ",") .. ws(rnd) .. "}"
  end
  local parts = {}
  for i = 1, rnd(0, 6) do parts[i] = ws(rnd) .. gen_value(rnd, depth + 1) .. ws(rnd) end
  return "[" .. table.concat(parts, ",") .. ws(rnd) .. "]"
end

-- Random edits of a decoded run tree: drop members, null out objects.  Empty
-- tables become null too (cjson would encode an empty array as {}).
local function mutate(rnd, t, depth)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v, roll = t[k], rnd(1, 20)
    if type(v) == "table" and next(v) == nil then
      t[k] = cjson.null
    elseif roll == 1 and type(k) == "string" then
      t[k] = nil
    elseif roll == 2 and type(v) == "table" and type(k) == "string" then
      t[k] = cjson.null
    elseif type(v) == "table" and depth < 8 then
      mutate(rnd, v, depth + 1)
    end
  end
end

describe("the differential test against lua-cjson", function()
  it("decodes every fixture to what cjson.decode gives", function()
    for _, name in ipairs { "seed_runs.json", "current_runs.json", "error_body.json" } do
      local text = fixture(name)
      assert_deep_equal(core.decode_json(text), cjson.decode(text))
    end
  end)

  it("decodes the fixtures' runs to cjson's tables but for the bridge and warnings", function()
    for _, name in ipairs { "seed_runs.json", "current_runs.json" } do
      local text = fixture(name)
      assert_deep_equal(assert(core.decode(text)), cjson.decode(text), runs_skip)
    end
  end)

  it("agrees with cjson on 400 random documents", function()
    local rnd = prng(20241218)
    for i = 1, 400 do
      local text = ws(rnd) .. gen_value(rnd, 0) .. ws(rnd)
      local ok, expected = pcall(cjson.decode, text)
      assert(ok, "cjson rejected document " .. i .. ": " .. text)
      local got, err = core.decode_json(text)
      assert(err == nil, tostring(err) .. " in document " .. i .. ": " .. text)
      local same, why = deep_equal(got, expected)
      assert(same, format("document %d differs at %s: %s", i, tostring(why), text))
    end
  end)

  it("agrees with cjson on 100 randomly edited run arrays", function()
    local rnd = prng(7)
    local sources = { cjson.decode(fixture("seed_runs.json")), cjson.decode(fixture("current_runs.json")) }
    for i = 1, 100 do
      local runs = cjson.decode(cjson.encode(sources[i % 2 + 1]))
      for _, run in ipairs(runs) do mutate(rnd, run, 0) end
      local text = cjson.encode(runs)
      local got, err = core.decode(text)
      assert(err == nil, tostring(err) .. " in edit " .. i)
      local same, why = deep_equal(got, cjson.decode(text), "", runs_skip)
      assert(same, format("edit %d differs at %s", i, tostring(why)))
    end
  end)

  it("agrees with cjson where strings and keys repeat, collide and are escaped", function()
    -- More distinct values and keys than the decoder's caches hold, in the
    -- same fields and in generic objects, raw and escaped: every cache path.
    local rnd = prng(99)
    local items = {}
    for i = 1, 3000 do
      local v = format("v%d", rnd(1, 2500))
      local esc = ({ 'x\\"y', "a\\\\", "\\u003c" .. v .. "\\u003e", v .. "\\n" })[rnd(1, 4)]
      items[i] = format('{"id":"%s","status":"%s","status_description":"%s","k%d":"%s","o":{"k%d":"%s"}}',
        v, esc, v, rnd(1, 700), v, rnd(1, 700), esc)
    end
    local text = "[" .. table.concat(items, ",") .. "]"
    assert_deep_equal(core.decode_json(text), cjson.decode(text))
    assert_deep_equal(assert(core.decode(text)), cjson.decode(text), runs_skip)
  end)

  it("gives the same tables with its caches warm from other bodies (they persist across calls)", function()
    -- the caches and guesses kept from one call to the next must only ever
    -- save work: alternate bodies whose strings and keys land in the same
    -- cache entries, and compare every result with cjson's
    local rnd = prng(31)
    local bodies = {}
    for b = 1, 6 do
      local items = {}
      for i = 1, 200 do
        local v = format("b%dv%d", b % 2, rnd(1, 300))
        items[i] = format('{"id":"%s","status":"%s","k%d":"%s","o":{"k%d":"%s"}}',
          v, ({ "active", "error", v })[rnd(1, 3)], rnd(1, 50), v, rnd(1, 50), v)
      end
      bodies[b] = "[" .. table.concat(items, ",") .. "]"
    end
    for round = 1, 3 do
      for b = 1, #bodies do
        local text = bodies[(b * round) % #bodies + 1]
        assert_deep_equal(assert(core.decode(text)), cjson.decode(text), runs_skip)
        assert_deep_equal(core.decode_json(text), cjson.decode(text))
      end
    end
  end)

  it("stays right when a finalizer decodes in the middle of another decode", function()
    -- a __gc metamethod can run Lua code while the decoder allocates; here
    -- it decodes another body, sharing the same caches
    local outer_text, inner_text = fixture("current_runs.json"), fixture("seed_runs.json")
    local items = {}
    for i = 1, 40 do items[i] = outer_text:match("^%s*%[(.*)%]%s*$") end
    outer_text = "[" .. table.concat(items, ",") .. "]"
    local outer_expected, inner_expected = cjson.decode(outer_text), cjson.decode(inner_text)
    local inside, during, results = false, 0, {}
    local function finalized()
      if inside then during = during + 1 end
      results[#results + 1] = assert(core.decode(inner_text))
    end
    local function garbage(n) -- n finalizable objects, unreachable at once
      -- made with the collector stopped, so that none is finalized before
      -- the decode starts (with a collector that never pauses, Lua 5.3
      -- would otherwise finalize them all while they are being made)
      collectgarbage("stop")
      for _ = 1, n do
        if newproxy then -- Lua 5.1 and LuaJIT: only userdata have __gc
          getmetatable(newproxy(true)).__gc = finalized
        else
          setmetatable({}, { __gc = finalized })
        end
      end
      collectgarbage("restart")
    end
    -- a collector that never pauses (a larger step multiplier makes Lua
    -- 5.3's collector quadratic here: seconds a decode, not milliseconds)
    local pause, stepmul = collectgarbage("setpause", 0), collectgarbage("setstepmul", 200)
    -- at least 5 rounds, more (up to 50) until a finalizer has run inside a
    -- decode: when it does depends on the collector's pace (Lua 5.1's is
    -- the laziest) and on how much the decode allocates
    local rounds = 0
    repeat
      rounds = rounds + 1
      garbage(200)
      inside = true
      local got = assert(core.decode(outer_text))
      inside = false
      assert_deep_equal(got, outer_expected, runs_skip)
    until rounds >= 50 or (rounds >= 5 and during > 0)
    collectgarbage("setpause", pause)
    collectgarbage("setstepmul", stepmul)
    collectgarbage("collect")
    assert.is_true(during > 0, "no finalizer ran during a decode")
    for _, r in ipairs(results) do assert_deep_equal(r, inner_expected, runs_skip) end
  end)

  it("can fail: a changed value is noticed", function()
    local text = fixture("seed_runs.json")
    local runs = assert(core.decode(text))
    runs[2].runner_job.executions[1].result.error_metadata.exit_code = "2"
    assert.is_false((deep_equal(runs, cjson.decode(text), "", runs_skip)))
  end)
end)
