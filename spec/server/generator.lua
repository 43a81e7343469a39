-- Deterministic sandbox-run data for the test API server and the benchmark.
--
-- Writes the JSON text itself, the way Nuon's Go server does: keys in Go struct
-- order, map keys sorted, HTML-safe string escapes, RFC 3339 UTC timestamps with
-- 0-6 fractional digits, ids of a 3-letter prefix + 23 of [0-9a-z], durations as
-- int64 nanoseconds. Pure Lua that runs unchanged on Lua 5.1, 5.4 and LuaJIT
-- (nginx): no integer division, no bit operators, no goto, and every number it
-- computes stays below 2^47 so doubles and 5.4 integers agree.
--
--   local gen = require "server.generator"
--   local runs, info = gen.runs("inl...", { count = 25, flavor = "mixed", seed = 1 })
--   local text = gen.body("inl...", { count = 10000 })
--
-- Flavors (see ../../../shared/spec/NOTES.md):
--   "legacy"  the seed-era wire (Dec 2024): every field present, zero values and
--             nulls included, one `runner_job` object, placeholders for old runs.
--   "current" today's wire: omitzero, `runner_jobs` (newest first), status_v2,
--             created_by, outputs, workflow, post-seed enum values. With
--             `bridge = true` (the default for this flavor) about half the runs
--             also carry a synthetic `runner_job` copied from runner_jobs[1], the
--             only way to get post-seed enum values into seed-known paths;
--             `bridge = false` gives the exact HEAD shape (never both keys).
--   "mixed"   a long-lived install: runs created before the runner_jobs rename
--             (2025-06-23) are legacy-shaped, newer ones current-shaped
--             (bridge defaults to false here).
--   "today"   what today's server sends (UPSTREAM.md, "More of today's server"):
--             the current wire without the bridge, two jobs per run (the plan
--             job, type sandbox-terraform with operation create-apply-plan or
--             create-teardown-plan, and the apply job, operation apply-plan),
--             newest first; status = status_v2.status from today's composite
--             set; `references: null`; `"Refs"` with capitalised item keys. About
--             20% of the runs are older than the plan/apply split (June 2025)
--             and keep their old single job (apply, destroy, plan-only).
--   "seed"    the 2024 documentation page exactly: the legacy wire without the
--             keys the page never documented (org_id of runs, VCS configs,
--             connections).
-- The same (install_id, opts) always gives byte-identical output.
local M = { _VERSION = "1.0" }

local floor, format, concat = math.floor, string.format, table.concat
local byte, sub, find, gsub = string.byte, string.sub, string.find, string.gsub
local os_date = os.date

M.ORG_ID = "orgnuontestorg000000000001"
M.API_VERSION = "0.19.1125" -- X-Nuon-API-Version of today's server (nuon-python's api)

-- Epoch seconds of the dates that change what a run looks like (NOTES.md).
local DAY = 86400
local E = {
  start          = 1719792000, -- 2024-07-01, where generated histories begin
  job_ownership  = 1728604800, -- 2024-10-11, runs get a runner job
  log_streams    = 1731456000, -- 2024-11-13, runs get a log stream
  seed           = 1734480000, -- 2024-12-18, the seed page / end of "legacy"
  deprovisioned  = 1735776000, -- 2025-01-02, status "deprovisioned"
  app_config_id  = 1744675200, -- 2025-04-15
  install_sandbox = 1745366400, -- 2025-04-23, install_sandbox_id
  install_workflow = 1745884800, -- 2025-04-29, install_workflow_id
  cancelled      = 1747440000, -- 2025-05-17, status "cancelled"
  approvals      = 1749081600, -- 2025-06-05, pending-approval / approval-denied
  plan_split     = 1749772800, -- 2025-06-13, plan+apply jobs, status_v2
  runner_jobs    = 1750636800, -- 2025-06-23, runner_job -> runner_jobs (mixed cut-off)
  job_outputs    = 1750809600, -- 2025-06-25, planning/applying, job outputs and timings
  references     = 1760572800, -- 2025-10-16, app_sandbox_config.references = []
  drift          = 1755820800, -- 2025-08-22, auto-skipped
  now            = 1766188800, -- 2025-12-20, the default "now"
}
M.ERAS = E

local DEFAULTS = { count = 25, flavor = "mixed", seed = 1, now = E.now }
M.DEFAULTS = DEFAULTS

-- Go time.Duration values, int64 nanoseconds (kept as text: above 2^31).
local QUEUE_TIMEOUT = "86400000000000"
local AVAILABLE_TIMEOUT = "30000000000"
local EXECUTION_TIMEOUT = "3600000000000"
local OVERALL_TIMEOUT = "90030000000000"
local ZERO_TIME = "0001-01-01T00:00:00Z"

---------------------------------------------------------------------------
-- PRNG: Park-Miller minimal standard. x * 48271 < 2^47, exact everywhere.

local MOD = 2147483647

local function hash(s, h)
  h = h or 5381
  for i = 1, #s do h = (h * 33 + byte(s, i)) % MOD end
  return h
end
M.hash = hash

