-- bin/nuon-runs run as a person or a CI job runs it: a child process of the
-- checkout's script, credentials in the environment, against the test server,
-- its stdout, stderr and exit status checked.  The child runs on the Lua
-- running this spec (lua5.4 or luajit), with the checkout's modules and core.
local nuon = require "nuon"
local core = require "nuon.core"
local cjson = require "cjson"
local socket = require "socket"
local ts = require "helpers.testserver"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/.."
local LUA = jit and "luajit" or "lua" .. _VERSION:match("%d+%.%d+")

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local tmp
setup(function()
  local p = assert(io.popen("mktemp -d"))
  tmp = p:read("*l")
  p:close()
end)
teardown(function()
  if tmp and tmp:match("^/tmp/") then os.execute("rm -rf " .. q(tmp)) end
end)

-- The environment of a child: the test server's credentials, a HOME with no
-- ~/.nuon.  `env` adds or (with false) removes variables.
local function env_prefix(env)
  local vars = {
    NUON_API_URL = ts.url, NUON_API_TOKEN = ts.token, NUON_ORG_ID = ts.org_id,
    HOME = tmp, NUON_CONFIG_FILE = false,
  }
  for k, v in pairs(env or {}) do vars[k] = v end
  local unset, set = {}, {}
  for k, v in pairs(vars) do
    if v == false then unset[#unset + 1] = "-u " .. k else set[#set + 1] = k .. "=" .. q(v) end
  end
  return "env " .. table.concat(unset, " ") .. " " .. table.concat(set, " ")
end

local function command(args, env)
  local words = {}
  for i, a in ipairs(args) do words[i] = q(a) end
  return ("cd %s && %s %s bin/nuon-runs %s"):format(q(root), env_prefix(env), LUA, table.concat(words, " "))
end

-- Runs nuon-runs with `args`; returns exit status, stdout, stderr, seconds.
local function run(args, env)
  local out, err = tmp .. "/out", tmp .. "/err"
  local t0 = socket.gettime()
  local p = assert(io.popen(("%s >%s 2>%s; echo $?"):format(command(args, env), q(out), q(err))))
  local status = tonumber(p:read("*a"):match("(%d+)%s*$"))
  p:close()
  return status, read(out), read(err), socket.gettime() - t0
end

-- Starts nuon-runs in the background; returns a function that waits for it
-- (up to `limit` seconds) and returns what run() does.
local function start(args, env)
  local out, err, rc = tmp .. "/bout", tmp .. "/berr", tmp .. "/brc"
  os.remove(rc)
  os.execute(("(%s >%s 2>%s; echo $? >%s.part; mv %s.part %s) &"):format(command(args, env), q(out), q(err),
    q(rc), q(rc), q(rc)))
  return function(limit)
    local deadline = socket.gettime() + (limit or 20)
    while socket.gettime() < deadline do
      local s = read(rc)
      if s then return tonumber(s:match("%d+")), read(out), read(err) end
      socket.sleep(0.05)
    end
    error("nuon-runs did not end within " .. (limit or 20) .. " s")
  end
end

local function lines(s)
  local t = {}
  for line in s:gmatch("([^\n]*)\n") do t[#t + 1] = line end
  return t
end

-- Not a stack trace, not the token, and one line (plus the --help hint).
local function assert_clean_error(stderr, token)
  assert.is_nil(stderr:find("traceback", 1, true), stderr)
  assert.is_nil(stderr:find("%.lua:%d+:"), stderr)
  assert.is_nil(stderr:find(token or ts.token, 1, true), "the token leaked: " .. stderr)
  local n = #lines(stderr)
  assert.truthy(n == 1 or (n == 2 and stderr:find("\nTry 'nuon%-runs %-%-help'%.\n$")), stderr)
end

local function library_runs(id, where)
  local c = ts.client()
  local runs = assert(c:all_sandbox_runs(id, { where = where }))
  c:close()
  return runs
end

local function ids_of(runs)
  local t = {}
  for i, r in ipairs(runs) do t[i] = r.id end
  return t
end

-- A body of runs (newest first) served verbatim for `install`.
local function serve(install, runs)
  ts.set_body(install, #runs == 0 and "[]" or cjson.encode(runs))
end

local function new_run(id, install, status, extra)
  local r = {
    id = id, install_id = install, run_type = "provision", status = status,
    status_description = status, created_at = "2025-07-01T10:00:00Z", updated_at = "2025-07-01T10:05:00Z",
  }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

before_each(function() ts.reset() end)

describe("nuon-runs --help and --version", function()
  it("prints the version", function()
    local status, out = run{ "--version" }
    assert.equal(0, status)
    assert.equal("nuon-runs " .. nuon.VERSION .. "\n", out)
  end)

  it("prints the usage of every command and the exit statuses", function()
    local status, out, err = run{ "--help" }
    assert.equal(0, status)
    assert.equal("", err)
    for _, s in ipairs{ "nuon-runs list INSTALL_ID", "nuon-runs wait INSTALL_ID RUN_ID",
                        "nuon-runs summary INSTALL_ID...", "--strict", "--request-timeout", "Exit status" } do
      assert.truthy(out:find(s, 1, true), s)
    end
  end)
end)

describe("nuon-runs list", function()
  local big = ts.demo[2] -- 120 runs: two pages of 100

  it("prints every page as an aligned table, newest first", function()
    local status, out, err = run{ "list", big.id }
    assert.equal(0, status, err)
    local ls = lines(out)
    assert.equal(big.count + 1, #ls)
    assert.matches("^ID +CREATED +TYPE +STATUS +JOB STATUS$", ls[1])
    local want = library_runs(big.id)
    local col = ls[1]:find("CREATED", 1, true)
    for i = 2, #ls do
      assert.equal(want[i - 1].id, ls[i]:match("^(%S+)"))
      assert.equal(want[i - 1].created_at, ls[i]:sub(col):match("^(%S+)"), "column not aligned: " .. ls[i])
      assert.is_nil(ls[i]:find("%s$"), "trailing blanks")
    end
  end)

  it("prints JSON: an array of the runs as decoded, numbers exact", function()
    local status, out, err = run{ "list", big.id, "--format", "json" }
    assert.equal(0, status, err)
    local got = assert(core.decode_json(out))
    local want = library_runs(big.id)
    assert.equal(#want, #got)
    for i = 1, #want do
      assert.equal(want[i].id, got[i].id)
      assert.same(want[i].runner_jobs, got[i].runner_jobs)
      assert.equal(want[i].status_description, got[i].status_description)
    end
  end)

  it("keeps int64 timeouts above 14 digits exactly in JSON (lua-cjson would round them)", function()
    local id = "inlclispec0000000000000001"
    -- 16 digits, below 2^53: exact on every Lua (cjson.encode would round it here too)
    local body = cjson.encode{ new_run("sbrclispec00000000000000001", id, "active",
      { runner_job = { id = "jobclispec000000000000001", status = "finished", overall_timeout = "T" } }) }
    ts.set_body(id, (body:gsub('"T"', "1234567890123456")))
    local status, out, err = run{ "list", id, "--format=json" }
    assert.equal(0, status, err)
    assert.truthy(out:find('"overall_timeout":1234567890123456', 1, true), out)
  end)

  it("prints an empty JSON array when no run matches", function()
    local status, out = run{ "list", ts.demo[1].id, "--status", "no-such-status", "--format", "json" }
    assert.equal(0, status)
    assert.equal("[]\n", out)
  end)

  it("prints CSV with a header, CRLF line ends and quoted fields", function()
    local id = "inlclispec0000000000000002"
    serve(id, {
      new_run("sbrclispec00000000000000002", id, "error", { status_description = 'plan failed: "x", then y' }),
      new_run("sbrclispec00000000000000001", id, "active"),
    })
    local status, out, err = run{ "list", id, "--format", "csv" }
    assert.equal(0, status, err)
    assert.equal(table.concat({
      "id,created_at,updated_at,run_type,status,job_status,status_description,install_id",
      'sbrclispec00000000000000002,2025-07-01T10:00:00Z,2025-07-01T10:05:00Z,provision,error,,'
        .. '"plan failed: ""x"", then y",' .. id,
      "sbrclispec00000000000000001,2025-07-01T10:00:00Z,2025-07-01T10:05:00Z,provision,active,,active," .. id,
    }, "\r\n") .. "\r\n", out)
  end)

  it("filters as nuon.filter does: repeated options are any of, all options must hold", function()
    local where = { status = { "error", "cancelled" }, run_type = "reprovision", since = "2025-06-01T00:00:00Z" }
    local want = ids_of(library_runs(big.id, where))
    assert.is_true(#want > 0)
    local status, out, err = run{ "list", big.id, "--status", "error", "--status=cancelled",
      "--run-type", "reprovision", "--since", "2025-06-01", "--format", "json" }
    assert.equal(0, status, err)
    assert.same(want, ids_of(cjson.decode(out)))
  end)

  it("takes --until and --job-status, and stops at --max runs", function()
    local where = { ["until"] = "2025-10-01T00:00:00Z", job_status = "finished" }
    local want = ids_of(library_runs(big.id, where))
    assert.is_true(#want > 3)
    local status, out = run{ "list", big.id, "--until", "2025-10-01T00:00:00Z", "--job-status", "finished",
      "--max", "3", "--format", "json" }
    assert.equal(0, status)
    assert.same({ want[1], want[2], want[3] }, ids_of(cjson.decode(out)))
  end)

  it("reads an age as TIME: --since 7d is seven days before now", function()
    local cli = require "nuon.cli"
    assert.equal(1000000 - 7 * 86400, cli.parse_time("7d", 1000000))
    assert.equal(1000000 - 90 * 60, cli.parse_time("90m", 1000000))
    assert.equal(nuon.parse_time("2024-05-01T00:00:00Z"), cli.parse_time("2024-05-01"))
    assert.equal(1714521600, cli.parse_time("1714521600"))
    assert.is_nil((cli.parse_time("yesterday")))
  end)

  it("reports unknown enum values in one line on stderr; --strict makes them an error", function()
    local id = "inlclispec0000000000000003"
    serve(id, { new_run("sbrclispec00000000000000003", id, "active",
      { runner_job = { id = "jobclispec000000000000003", status = "brand-new-status" } }) })
    local status, out, err = run{ "list", id }
    assert.equal(0, status, err)
    assert.equal(2, #lines(out))
    assert.equal("nuon-runs: 1 warning: values this library does not know, e.g. [1].runner_job.status"
      .. " 'brand-new-status' (runner_job_status); --strict makes them errors\n", err)
    status, out, err = run{ "list", id, "--strict" }
    assert.equal(3, status)
    assert.equal("", out)
    assert.matches("^nuon%-runs: .*runner_job%.status.*brand%-new%-status", err)
    assert_clean_error(err)
  end)
end)

describe("nuon-runs errors", function()
  it("exits 3 with one line for a usage mistake", function()
    for _, args in ipairs{ {}, { "lsit", "x" }, { "list" }, { "list", "a", "b" }, { "list", "x", "--format", "xml" },
                           { "list", "x", "--since", "yesterday" }, { "list", "x", "--max", "-1" },
                           { "list", "x", "--bogus" }, { "wait", "x", "y", "--interval", "0" },
                           { "list", "x", "--strict=yes" }, { "list", "x", "--status" } } do
      local status, out, err = run(args)
      assert.equal(3, status, table.concat(args, " "))
      assert.equal("", out)
      assert.matches("^nuon%-runs: [^\n]+\nTry 'nuon%-runs %-%-help'%.\n$", err)
      assert_clean_error(err)
    end
  end)

  it("says which setting is missing, without a stack trace", function()
    local status, _, err = run({ "list", "x" }, { NUON_API_TOKEN = false })
    assert.equal(3, status)
    assert.equal("nuon-runs: no API token: set NUON_API_TOKEN, or set api_token in " .. tmp .. "/.nuon\n", err)
  end)

  it("prints the server's refusal in one line and never the token", function()
    local secret = "secret-token-that-must-not-show"
    local status, out, err = run({ "list", ts.demo[1].id }, { NUON_API_TOKEN = secret })
    assert.equal(3, status)
    assert.equal("", out)
    assert.matches("^nuon%-runs: HTTP 401", err)
    assert_clean_error(err, secret)
  end)

  it("maps --request-timeout (and --timeout, but for wait) to the client's timeout", function()
    for _, opt in ipairs{ "--timeout", "--request-timeout" } do
      ts.reset()
      ts.fault{ install = ts.demo[1].id, times = 5, delay = 3 }
      local status, _, err, took = run{ "list", ts.demo[1].id, opt, "0.3" }
      assert.equal(3, status, err)
      assert.matches("^nuon%-runs: [^\n]*[Tt]imed? ?out", err)
      assert.is_true(took < 2.5, ("took %.1f s"):format(took))
    end
  end)
end)

describe("nuon-runs get", function()
  local demo = ts.demo[1]

  it("prints one run as a table row, with one request to the run's own path", function()
    local want = library_runs(demo.id)[3]
    ts.clear_requests()
    local status, out, err = run{ "get", demo.id, want.id }
    assert.equal(0, status, err)
    local ls = lines(out)
    assert.equal(2, #ls)
    assert.matches("^ID +CREATED +TYPE +STATUS +JOB STATUS$", ls[1])
    assert.equal(want.id, ls[2]:match("^(%S+)"))
    local reqs = ts.requests()
    assert.equal(1, #reqs)
    assert.equal("/v1/installs/" .. demo.id .. "/sandbox-runs/" .. want.id, reqs[1].path)
  end)

  it("prints the run as decoded in JSON, without the library's warnings", function()
    local c = ts.client()
    local want = assert(c:sandbox_run(demo.id, library_runs(demo.id)[1].id))
    c:close()
    local status, out, err = run{ "get", demo.id, want.id, "--format", "json" }
    assert.equal(0, status, err)
    local got = assert(core.decode_json(out))
    assert.equal(want.id, got.id)
    assert.equal(want.status, got.status)
    assert.same(want.runner_jobs, got.runner_jobs)
    assert.is_nil(got.warnings)
  end)

  it("exits 3 with the server's 404 in one line for a run that does not exist", function()
    local status, out, err = run{ "get", demo.id, "sbrnosuchrun00000000000000" }
    assert.equal(3, status)
    assert.equal("", out)
    assert.matches("HTTP 404", err)
    assert_clean_error(err)
  end)

  it("takes exactly an install id and a run id", function()
    local status, _, err = run{ "get", demo.id }
    assert.equal(3, status)
    assert.matches("get takes INSTALL_ID RUN_ID", err)
  end)
end)

describe("nuon-runs wait", function()
  local INSTALL = "inlclispecwait000000000001"
  local RUN = "sbrclispecwait000000000001"

  local function serve_status(status)
    serve(INSTALL, { new_run(RUN, INSTALL, status) })
  end

  it("prints each status change on stderr and exits 0 when the run succeeds", function()
    serve_status("queued")
    local wait = start{ "wait", INSTALL, RUN, "--interval", "0.1", "--timeout", "20" }
    socket.sleep(0.6)
    serve_status("provisioning")
    socket.sleep(0.6)
    serve_status("active")
    local status, out, err = wait()
    assert.equal(0, status, err)
    assert.equal(RUN .. " active\n", out)
    local ls = lines(err)
    assert.matches("^nuon%-runs: " .. RUN .. " is queued %(%d+s%)$", ls[1])
    assert.matches("^nuon%-runs: " .. RUN .. ": queued %-> provisioning %(%d+s%)$", ls[2])
    assert.matches("^nuon%-runs: " .. RUN .. ": provisioning %-> active %(%d+s%)$", ls[3])
    assert.equal(3, #ls)
  end)

  it("exits 1 when the run fails", function()
    serve_status("error")
    local status, out = run{ "wait", INSTALL, RUN, "--interval", "0.1" }
    assert.equal(1, status)
    assert.equal(RUN .. " error\n", out)
  end)

  it("exits 2 on timeout, naming the run and its last status", function()
    serve_status("provisioning")
    local status, out, err, took = run{ "wait", INSTALL, RUN, "--interval", "0.1", "--timeout", "0.5" }
    assert.equal(2, status)
    assert.equal("", out)
    assert.matches("nuon%-runs: run " .. RUN .. " is still 'provisioning' after [%d.]+s %(timeout 0%.5s%)\n$", err)
    assert.is_true(took < 5)
  end)

  it("exits 3 on any other error", function()
    ts.fault{ install = INSTALL, times = 10, status = 403, body = '{"error":"forbidden","description":"no"}' }
    local status, out, err = run{ "wait", INSTALL, RUN, "--interval", "0.1", "--timeout", "5" }
    assert.equal(3, status)
    assert.equal("", out)
    assert.matches("^nuon%-runs: HTTP 403", err)
    assert_clean_error(err)
  end)
end)

describe("nuon-runs summary", function()
  local a, b = ts.demo[1], ts.demo[2]

  it("summarizes each install and all together, as nuon.summarize does", function()
    local status, out, err = run{ "summary", a.id, b.id, "--format", "json" }
    assert.equal(0, status, err)
    local got = cjson.decode(out)
    local ra, rb = library_runs(a.id), library_runs(b.id)
    local all = {}
    for _, r in ipairs(ra) do all[#all + 1] = r end
    for _, r in ipairs(rb) do all[#all + 1] = r end
    for id, runs in pairs{ [a.id] = ra, [b.id] = rb, total = all } do
      local s = nuon.summarize(runs)
      local g = id == "total" and got.total or got.installs[id]
      assert.equal(s.total, g.total)
      assert.same(s.by_outcome, g.by_outcome)
      assert.same(s.by_status, g.by_status)
      assert.equal(s.latest_failure.id, g.latest_failure.id)
      assert.equal(s.duration.count, g.duration.count)
    end
  end)

  it("prints a table with a row per install and a total row", function()
    local status, out = run{ "summary", a.id, b.id, "--since", "2025-01-01T00:00:00Z" }
    assert.equal(0, status)
    local ls = lines(out)
    assert.equal(4, #ls)
    assert.matches("^INSTALL +RUNS +SUCCESS +FAILURE +IN PROGRESS +UNKNOWN", ls[1])
    local na = #library_runs(a.id, { since = "2025-01-01T00:00:00Z" })
    local nb = #library_runs(b.id, { since = "2025-01-01T00:00:00Z" })
    assert.matches("^" .. a.id .. " +" .. na .. " ", ls[2])
    assert.matches("^" .. b.id .. " +" .. nb .. " ", ls[3])
    assert.matches("^total +" .. (na + nb) .. " ", ls[4])
  end)

  it("fetches the installs concurrently", function()
    -- four installs answering after 1 s each: 4 s one after the other.  (Over
    -- plain HTTP libcurl holds the first request of a new client alone, to
    -- see whether its connection can multiplex: about 2 s here.)
    local ids = {}
    for i = 1, 4 do
      local id = ("inlclispecslow00000000000%d"):format(i)
      ids[i] = id
      serve(id, { new_run(("sbrclispecslow00000000000%d"):format(i), id, i % 2 == 0 and "active" or "error") })
      ts.fault{ install = id, delay = 1 }
    end
    local status, out, err, took = run{ "summary", ids[1], ids[2], ids[3], ids[4] }
    assert.equal(0, status, err)
    assert.equal(6, #lines(out))
    assert.matches("^total +4 +2 +2 ", lines(out)[6])
    assert.is_true(took < 3.2, ("took %.1f s: one after the other"):format(took))
  end)

  it("reports an install that fails and still summarizes the others, exiting 3", function()
    local bad = "inlclispecbad0000000000001"
    ts.fault{ install = bad, times = 10, status = 404, body = '{"error":"not found"}' }
    local status, out, err = run{ "summary", a.id, bad }
    assert.equal(3, status)
    assert.truthy(err:find("nuon%-runs: " .. bad .. ": HTTP 404"), err)
    assert.equal(3, #lines(out)) -- header, the good install, total
  end)
end)
