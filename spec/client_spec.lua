-- The client against the test API server (spec/server): requests, headers,
-- errors, paging, many installs.
local nuon = require "nuon"
local ts = require "helpers.testserver"

local client = ts.client

local last_request, header = ts.last_request, ts.header

describe("client:sandbox_runs", function()
  local c
  before_each(function()
    ts.reset()
    c = client()
  end)
  after_each(function() c:close() end)

  it("returns the first page, newest first, with the page headers", function()
    local demo = ts.demo[1]
    local runs, err = c:sandbox_runs(demo.id)
    assert.is_nil(err)
    assert.equal(10, #runs)
    assert.same({ next = true, offset = 0, limit = 10, api_version = "0.19.1125" }, runs.page)
    assert.is_table(runs.warnings)
    for i = 2, #runs do
      assert.is_true(nuon.parse_time(runs[i - 1].created_at) >= nuon.parse_time(runs[i].created_at))
    end
    for _, run in ipairs(runs) do
      assert.equal(demo.id, run.install_id)
      assert.matches("^sbr[0-9a-z]+$", run.id)
      assert.equal(26, #run.id)
    end
  end)

  it("sends the auth, org, accept and user-agent headers", function()
    local c2 = client{ user_agent = "my-bot/2.0" }
    assert.truthy(c2:sandbox_runs(ts.demo[1].id, { limit = 1 }))
    local req = last_request()
    assert.equal("Bearer " .. ts.token, header(req, "authorization"))
    assert.equal(ts.org_id, header(req, "x-nuon-org-id"))
    assert.equal("application/json", header(req, "accept"))
    assert.equal("my-bot/2.0 lua-nuon/" .. nuon.VERSION, header(req, "user-agent"))
    c2:close()
    assert.truthy(c:sandbox_runs(ts.demo[1].id, { limit = 1 }))
    assert.equal("lua-nuon/" .. nuon.VERSION, header(last_request(), "user-agent"))
  end)

  it("offers compressed bodies unless compress = false, and decodes both the same", function()
    local id = ts.demo[1].id
    local zipped = assert(c:sandbox_runs(id, { limit = 5 }))
    assert.matches("gzip", header(last_request(), "accept-encoding"))
    local plain_client = client{ compress = false }
    local plain = assert(plain_client:sandbox_runs(id, { limit = 5 }))
    assert.is_nil(header(last_request(), "accept-encoding"))
    -- the concurrent and non-blocking paths copy the client's settings
    ts.clear_requests()
    local many = plain_client:sandbox_runs_many({ id, ts.demo[2].id }, { limit = 5 })
    assert.same(zipped, many[id].runs)
    local req = assert(plain_client:start_sandbox_runs(id, { limit = 5 }))
    assert.same(zipped, assert(req:perform()))
    req:close()
    local log = ts.requests()
    assert.equal(3, #log)
    for _, r in ipairs(log) do assert.is_nil(header(r, "accept-encoding")) end
    plain_client:close()
    assert.same(zipped, plain)
  end)

  it("passes limit, offset and page as query parameters", function()
    local runs = assert(c:sandbox_runs(ts.demo[1].id, { limit = 5, page = 3 }))
    assert.same({ next = true, offset = 10, limit = 5, number = 3, api_version = "0.19.1125" }, runs.page)
    local runs2 = assert(c:sandbox_runs(ts.demo[1].id, { limit = 5, offset = 10 }))
    assert.equal(runs[1].id, runs2[1].id)
  end)

  it("reports the limit the server applied, clamped to 100", function()
    local runs = assert(c:sandbox_runs(ts.demo[3].id, { limit = 500 }))
    assert.equal(100, #runs)
    assert.equal(100, runs.page.limit)
  end)

  it("returns an empty sequence for an unknown install", function()
    local runs, err = c:sandbox_runs("inl00000000000000000000000")
    assert.is_nil(err)
    assert.equal(0, #runs)
    assert.is_false(runs.page.next)
  end)

  it("percent-encodes the install id as one path segment", function()
    local id = "a/b?c#d %e..&f"
    local runs, err = c:sandbox_runs(id)
    assert.is_nil(err)
    assert.equal(0, #runs)
    local req = last_request()
    assert.equal(id, req.install_id)
    assert.equal("/v1/installs/a%2Fb%3Fc%23d%20%25e%2E%2E%26f/sandbox-runs", req.uri)
    assert.equal(ts.url .. "/v1/installs/a%2Fb%3Fc%23d%20%25e%2E%2E%26f/sandbox-runs?limit=3",
      c:url(id, { limit = 3 }))
  end)

  it("keeps integers as integers and decodes nested objects", function()
    ts.install{ id = "inllegacy00000000000000001", count = 30, flavor = "legacy", seed = 7 }
    local runs = assert(c:sandbox_runs("inllegacy00000000000000001", { limit = 30 }))
    local job
    for _, run in ipairs(runs) do
      if run.runner_job and run.runner_job.id and run.runner_job.id ~= "" then job = run.runner_job break end
    end
    assert.is_table(job)
    assert.equal(86400000000000, job.queue_timeout)
    if math.type then assert.equal("integer", math.type(job.queue_timeout)) end
  end)

  it("bridges runner_jobs to runner_job for today's responses", function()
    ts.install{ id = "inlcurrent0000000000000001", count = 20, flavor = "current", seed = 3, bridge = false }
    local runs = assert(c:sandbox_runs("inlcurrent0000000000000001", { limit = 20 }))
    local bridged = 0
    for _, run in ipairs(runs) do
      if run.runner_jobs and run.runner_jobs[1] then
        assert.equal(run.runner_jobs[1], run.runner_job)
        bridged = bridged + 1
      end
    end
    assert.is_true(bridged > 0)
  end)
end)

describe("client:sandbox_run", function()
  local c
  before_each(function()
    ts.reset()
    c = client()
  end)
  after_each(function() c:close() end)

  it("returns one run by id, the same as in the list, in one request to its path", function()
    local demo = ts.demo[2]
    local list = assert(c:sandbox_runs(demo.id, { limit = 30 }))
    local want = list[23]
    local run, err = c:sandbox_run(demo.id, want.id)
    assert.is_nil(err)
    assert.equal(want.id, run.id)
    assert.equal(want.status, run.status)
    assert.same(want.runner_jobs, run.runner_jobs)
    assert.same(want.app_sandbox_config, run.app_sandbox_config)
    assert.is_nil(run.created_by) -- the single-run query does not preload it
    assert.same({}, run.warnings)
    assert.is_nil(run.page)
    assert.same({ api_version = "0.19.1125" }, nuon.meta(run))
    assert.is_nil(run.api_version) -- kept beside the run, not in it
    local req = last_request()
    assert.equal("/v1/installs/" .. demo.id .. "/sandbox-runs/" .. want.id, req.uri)
    assert.equal("run", req.route)
    assert.equal("Bearer " .. ts.token, header(req, "authorization"))
  end)

  it("percent-encodes both ids as path segments", function()
    c:sandbox_run("a/b c", "../x?y#z")
    assert.equal("/v1/installs/a%2Fb%20c/sandbox-runs/%2E%2E%2Fx%3Fy%23z", last_request().uri)
    assert.equal("../x?y#z", last_request().run_id)
  end)

  it("returns nil and an http error with status 404 for a run that does not exist", function()
    local run, err = c:sandbox_run(ts.demo[1].id, "sbrnosuchrun00000000000001")
    assert.is_nil(run)
    assert.equal("http", err.kind)
    assert.equal(404, err.status)
    assert.equal("unable to get install sandbox run: record not found", err.error)
    assert.is_false(err.retryable)
  end)

  it("warns with paths that start at the run, and fails in strict mode", function()
    ts.set_body("inlonerun00000000000000001",
      '[{"id":"sbrone","runner_jobs":[{"status":"zombie"},{"status":"finished"}],"status":"drifted"}]')
    local run = assert(c:sandbox_run("inlonerun00000000000000001", "sbrone"))
    assert.same({ { path = ".runner_jobs[1].status", value = "zombie", enum = "runner_job_status" } },
      run.warnings)
    assert.is_true(rawequal(run.runner_job, run.runner_jobs[1]))
    local none, err = c:sandbox_run("inlonerun00000000000000001", "sbrone", { strict = true })
    assert.is_nil(none)
    assert.equal("validation", err.kind)
    assert.equal('.runner_jobs[1].status: "zombie" is not a valid runner_job_status', err.message)
    local ok = assert(c:sandbox_run("inlonerun00000000000000001", "sbrone",
      { strict = true, known_values = { runner_job_status = { "zombie" } } }))
    assert.same({}, ok.warnings)
  end)

  it("has a start form for event loops, with the same result", function()
    local demo = ts.demo[1]
    local list = assert(c:sandbox_runs(demo.id, { limit = 3 }))
    local req = assert(c:start_sandbox_run(demo.id, list[3].id))
    local run = assert(req:perform())
    assert.equal(list[3].id, run.id)
    assert.same({ api_version = "0.19.1125" }, nuon.meta(run))
    local req2 = assert(c:start_sandbox_run(demo.id, "sbrnope"))
    local none, err = req2:perform()
    assert.is_nil(none)
    assert.equal(404, err.status)
  end)

  it("raises on bad arguments, blaming the caller", function()
    assert.has_error(function() c:sandbox_run(ts.demo[1].id, "") end,
      "nuon.sandbox_run: run_id must be a non-empty string (got an empty string)")
    assert.has_error(function() c:sandbox_run(nil, "x") end,
      "nuon.sandbox_run: install_id must be a non-empty string (got nil)")
    assert.has_error(function() c:sandbox_run("i", "x", { limit = 1 }) end,
      "nuon.sandbox_run: unknown option 'limit'")
    local ok, msg = pcall(function() local r = c:start_sandbox_run("i", 5); return r end)
    assert.is_false(ok)
    assert.matches("client_spec%.lua:%d+: nuon%.start_sandbox_run: run_id must be a non%-empty string", msg)
    assert.equal(0, #ts.requests())
  end)
end)

describe("known_values", function()
  before_each(function() ts.reset() end)
  local BODY = '[{"id":"sbrkv","run_type":"provision","runner_jobs":[{"type":"pulumi-next"}]}]'

  it("on nuon.new and on each call, adds values to the known sets", function()
    ts.set_body("inlknownvalues000000000001", BODY)
    local plain = client()
    local runs = assert(plain:sandbox_runs("inlknownvalues000000000001"))
    assert.same({ { path = "[1].runner_jobs[1].type", value = "pulumi-next", enum = "runner_job_type" } },
      runs.warnings)
    assert.same({}, assert(plain:sandbox_runs("inlknownvalues000000000001",
      { known_values = { runner_job_type = { "pulumi-next" } } })).warnings)
    plain:close()
    local c = client{ strict = true, known_values = { runner_job_type = { "pulumi-next" } } }
    finally(function() c:close() end)
    assert.same({}, assert(c:sandbox_runs("inlknownvalues000000000001")).warnings)
    assert.equal(1, #assert(c:all_sandbox_runs("inlknownvalues000000000001")))
    local many = c:sandbox_runs_many({ "inlknownvalues000000000001" })
    assert.is_table(many["inlknownvalues000000000001"].runs)
    local req = c:start_sandbox_runs("inlknownvalues000000000001")
    assert.equal(1, #assert(req:perform()))
    -- the call's values add to the client's
    ts.set_body("inlknownvalues000000000001", BODY:gsub('"provision"', '"teleport"'))
    local none, err = c:sandbox_runs("inlknownvalues000000000001")
    assert.is_nil(none)
    assert.equal("run_type", err.enum)
    assert.truthy(c:sandbox_runs("inlknownvalues000000000001", { known_values = { run_type = { "teleport" } } }))
  end)

  it("raises for an enum name it does not know, or values that are not strings", function()
    assert.error_matches(function() client{ known_values = { runner_job_kind = { "x" } } } end,
      "nuon.new: option 'known_values' names an unknown enum 'runner_job_kind'", nil, true)
    assert.error_matches(function() client{ known_values = { run_status = "x" } } end,
      "nuon.new: option 'known_values' must map run_status to a sequence of strings", nil, true)
    local c = client()
    finally(function() c:close() end)
    assert.has_error(function() c:sandbox_runs("i", { known_values = { nope = {} } }) end,
      "nuon.sandbox_runs: option 'known_values' names an unknown enum 'nope'")
    assert.has_error(function() c:sandbox_run("i", "r", { known_values = { run_type = { 1 } } }) end,
      "nuon.sandbox_run: option 'known_values' must map run_type to a sequence of strings")
    assert.has_error(function() nuon.decode_sandbox_runs("[]", { known_values = 5 }) end,
      "nuon.decode_sandbox_runs: option 'known_values' must be a table (got number)")
    assert.equal(0, #ts.requests())
  end)
end)

describe("errors from the server", function()
  local c
  before_each(function()
    ts.reset()
    c = client{ retries = 0 }
  end)
  after_each(function() c:close() end)

  for _, case in ipairs{
    { 400, "bad request", "invalid query", true },
    { 403, "forbidden", "not allowed to read this org", true },
    { 404, "not found", "install not found", true },
    { 500, "internal error", "database unavailable", false },
  } do
    local status, error_, description, user_error = case[1], case[2], case[3], case[4]
    it("returns nil and an http error with the server's body on " .. status, function()
      ts.fault{ install = "*", status = status,
        body = ('{"error":"%s","description":"%s"%s}'):format(error_, description,
          user_error and ',"user_error":true' or "") }
      local runs, err = c:sandbox_runs(ts.demo[1].id)
      assert.is_nil(runs)
      assert.equal("http", err.kind)
      assert.equal(status, err.status)
      assert.equal(error_, err.error)
      assert.equal(description, err.description)
      assert.equal(user_error, err.user_error)
      assert.matches("^HTTP " .. status .. " [%a ]+: " .. error_ .. ": " .. description .. "$", err.message)
      assert.equal("nuon http error: " .. err.message, tostring(err))
      assert.equal(status == 500, err.retryable)
    end)
  end

  it("returns the server's 401 for a wrong token, without the token", function()
    local bad = client{ token = "wrong-secret-token" }
    local runs, err = bad:sandbox_runs(ts.demo[1].id)
    assert.is_nil(runs)
    assert.equal("http", err.kind)
    assert.equal(401, err.status)
    assert.is_true(err.user_error)
    assert.equal("Please make sure the token is valid, and not expired.", err.description)
    assert.equal("unable to validate token", err.error:sub(1, 24))
    for k, v in pairs(err) do
      assert.is_nil(tostring(v):find("wrong-secret-token", 1, true), k)
    end
    assert.is_nil(tostring(err):find("wrong-secret-token", 1, true))
    bad:close()
  end)

  it("does not follow redirects", function()
    ts.fault{ install = "*", status = 302, headers = { Location = "http://127.0.0.2:1/elsewhere" }, body = "" }
    local runs, err = c:sandbox_runs(ts.demo[1].id)
    assert.is_nil(runs)
    assert.equal("http", err.kind)
    assert.equal(302, err.status)
    assert.equal("HTTP 302 Found: redirects are not followed (Location: http://127.0.0.2:1/elsewhere)",
      err.message)
  end)

  it("returns a decode error for a malformed body", function()
    ts.set_body("inlbroken00000000000000001", '[{"id": "sbr1", ')
    local runs, err = c:sandbox_runs("inlbroken00000000000000001")
    assert.is_nil(runs)
    assert.equal("decode", err.kind)
    assert.equal(200, err.status)
    assert.equal("invalid JSON at byte 17: unexpected end of input", err.message)
  end)

  it("returns a validation error for a wrong type", function()
    ts.set_body("inlbroken00000000000000002", '[{"id":"sbr1"},{"id":"sbr2","runner_job":{"max_executions":"1"}}]')
    local runs, err = c:sandbox_runs("inlbroken00000000000000002")
    assert.is_nil(runs)
    assert.equal("validation", err.kind)
    assert.equal("[2].runner_job.max_executions", err.path)
    assert.equal("[2].runner_job.max_executions: expected integer, got string", err.message)
  end)

  it("warns about an unknown enum value, or fails in strict mode", function()
    ts.set_body("inlbroken00000000000000003", '[{"id":"sbr1","run_type":"teleport"}]')
    local runs = assert(c:sandbox_runs("inlbroken00000000000000003"))
    assert.equal("teleport", runs[1].run_type)
    assert.same({ { path = "[1].run_type", value = "teleport", enum = "run_type" } }, runs.warnings)
    local strict = client{ strict = true }
    local none, err = strict:sandbox_runs("inlbroken00000000000000003")
    assert.is_nil(none)
    assert.equal("validation", err.kind)
    assert.equal("[1].run_type", err.path)
    assert.equal("teleport", err.value)
    local again = assert(strict:sandbox_runs("inlbroken00000000000000003", { strict = false }))
    assert.equal(1, #again.warnings)
    strict:close()
  end)

  it("fails cleanly when the body exceeds max_body", function()
    local small = client{ max_body = 1000 }
    local runs, err = small:sandbox_runs(ts.demo[1].id)
    assert.is_nil(runs)
    assert.equal("decode", err.kind)
    assert.equal("response body exceeds max_body (1000 bytes)", err.message)
    assert.is_false(err.retryable)
    small:close()
  end)

  it("returns a retryable network error when nothing listens", function()
    local dead = nuon.new{ base_url = "http://127.0.0.1:1", token = "t", org_id = "o", retries = 0 }
    local runs, err = dead:sandbox_runs("inl1")
    assert.is_nil(runs)
    assert.equal("network", err.kind)
    assert.is_true(err.retryable)
    dead:close()
  end)

  it("times out a stalled response", function()
    ts.fault{ install = "*", delay = 3 }
    local quick = client{ timeout = 0.3, retries = 0 }
    local runs, err = quick:sandbox_runs(ts.demo[1].id)
    assert.is_nil(runs)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    quick:close()
  end)
end)

describe("retries", function()
  before_each(function() ts.reset() end)

  it("retries 503 and succeeds", function()
    local c = client{ retries = 2 }
    ts.fault{ install = "*", status = 503, times = 2, body = '{"error":"unavailable"}' }
    ts.clear_requests()
    local runs, err = c:sandbox_runs(ts.demo[1].id, { limit = 2 })
    assert.is_nil(err)
    assert.equal(2, #runs)
    assert.equal(3, #ts.requests())
    c:close()
  end)

  it("gives up after retries and says how many attempts were made", function()
    local c = client{ retries = 2 }
    ts.fault{ install = "*", status = 429, times = 5, body = '{"error":"slow down"}' }
    local runs, err = c:sandbox_runs(ts.demo[1].id)
    assert.is_nil(runs)
    assert.equal(429, err.status)
    assert.equal(3, err.attempts)
    assert.is_true(err.retryable)
    assert.equal("HTTP 429 Too Many Requests: slow down (after 3 attempts)", err.message)
    c:close()
  end)

  it("never retries other 4xx", function()
    local c = client{ retries = 3 }
    ts.fault{ install = "*", status = 404, times = 5, body = '{"error":"nope"}' }
    ts.clear_requests()
    local _, err = c:sandbox_runs(ts.demo[1].id)
    assert.equal(404, err.status)
    assert.equal(1, err.attempts)
    assert.equal(1, #ts.requests())
    c:close()
  end)
end)

describe("client:all_sandbox_runs", function()
  local c
  before_each(function()
    ts.reset()
    c = client()
  end)
  after_each(function() c:close() end)

  it("collects every run, stepping by the limit the server applied", function()
    local demo = ts.demo[3]
    ts.clear_requests()
    local all, err = c:all_sandbox_runs(demo.id, { page_size = 150 })
    assert.is_nil(err)
    assert.equal(demo.count, #all)
    local offsets = {}
    for _, req in ipairs(ts.requests()) do offsets[#offsets + 1] = tonumber(req.args.offset) end
    local want = {}
    for o = 0, demo.count - 1, 100 do want[#want + 1] = o end
    assert.same(want, offsets)
    local seen = {}
    for _, run in ipairs(all) do
      assert.is_nil(seen[run.id])
      seen[run.id] = true
    end
  end)

  it("stops after max runs without fetching more pages", function()
    ts.clear_requests()
    local all = assert(c:all_sandbox_runs(ts.demo[3].id, { page_size = 10, max = 15 }))
    assert.equal(15, #all)
    assert.equal(2, #ts.requests())
  end)

  it("filters with where and stops early at since", function()
    local demo = ts.demo[3]
    local first = assert(c:sandbox_runs(demo.id, { limit = 30 }))
    local since = first[25].created_at
    ts.clear_requests()
    local recent = assert(c:all_sandbox_runs(demo.id, { page_size = 10, where = { since = since } }))
    assert.is_true(#recent >= 25)
    assert.is_true(#ts.requests() <= 4)
    for _, run in ipairs(recent) do
      assert.is_true(nuon.parse_time(run.created_at) >= nuon.parse_time(since))
    end
    local errors = assert(c:all_sandbox_runs(demo.id, { where = { status = "error" } }))
    for _, run in ipairs(errors) do assert.equal("error", run.status) end
  end)
end)

describe("client:each_sandbox_run", function()
  local c
  before_each(function()
    ts.reset()
    c = client()
  end)
  after_each(function() c:close() end)

  it("never yields a run twice when runs are inserted while paging", function()
    local demo = ts.demo[2]
    local seen, n = {}, 0
    for run in c:each_sandbox_run(demo.id, { page_size = 20 }) do
      n = n + 1
      assert.is_nil(seen[run.id], "duplicate " .. tostring(run.id))
      seen[run.id] = true
      if n == 20 then ts.insert(demo.id, 7) end
    end
    assert.equal(demo.count, n)
  end)

  it("raises the error object when a page fails mid-way", function()
    local c0 = client{ retries = 0 }
    local demo = ts.demo[2]
    local n = 0
    local ok, err = pcall(function()
      for _ in c0:each_sandbox_run(demo.id, { page_size = 10 }) do
        n = n + 1
        if n == 10 then ts.fault{ install = demo.id, status = 500, body = '{"error":"boom"}' } end
      end
    end)
    assert.is_false(ok)
    assert.equal(10, n)
    assert.equal("http", err.kind)
    assert.equal(500, err.status)
    local all, err2
    ts.fault{ install = demo.id, status = 500, body = '{"error":"boom"}' }
    all, err2 = c0:all_sandbox_runs(demo.id)
    assert.is_nil(all)
    assert.equal(500, err2.status)
    c0:close()
  end)
end)

describe("client:sandbox_runs_many", function()
  local c
  before_each(function()
    ts.reset()
    c = client{ retries = 1 }
  end)
  after_each(function() c:close() end)

  it("returns a result per install", function()
    local ids = { ts.demo[1].id, ts.demo[2].id, ts.demo[3].id, "inl00000000000000000000000" }
    local results = assert(c:sandbox_runs_many(ids, { concurrency = 3, limit = 5 }))
    for i = 1, 3 do
      local r = results[ids[i]]
      assert.is_nil(r.err)
      assert.equal(5, #r.runs)
      assert.equal(ids[i], r.runs[1].install_id)
      assert.equal(5, r.runs.page.limit)
    end
    assert.equal(0, #results[ids[4]].runs)
  end)

  it("reports a failing install without failing the others, retrying each", function()
    ts.fault{ install = ts.demo[2].id, status = 404, body = '{"error":"gone"}' }
    ts.fault{ install = ts.demo[3].id, status = 503, body = '{"error":"busy"}' }
    local results = assert(c:sandbox_runs_many({ ts.demo[1].id, ts.demo[2].id, ts.demo[3].id }))
    assert.truthy(results[ts.demo[1].id].runs)
    assert.equal(404, results[ts.demo[2].id].err.status)
    assert.equal(10, #results[ts.demo[3].id].runs)
  end)
end)

describe("closing", function()
  it("fails cleanly after close and can be closed twice", function()
    local c = client()
    c:close()
    c:close()
    local runs, err = c:sandbox_runs(ts.demo[1].id)
    assert.is_nil(runs)
    assert.equal("config", err.kind)
    assert.equal("the client is closed", err.message)
    assert.equal("nuon.client (closed)", tostring(c))
  end)

  it("never shows the token in tostring", function()
    local c = client{ token = "super-secret-value" }
    assert.is_nil(tostring(c):find("super-secret-value", 1, true))
    assert.is_nil(tostring(c._core):find("super-secret-value", 1, true))
    c:close()
  end)

  if _VERSION == "Lua 5.4" then
    it("closes a <close> variable at the end of its scope", function()
      local f = assert(load([[
        local nuon, opts = ...
        local keep
        do
          local c <close> = nuon.new(opts)
          keep = c
        end
        return keep
      ]]))
      local c = f(nuon, { base_url = ts.url, token = ts.token, org_id = ts.org_id })
      assert.equal("nuon.client (closed)", tostring(c))
    end)
  end
end)

describe("argument checks (nuon.args, shared with nuon.resty)", function()
  local c
  before_each(function() c = client() end)
  after_each(function() c:close() end)

  -- The message of calling f, which must raise; blamed on this file's line.
  local function raised(f)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    local where, what = tostring(msg):match("^(.-:%d+): (.*)$")
    assert.matches("client_spec%.lua:%d+$", where)
    return what
  end

  it("raises for a bad install id, naming the method", function()
    assert.equal("nuon.sandbox_runs: install_id must be a non-empty string (got nil)",
      raised(function() c:sandbox_runs() end))
    assert.equal("nuon.each_sandbox_run: install_id must be a non-empty string (got an empty string)",
      raised(function() c:each_sandbox_run("") end))
    assert.equal("nuon.sandbox_runs_many: install_id must be a non-empty string (got number)",
      raised(function() c:sandbox_runs_many({ ts.demo[1].id, 5 }) end))
  end)

  it("raises for bad options, naming the option", function()
    local id = ts.demo[1].id
    assert.equal("nuon.sandbox_runs: options must be a table (got string)",
      raised(function() c:sandbox_runs(id, "limit=5") end))
    assert.equal("nuon.sandbox_runs: unknown option 'limt'",
      raised(function() c:sandbox_runs(id, { limt = 5 }) end))
    assert.equal("nuon.sandbox_runs: option 'offset' must be a non-negative integer",
      raised(function() c:sandbox_runs(id, { offset = -1 }) end))
    assert.equal("nuon.all_sandbox_runs: option 'page_size' must be a positive integer",
      raised(function() c:all_sandbox_runs(id, { page_size = 0 }) end))
    assert.equal("nuon.start_sandbox_runs: option 'strict' must be a boolean",
      raised(function() c:start_sandbox_runs(id, { strict = 1 }) end))
    assert.equal("nuon.each_sandbox_run: option 'where' must be a table",
      raised(function() c:each_sandbox_run(id, { where = "error" }) end))
    assert.matches("statuz", raised(function() c:all_sandbox_runs(id, { where = { statuz = "x" } }) end))
    assert.equal("nuon.sandbox_runs_many: option 'concurrency' must be a positive integer",
      raised(function() c:sandbox_runs_many({ id }, { concurrency = 1.5 }) end))
  end)
end)