local function new_rng(seed)
  local x = floor(seed) % MOD
  if x == 0 then x = 1 end
  local rng = {}
  function rng.next()
    x = (x * 48271) % MOD
    return x
  end
  -- 1..n
  function rng.int(n) return rng.next() % n + 1 end
  -- lo..hi
  function rng.range(lo, hi) return lo + rng.next() % (hi - lo + 1) end
  -- [0, 1)
  function rng.float() return (rng.next() - 1) / (MOD - 1) end
  function rng.chance(p) return rng.float() < p end
  function rng.pick(list) return list[rng.next() % #list + 1] end
  -- list of { value, weight }
  function rng.weighted(list)
    local total = 0
    for i = 1, #list do total = total + list[i][2] end
    local r = rng.next() % total
    for i = 1, #list do
      r = r - list[i][2]
      if r < 0 then return list[i][1] end
    end
    return list[#list][1]
  end
  return rng
end
M.new_rng = new_rng

local ALPHABET = {}
for i = 0, 35 do ALPHABET[i] = sub("0123456789abcdefghijklmnopqrstuvwxyz", i + 1, i + 1) end

-- A Nuon short id: 3-letter prefix + 23 characters of [0-9a-z].
local function new_id(rng, prefix)
  local t = { prefix }
  for _ = 1, 5 do
    local x = rng.next()
    for _ = 1, 5 do
      t[#t + 1] = ALPHABET[x % 36]
      x = floor(x / 36)
    end
  end
  return sub(concat(t), 1, 26)
end
M.new_id = new_id

---------------------------------------------------------------------------
-- Go's encoding/json: strings, timestamps, maps.

local ESCAPES = { ['"'] = '\\"', ['\\'] = '\\\\', ['<'] = '\\u003c', ['>'] = '\\u003e',
  ['&'] = '\\u0026', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r',
  ['\t'] = '\\t' }
for c = 0, 31 do
  local ch = string.char(c)
  if not ESCAPES[ch] then ESCAPES[ch] = format("\\u%04x", c) end
end
local LINE_SEPARATORS = { ["\168"] = "\\u2028", ["\169"] = "\\u2029" }

-- A JSON string with Go's HTML-safe escaping (U+2028/U+2029 too).
local function str(s)
  if not find(s, '[%z\1-\31"\\<>&\226]') then return '"' .. s .. '"' end
  s = gsub(s, '[%z\1-\31"\\<>&]', ESCAPES)
  s = gsub(s, "\226\128([\168\169])", LINE_SEPARATORS)
  return '"' .. s .. '"'
end
M.encode_string = str

-- RFC 3339 in UTC with the fractional part Go's RFC3339Nano gives a Postgres
-- timestamp: microseconds, trailing zeros trimmed, no dot when zero.
local function timestamp(sec, usec)
  local s = os_date("!%Y-%m-%dT%H:%M:%S", sec)
  if usec and usec > 0 then
    s = s .. "." .. gsub(format("%06d", usec), "0+$", "")
  end
  return s .. "Z"
end
M.timestamp = timestamp

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- JSON values for maps and outputs: a Lua tree where tables with `[1]` are
-- arrays, `{ num = "123" }` is a number literal, `NULL` is null. Go mode sorts
-- keys and escapes like encoding/json; jsonb mode reproduces Postgres' jsonb
-- text (keys by length then bytes, ", " and ": ", no HTML escaping).
local NULL = setmetatable({}, { __tostring = function() return "null" end })
M.NULL = NULL

local function jsonb_less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end

local function plain_str(s)
  return '"' .. gsub(s, '[%z\1-\31"\\]', ESCAPES) .. '"'
end

local function value(v, jsonb)
  local tv = type(v)
  if tv == "string" then return jsonb and plain_str(v) or str(v) end
  if tv == "boolean" then return v and "true" or "false" end
  if tv == "number" then return format("%d", v) end
  if v == NULL then return "null" end
  if v.num then return v.num end
  local sep, colon = ",", ":"
  if jsonb then sep, colon = ", ", ": " end
  local out = {}
  if v[1] ~= nil then
    for i = 1, #v do out[i] = value(v[i], jsonb) end
    return "[" .. concat(out, sep) .. "]"
  end
  local keys = sorted_keys(v)
  if jsonb then table.sort(keys, jsonb_less) end
  for i, k in ipairs(keys) do
    out[i] = (jsonb and plain_str(k) or str(k)) .. colon .. value(v[k], jsonb)
  end
  return "{" .. concat(out, sep) .. "}"
end
M.encode_value = value

-- Standard base64 (Go encodes []byte fields this way).
local B64 = {}
do
  local a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 0, 63 do B64[i] = sub(a, i + 1, i + 1) end
end
local function base64(s)
  local out, n = {}, #s
  for i = 1, n, 3 do
    local a, b, c = byte(s, i, i + 2)
    local x = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = B64[floor(x / 262144)] .. B64[floor(x / 4096) % 64]
      .. (b and B64[floor(x / 64) % 64] or "=") .. (c and B64[x % 64] or "=")
  end
  return concat(out)
end
M.base64 = base64

---------------------------------------------------------------------------
-- Object writer. `oz` is Go's omitzero (today's server): zero values vanish.

local function obj(oz)
  return { oz = oz, n = 0 }
end

local function raw(o, k, v)
  local n = o.n + 1
  o.n = n
  o[n] = (n == 1 and '"' or ',"') .. k .. '":' .. v
end

local function S(o, k, s)
  if o.oz and (s == nil or s == "") then return end
  raw(o, k, str(s or ""))
end

local function I(o, k, n)
  if o.oz and (n == nil or n == 0 or n == "0") then return end
  raw(o, k, type(n) == "string" and n or format("%d", n or 0))
end

local function BOOL(o, k, b)
  if o.oz and not b then return end
  raw(o, k, b and "true" or "false")
end

local function T(o, k, t)
  if o.oz and (t == nil or t == ZERO_TIME) then return end
  raw(o, k, str(t or ZERO_TIME))
end

-- JSON text that may be absent: nil is `null` on the seed-era wire, absent today.
local function J(o, k, v)
  if v == nil then
    if o.oz then return end
    v = "null"
  end
  raw(o, k, v)
end

local function close(o)
  return "{" .. concat(o, "", 1, o.n) .. "}"
end

---------------------------------------------------------------------------
-- Vocabulary.

local ERRORS = {
  "unable to provision sandbox: terraform apply failed: exit status 1",
  'Error: creating EKS Cluster (acme-prod): ResourceInUseException: Cluster already exists & is "ACTIVE"',
  "runner job failed: <nil>",
  "job timed out after 1h0m0s",
  "terraform plan: Error: Invalid value for variable\226\128\168\"vpc_cidr\" must be a valid CIDR <e.g. 10.0.0.0/16>",
  "error waiting for NAT Gateway (nat-0b1c2d3e) to become available: unexpected state 'failed'",
}

local ACCESS_ERRORS = {
  "unable to assume role arn:aws:iam::123456789012:role/nuon-install-access: AccessDenied",
  "unable to validate credentials: InvalidClientTokenId & SignatureDoesNotMatch",
}

local JOB_DESCRIPTIONS = {
  queued = "job is queued", available = "job is available", ["in-progress"] = "job is in progress",
  finished = "job finished successfully", failed = "job failed", ["timed-out"] = "job timed out",
  ["not-attempted"] = "job was not attempted", cancelled = "job was cancelled", unknown = "unknown",
}

local IN_FLIGHT = { provision = "provisioning", reprovision = "reprovisioning", deprovision = "deprovisioning" }

-- Sandbox run statuses with the date each appeared (NOTES.md (d)) and a weight.
local STATUSES = {
  { "active", 0, 700 }, { "error", 0, 110 }, { "access_error", 0, 25 }, { "queued", 0, 12 },
  { "in-flight", 0, 25 }, { "unknown", 0, 6 }, { "empty", 0, 6 },
  { "cancelled", E.cancelled, 30 }, { "pending-approval", E.approvals, 12 },
  { "approval-denied", E.approvals, 12 }, { "planning", E.job_outputs, 10 },
  { "applying", E.job_outputs, 10 }, { "auto-skipped", E.drift, 25 },
}

local function run_status(rng, t, legacy_only)
  local list = {}
  for _, s in ipairs(STATUSES) do
    if s[2] <= t and not (legacy_only and s[2] > 0) then list[#list + 1] = { s[1], s[3] } end
  end
  return rng.weighted(list)
end

local function status_description(rng, status, run_type)
  if status == "active" or status == "deprovisioned" then
    return "successfully " .. run_type .. "ed"
  elseif status == "error" then return rng.pick(ERRORS)
  elseif status == "access_error" then return rng.pick(ACCESS_ERRORS)
  elseif status == "queued" then return "queued"
  elseif status == "provisioning" then return "provisioning sandbox"
  elseif status == "reprovisioning" then return "reprovisioning sandbox"
  elseif status == "deprovisioning" then return "deprovisioning sandbox"
  elseif status == "cancelled" then return "workflow cancelled"
  elseif status == "pending-approval" then return "awaiting approval of the plan"
  elseif status == "approval-denied" then return "plan approval denied by user"
  elseif status == "planning" then return "creating sandbox plan"
  elseif status == "applying" then return "applying sandbox plan"
  elseif status == "auto-skipped" then return "no changes detected, apply skipped"
  end
  return ""
end

---------------------------------------------------------------------------
-- The install: accounts, sandbox configs, outputs. Shared by all its runs.

-- Microseconds as Postgres stores them; some with trailing zeros, so the
-- timestamps show every width from 0 to 6 fractional digits.
local function usec(rng)
  local r = rng.int(100)
  if r <= 8 then return 0 end
  if r <= 12 then return rng.range(1, 9) * 100000 end
  if r <= 16 then return rng.range(1, 99) * 10000 end
  if r <= 28 then return rng.range(1, 999) * 1000 end
  return rng.range(1, 999999)
end

local function time_of(rng, lo, hi)
  return rng.range(lo, hi), usec(rng)
end

local function new_install(install_id, opts)
  local seed = floor(opts.seed or DEFAULTS.seed)
  local rng = new_rng(hash(install_id, hash("install:" .. seed)))
  local org = opts.org_id or M.ORG_ID
  local inst = {
    id = install_id, org_id = org, seed = seed,
    app_id = new_id(rng, "app"), runner_id = new_id(rng, "run"),
    install_sandbox_id = new_id(rng, "isb"), accounts = {}, configs = {},
  }
  local people = { { "jordan@acme.dev", "auth0|64f0c2a1" }, { "sam.lee@acme.dev", "google-oauth2|1093" },
    { "ops+nuon@acme.dev", "auth0|65a1ee07" } }
  for i, p in ipairs(people) do
    local t = E.start - (i * 17) * DAY
    inst.accounts[i] = { id = new_id(rng, "acc"), email = p[1], subject = p[2] .. rng.range(100000, 999999),
      account_type = "auth0", created = timestamp(t, rng.range(1, 999999)) }
  end
  inst.accounts[4] = { id = new_id(rng, "acc"), email = "install-runner@serviceaccount.nuon.co",
    subject = "svc|" .. install_id, account_type = "service", created = timestamp(E.start - 40 * DAY, 0) }

  -- Sandbox configs: one at the start, more later as the app is updated.
  -- The last one is recent (60 to 40 days before `now`).
  local now = floor(opts.now or DEFAULTS.now)
  local n_configs = 2 + rng.int(4)
  for i = 1, n_configs do
    local first = E.start - 30 * DAY
    local lo = first + floor((i - 1) * (now - 60 * DAY - first) / (n_configs - 1))
    local t, us = time_of(rng, lo, lo + 20 * DAY)
    local c = {
      id = new_id(rng, "app"), t = t, created = timestamp(t, us),
      created_by_id = inst.accounts[rng.int(3)].id,
      terraform_version = rng.pick({ "1.5.7", "1.7.5", "1.9.8" }),
      aws_region_type = rng.weighted({ { "", 6 }, { "default", 3 }, { "govcloud", 1 } }),
    }
    c.updated = c.created
    if rng.chance(0.65) then
      local dir = rng.pick({ "aws-eks", "aws-ecs", "aws-eks-karpenter", "azure-aks", "aws-min" })
      c.public_git = { id = new_id(rng, "vcs"), repo = "https://github.com/nuonco/sandboxes",
        directory = dir, branch = "main" }
      c.cloud_platform = sub(dir, 1, 5) == "azure" and "azure" or "aws"
    else
      c.connected = { id = new_id(rng, "vcs"), repo = "acme-corp/infra-sandbox", repo_name = "infra-sandbox",
        repo_owner = "acme-corp", directory = "sandbox/aws", branch = rng.pick({ "main", "release/2.x" }),
        vcs_connection_id = new_id(rng, "vcs"), github_install_id = format("%d", rng.range(40000000, 59999999)) }
      c.cloud_platform = "unknown"
    end
    if rng.chance(0.4) then
      c.variables = { cluster_name = "acme-" .. rng.pick({ "prod", "staging", "eu" }),
        enable_nat_gateway = rng.pick({ "true", "false" }), tags = "team=platform&env=prod",
        description = "<managed by nuon>" }
      if rng.chance(0.5) then c.variables.kms_key_arn = NULL end
    end
    if t >= E.app_config_id then c.app_config_id = new_id(rng, "cfg") end
    if t >= E.app_config_id and rng.chance(0.5) then c.env_vars = { AWS_REGION = "us-west-2", TF_LOG = "WARN" } end
    if t >= E.app_config_id and rng.chance(0.3) then
      c.variables_files = { "vars/common.tfvars", "vars/prod.tfvars" }
    end
    if t >= E.references then c.references = {} end
    if t >= E.drift and rng.chance(0.5) then c.drift_schedule = "0 */6 * * *" end
    inst.configs[i] = c
  end

  local outputs = {
    account = { id = "123456789012", region = "us-west-2" },
    cluster = { arn = "arn:aws:eks:us-west-2:123456789012:cluster/acme-prod", name = "acme-prod",
      endpoint = "https://" .. string.upper(sub(inst.runner_id, 4, 15)) .. ".gr7.us-west-2.eks.amazonaws.com" },
    vpc = { id = "vpc-" .. sub(inst.app_id, 4, 20), cidr = "10.0.0.0/16" },
    public_subnet_ids = { "subnet-0a1b2c3d", "subnet-0e5f6a7b", "subnet-08c9d0e1" },
    nat_gateway_count = { num = "3" },
    max_pods_total = { num = "12345678901234567000" },
    note = "<outputs & more>",
  }
  inst.outputs_go = value(outputs)
  inst.refs_json = "[" .. concat({
    '{"Type":"sandbox","Name":"vpc_id","Value":"{{.nuon.sandbox.outputs.vpc.id}}","Input":"vpc_id"}',
    '{"Type":"secret","Name":"db_password","Value":"{{.nuon.secrets.db_password}}","Input":""}',
  }, ",") .. "]"
  inst.outputs_b64 = base64(value(outputs, true))
  inst.cache = {}
  return inst
end

---------------------------------------------------------------------------
-- Encoders for each server struct. Field order is the Go struct order.

local function encode_account(a)
  local o = obj(true)
  S(o, "id", a.id); T(o, "created_at", a.created); T(o, "updated_at", a.created)
  S(o, "email", a.email); S(o, "subject", a.subject); S(o, "account_type", a.account_type)
  raw(o, "org_ids", "[]"); raw(o, "permissions", "{}")
  return close(o)
end

-- `doc`: only the keys the 2024 page documents (the seed flavor).
local function encode_vcs_connection(inst, c, oz, doc)
  local o = obj(oz)
  S(o, "id", c.vcs_connection_id); S(o, "created_by_id", c.created_by_id)
  T(o, "created_at", c.created); T(o, "updated_at", c.updated)
  if not doc then S(o, "org_id", inst.org_id) end
  S(o, "github_install_id", c.github_install_id)
  if oz then
    S(o, "github_account_id", "98127364"); S(o, "github_account_name", "acme-corp")
  end
  J(o, "vcs_connection_commit", nil)
  return close(o)
end

local function encode_config(inst, c, oz, doc, today)
  local key = today and "cfg_today" or oz and "cfg_current" or doc and "cfg_seed" or "cfg_legacy"
  if c[key] then return c[key] end
  local o = obj(oz)
  S(o, "id", c.id); S(o, "created_by_id", c.created_by_id); T(o, "created_at", c.created)
  T(o, "updated_at", c.updated); S(o, "org_id", inst.org_id); S(o, "app_id", inst.app_id)
  if oz then S(o, "app_config_id", c.app_config_id) end
  local g = c.public_git
  if g then
    local v = obj(oz)
    S(v, "id", g.id); S(v, "created_by_id", c.created_by_id); T(v, "created_at", c.created)
    T(v, "updated_at", c.updated); if not doc then S(v, "org_id", inst.org_id) end
    S(v, "component_config_id", c.id)
    S(v, "component_config_type", "app_sandbox_configs"); S(v, "repo", g.repo)
    S(v, "directory", g.directory); S(v, "branch", g.branch)
    raw(o, "public_git_vcs_config", close(v))
  end
  local h = c.connected
  if h then
    local v = obj(oz)
    S(v, "id", h.id); S(v, "created_by_id", c.created_by_id); T(v, "created_at", c.created)
    T(v, "updated_at", c.updated); if not doc then S(v, "org_id", inst.org_id) end
    S(v, "component_config_id", c.id)
    S(v, "component_config_type", "app_sandbox_configs"); S(v, "repo", h.repo)
    S(v, "repo_name", h.repo_name); S(v, "repo_owner", h.repo_owner); S(v, "directory", h.directory)
    S(v, "branch", h.branch); S(v, "vcs_connection_id", h.vcs_connection_id)
    raw(v, "vcs_connection", encode_vcs_connection(inst, c, oz, doc))
    raw(o, "connected_github_vcs_config", close(v))
  end
  J(o, "variables", c.variables and value(c.variables))
  if oz then
    J(o, "env_vars", c.env_vars and value(c.env_vars))
    J(o, "variables_files", c.variables_files and value(c.variables_files))
    -- today's server: the column is NULL until references are set, and the
    -- refs go out under the Go field's name with capitalised keys (no json tag)
    raw(o, "references", (c.references and not today) and "[]" or "null")
    raw(o, "Refs", (today and c.references) and inst.refs_json or "[]")
    S(o, "terraform_version", c.terraform_version)
    S(o, "drift_schedule", c.drift_schedule)
    S(o, "aws_region_type", c.aws_region_type)
  else
    S(o, "terraform_version", c.terraform_version)
    local a = obj(false)
    local base = g and ("https://nuon-artifacts.s3.us-west-2.amazonaws.com/sandbox/" .. g.directory .. "/")
    S(a, "deprovision_policy", base and base .. "deprovision.json" or "")
    S(a, "provision_policy", base and base .. "provision.json" or "")
    S(a, "trust_policy", base and base .. "trust.json" or "")
    S(a, "cloudformation_stack_template", base and base .. "cloudformation-template.yaml" or "")
    raw(o, "artifacts", close(a))
    J(o, "aws_delegation_config", nil)
    S(o, "aws_region_type", c.aws_region_type)
    S(o, "cloud_platform", c.cloud_platform)
  end
  c[key] = close(o)
  return c[key]
end

-- A runner job; `j == nil` is the zero-valued placeholder of old runs.
local function encode_job(inst, run, j, oz)
  local o = obj(oz)
  if not j then
    j = { created = ZERO_TIME, updated = ZERO_TIME, zero = true }
  end
  S(o, "id", j.id); S(o, "created_by_id", j.created_by_id); T(o, "created_at", j.created)
  T(o, "updated_at", j.updated); S(o, "org_id", not j.zero and inst.org_id or "")
  S(o, "runner_id", not j.zero and inst.runner_id or ""); S(o, "owner_id", not j.zero and run.id or "")
  S(o, "owner_type", not j.zero and "install_sandbox_runs" or "")
  J(o, "log_stream_id", j.log_stream_id and str(j.log_stream_id))
  if j.zero then
    I(o, "queue_timeout", 0); I(o, "available_timeout", 0); I(o, "execution_timeout", 0)
    I(o, "overall_timeout", 0); I(o, "max_executions", 0)
  else
    I(o, "queue_timeout", QUEUE_TIMEOUT); I(o, "available_timeout", AVAILABLE_TIMEOUT)
    I(o, "execution_timeout", EXECUTION_TIMEOUT); I(o, "overall_timeout", OVERALL_TIMEOUT)
    I(o, "max_executions", 1)
  end
  S(o, "status", j.status); S(o, "status_description", j.status_description)
  S(o, "type", j.type); S(o, "group", j.group); S(o, "operation", j.operation)
  J(o, "executions", nil)
  if oz then
    T(o, "started_at", j.started); T(o, "finished_at", j.finished)
    J(o, "metadata", j.metadata and value(j.metadata))
  end
  I(o, "execution_count", j.execution_count or 0)
  if oz then
    S(o, "final_runner_job_execution_id", j.execution_id)
    if j.outputs then raw(o, "outputs_json", '"' .. inst.outputs_b64 .. '"') end
    if j.execution_ns then raw(o, "execution_time", j.execution_ns) end
    if j.outputs then raw(o, "outputs", inst.outputs_go) end
  end
  return close(o)
end

local function encode_log_stream(inst, run, l, oz)
  local o = obj(oz)
  if not l then l = { created = ZERO_TIME, zero = true } end
  S(o, "id", l.id); S(o, "created_by_id", l.zero and "" or run.created_by_id)
  T(o, "created_at", l.created); T(o, "updated_at", l.updated or l.created)
  S(o, "org_id", l.zero and "" or inst.org_id); S(o, "owner_id", l.zero and "" or run.id)
  S(o, "owner_type", l.zero and "" or "install_sandbox_runs"); BOOL(o, "open", l.open)
  J(o, "attrs", l.attrs and value(l.attrs))
  S(o, "write_token", ""); S(o, "runner_api_url", "")
  return close(o)
end

local function encode_status_v2(run)
  local function one(s, ts, desc, history)
    local o = obj(true)
    S(o, "created_by_id", run.created_by_id); I(o, "created_at_ts", ts)
    S(o, "status", s); S(o, "status_human_description", desc)
    if history then raw(o, "history", history) end
    return close(o)
  end
  local h = {}
  for i, step in ipairs(run.history) do h[i] = one(step[1], step[2], step[3]) end
  return one(run.status, run.updated_sec, run.status_description, #h > 0 and "[" .. concat(h, ",") .. "]" or nil)
end

local function encode_workflow(inst, run)
  local o = obj(true)
  S(o, "id", run.install_workflow_id); S(o, "created_by_id", run.created_by_id)
  T(o, "created_at", run.created); T(o, "updated_at", run.updated); S(o, "org_id", inst.org_id)
  S(o, "owner_id", inst.id); S(o, "owner_type", "installs")
  S(o, "type", run.run_type == "provision" and "provision" or (run.run_type .. "_sandbox"))
  S(o, "name", run.run_type .. " sandbox")
  local s = obj(true)
  S(s, "status", run.workflow_status)
  raw(o, "status", close(s))
  return close(o)
end

local function encode_legacy(inst, run, doc)
  local o = obj(false)
  S(o, "id", run.id); S(o, "created_by_id", run.created_by_id); T(o, "created_at", run.created)
  T(o, "updated_at", run.updated)
  raw(o, "runner_job", encode_job(inst, run, run.jobs[#run.jobs], false))
  raw(o, "log_stream", encode_log_stream(inst, run, run.log, false))
  if not doc then S(o, "org_id", inst.org_id) end
  S(o, "install_id", inst.id); S(o, "run_type", run.run_type)
  S(o, "status", run.status); S(o, "status_description", run.status_description)
  raw(o, "app_sandbox_config", encode_config(inst, run.config, false, doc))
  return close(o)
end

local function encode_current(inst, run, bridge, today)
  local o = obj(true)
  S(o, "id", run.id); S(o, "created_by_id", run.created_by_id)
  local acct = run.account
  acct.json = acct.json or encode_account(acct)
  raw(o, "created_by", acct.json)
  T(o, "created_at", run.created); T(o, "updated_at", run.updated)
  local jobs = {}
  for i = #run.jobs, 1, -1 do jobs[#jobs + 1] = encode_job(inst, run, run.jobs[i], true) end
  raw(o, "runner_jobs", "[" .. concat(jobs, ",") .. "]")
  if bridge and jobs[1] and run.bridge_coin then raw(o, "runner_job", jobs[1]) end
  if run.log then raw(o, "log_stream", encode_log_stream(inst, run, run.log, true)) end
  raw(o, "action_workflow_runs", "[]")
  S(o, "org_id", inst.org_id); S(o, "install_id", inst.id)
  S(o, "install_sandbox_id", run.install_sandbox_id); S(o, "install_workflow_id", run.install_workflow_id)
  S(o, "run_type", run.run_type); S(o, "status", run.status)
  S(o, "status_description", run.status_description)
  if run.history then raw(o, "status_v2", encode_status_v2(run)) end
  raw(o, "app_sandbox_config", encode_config(inst, run.config, true, false, today))
  raw(o, "outputs", run.has_outputs and inst.outputs_go or "{}")
  S(o, "workflow_id", run.install_workflow_id)
  if run.install_workflow_id then raw(o, "workflow", encode_workflow(inst, run)) end
  return close(o)
end

---------------------------------------------------------------------------
-- The model of one run, independent of how it is rendered.

local function new_job(rng, run, kind, status, t0, t1)
  local j = {
    id = new_id(rng, "job"), created_by_id = run.created_by_id,
    created = timestamp(t0, usec(rng)), updated = timestamp(t1, usec(rng)),
    status = status, status_description = JOB_DESCRIPTIONS[status],
    group = "sandbox", log_stream_id = run.log and run.log.id,
    execution_count = (status == "queued" or status == "not-attempted") and 0 or 1,
  }
  if kind == "plan" then
    j.type = "sandbox-terraform" -- no code path creates sandbox-terraform-plan jobs
    j.operation = run.run_type == "deprovision" and "create-teardown-plan" or "create-apply-plan"
  elseif kind == "apply" then
    j.type, j.operation = "sandbox-terraform", "apply-plan"
  else
    j.type = "sandbox-terraform"
    j.operation = run.run_type == "deprovision" and "destroy"
      or (rng.chance(0.06) and "plan-only" or "apply")
  end
  if j.execution_count > 0 then j.execution_id = new_id(rng, "run") end
  if t0 >= E.job_outputs then
    j.metadata = { install_id = run.install_id, sandbox_run_id = run.id, sandbox_run_type = run.run_type }
    if status ~= "queued" and status ~= "not-attempted" then
      j.started = timestamp(t0 + 2, 0)
      if status ~= "in-progress" then
        j.finished = timestamp(t1, 0)
        local secs = t1 - t0 - 2
        -- "0" .. nine zeros would be a number with a leading zero: not JSON
        j.execution_ns = secs > 0 and (format("%d", secs) .. "000000000") or "0"
      end
    end
    if kind == "apply" and status == "finished" then j.outputs = true end
  end
  return j
end

local PLAN_ONLY = { queued = "queued", planning = "in-progress", ["pending-approval"] = "finished",
  ["approval-denied"] = "finished", ["auto-skipped"] = "finished", access_error = "failed",
  unknown = "unknown", empty = "not-attempted" }
local SINGLE = { active = "finished", deprovisioned = "finished", error = "failed", access_error = "failed",
  queued = "queued", provisioning = "in-progress", reprovisioning = "in-progress",
  deprovisioning = "in-progress", applying = "in-progress", planning = "in-progress",
  unknown = "unknown", empty = "not-attempted", cancelled = "cancelled",
  ["pending-approval"] = "finished", ["approval-denied"] = "finished", ["auto-skipped"] = "finished" }

-- Today's run status: AfterQuery copies status_v2.status (app.Status, the
-- composite set) over the run's status, so a run of the plan/apply era shows
-- composite values, some that SandboxRunStatus never had.
local TODAY_STATUS = {
  active = { { "active", 60 }, { "success", 20 }, { "noop", 5 }, { "no-drift", 6 }, { "drifted", 6 },
    { "warning", 3 } },
  deprovisioned = { { "success", 1 } },
  error = { { "error", 1 } }, access_error = { { "error", 1 } }, queued = { { "queued", 1 } },
  planning = { { "planning", 1 } }, applying = { { "applying", 1 } },
  provisioning = { { "provisioning", 1 } }, reprovisioning = { { "in-progress", 1 } },
  deprovisioning = { { "deleting", 1 } },
  ["pending-approval"] = { { "approval-awaiting", 3 }, { "awaiting-user-run", 1 } },
  ["approval-denied"] = { { "approval-denied", 1 } }, cancelled = { { "cancelled", 3 }, { "discarded", 1 } },
  ["auto-skipped"] = { { "auto-skipped", 3 }, { "user-skipped", 1 } },
  unknown = { { "pending", 1 } }, empty = { { "not-attempted", 1 } },
}

local function new_run(inst, rng, index, t, us, run_type, legacy_only, today)
  local run = { id = new_id(rng, "sbr"), install_id = inst.id, index = index, t = t }
  run.account = inst.accounts[rng.chance(0.15) and 4 or rng.int(3)]
  run.created_by_id = run.account.id
  run.run_type = run_type
  local status = run_status(rng, t, legacy_only)
  if status == "in-flight" then status = IN_FLIGHT[run_type] end
  if status == "active" and run_type == "deprovision" and t >= E.deprovisioned then status = "deprovisioned" end
  run.status = status
  run.status_description = status_description(rng, status, run_type)
  local in_flight = status == "queued" or status == "planning" or status == "applying" or IN_FLIGHT[run_type] == status
  local dur = in_flight and rng.range(5, 120) or rng.range(180, 1500)
  run.created = timestamp(t, us)
  run.updated_sec = t + dur
  run.updated = timestamp(t + dur, usec(rng))
  run.bridge_coin = rng.chance(0.5)
  for i = #inst.configs, 1, -1 do
    if inst.configs[i].t <= t or i == 1 then run.config = inst.configs[i] break end
  end

  if t >= E.log_streams then
    run.log = { id = new_id(rng, "log"), created = timestamp(t, usec(rng)),
      updated = run.updated, open = in_flight }
    if rng.chance(0.1) then run.log.attrs = { sandbox_run_type = run_type } end
  end
  run.jobs = {}
  if t >= E.job_ownership then
    if t < E.plan_split then
      run.jobs[1] = new_job(rng, run, "single", SINGLE[status] or "unknown", t, t + dur)
      if status == "error" and rng.chance(0.2) then run.jobs[1].status = "timed-out" end
    else
      local plan_end = t + floor(dur / 3)
      local plan_status = PLAN_ONLY[status]
      if status == "error" and rng.chance(0.5) then plan_status = "failed" end
      if status == "cancelled" and rng.chance(0.5) then plan_status = "cancelled" end
      run.jobs[1] = new_job(rng, run, "plan", plan_status or "finished", t, plan_end)
      if not plan_status then
        run.jobs[2] = new_job(rng, run, "apply", SINGLE[status] or "unknown", plan_end + 1, t + dur)
      end
      if run.jobs[2] and run.jobs[2].status == "finished" then run.has_outputs = true end
    end
    for _, j in ipairs(run.jobs) do j.status_description = JOB_DESCRIPTIONS[j.status] end
  end
  if t >= E.install_sandbox then run.install_sandbox_id = inst.install_sandbox_id end
  if t >= E.install_workflow then
    run.install_workflow_id = new_id(rng, "inw")
    run.workflow_status = (status == "active" or status == "deprovisioned") and "success"
      or (in_flight and "in-progress" or status)
  end
  if t >= E.plan_split then
    local h = { { "queued", t, "queued" } }
    if status ~= "queued" then h[2] = { "planning", t + 2, "creating sandbox plan" } end
    if run.jobs[2] then h[3] = { "applying", t + floor(dur / 3) + 1, "applying sandbox plan" } end
    if in_flight then h[#h] = nil end
    run.history = h
    if today then
      -- the apply job exists from the start: waiting, or never run
      if not run.jobs[2] then
        run.jobs[2] = new_job(rng, run, "apply", in_flight and "queued" or "not-attempted", t + dur, t + dur)
        run.jobs[2].status_description = JOB_DESCRIPTIONS[run.jobs[2].status]
      end
      run.status = rng.weighted(TODAY_STATUS[status])
    end
  end
  return run
end

local function render(inst, run, flavor, bridge)
  if flavor == "legacy" or flavor == "seed" or (flavor == "mixed" and run.t < E.runner_jobs) then
    return encode_legacy(inst, run, flavor == "seed")
  end
  return encode_current(inst, run, bridge, flavor == "today")
end

--- The flavors, as a set.
M.FLAVORS = { seed = true, legacy = true, current = true, mixed = true, today = true }

local function seed_era(flavor)
  return flavor == "legacy" or flavor == "seed"
end

local function check_opts(opts)
  opts = opts or {}
  local flavor = opts.flavor or DEFAULTS.flavor
  if not M.FLAVORS[flavor] then
    error("generator: unknown flavor " .. tostring(flavor), 3)
  end
  local bridge = opts.bridge
  if bridge == nil then bridge = flavor == "current" end
  return flavor, bridge
end

-- runs(install_id, opts) -> sequence of JSON texts (newest first), info
-- info = { newest = epoch seconds of the newest run, count = n }
function M.runs(install_id, opts)
  opts = opts or {}
  local flavor, bridge = check_opts(opts)
  local count = floor(opts.count or DEFAULTS.count)
  local now = floor(opts.now or DEFAULTS.now)
  local inst = new_install(install_id, opts)
  local rng = new_rng(hash(install_id, hash(flavor .. ":" .. inst.seed)))
  local lo = E.start
  local hi = seed_era(flavor) and math.min(E.seed, now) or now - 3600
  -- today: one run in five from before the plan/apply split
  if flavor == "today" and hi > E.plan_split then lo = E.plan_split - floor((hi - E.plan_split) / 4) end
  if hi <= lo then hi = lo + count * 60 end
  local span = hi - lo
  local out = {}
  local newest = lo
  for i = 1, count do
    local t = lo + floor(span * (i - 1 + 0.1 + 0.8 * rng.float()) / count)
    local us = usec(rng)
    local run_type = i == 1 and "provision"
      or rng.weighted({ { "reprovision", 80 }, { "deprovision", 8 }, { "provision", 12 } })
    local run = new_run(inst, rng, i, t, us, run_type, seed_era(flavor), flavor == "today")
    out[count - i + 1] = render(inst, run, flavor, bridge)
    newest = t
  end
  return out, { newest = newest, count = count, flavor = flavor, bridge = bridge }
end

-- newer(install_id, n, opts) -> n runs created after opts.after (epoch seconds),
-- newest first, rendered in the install's flavor; opts.batch varies the data.
function M.newer(install_id, n, opts)
  opts = opts or {}
  local flavor, bridge = check_opts(opts)
  local inst = new_install(install_id, opts)
  local rng = new_rng(hash(install_id, hash("newer:" .. inst.seed .. ":" .. (opts.batch or 1))))
  local t = floor(opts.after or DEFAULTS.now)
  local out = {}
  for i = 1, n do
    t = t + rng.range(60, 600)
    local run = new_run(inst, rng, i, t, usec(rng),
      rng.weighted({ { "reprovision", 85 }, { "deprovision", 5 }, { "provision", 10 } }), seed_era(flavor),
      flavor == "today")
    out[n - i + 1] = render(inst, run, flavor, bridge)
  end
  return out, { newest = t, count = n }
end

-- body(install_id, opts) -> the JSON array text of all runs
function M.body(install_id, opts)
  local runs = M.runs(install_id, opts)
  return "[" .. concat(runs, ",") .. "]"
end

return M
