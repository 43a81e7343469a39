-- Headless Neovim test of nuon.nvim, run by spec/run.sh as
--   nvim --headless -u NONE -i NONE -c "luafile spec/nvim/run.lua"
-- Prints TAP and quits with a non-zero status when a test fails.
local root = vim.fn.getcwd()
package.path = table.concat({ root .. "/lua/?.lua", root .. "/lua/?/init.lua", root .. "/spec/?.lua",
  "/usr/share/lua/5.1/?.lua", "/usr/share/lua/5.1/?/init.lua", package.path }, ";")
package.cpath = table.concat({ root .. "/build/luajit/?.so",
  "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so", "/usr/lib/aarch64-linux-gnu/lua/5.1/?.so",
  "/usr/lib/lua/5.1/?.so", package.cpath }, ";")

local tap = dofile(root .. "/spec/nvim/tap.lua")
local test, check = tap.test, tap.check

local nuon = require "nuon"
local nvim = require "nuon.nvim"
local cjson = require "cjson"

-- The test server's control API through the curl binary: LuaSocket cannot be
-- loaded into Neovim (its C symbols, e.g. socket_connect, clash with Neovim's).
local ts = {
  url = os.getenv("NUON_TEST_URL"),
  token = "nuon-test-token",
  org_id = "orgnuontestorg000000000001",
  demo = { { id = "inldemo25runsmixed00000001", count = 25 }, { id = "inldemo120runsmixed0000002", count = 120 } },
}
local function control(path, body)
  local out = vim.fn.system({ "curl", "-fsS", "-X", "POST", "-H", "Content-Type: application/json",
    "--data-binary", body and cjson.encode(body) or "", ts.url .. "/__nuon/" .. path })
  if vim.v.shell_error ~= 0 then error("test server /__nuon/" .. path .. ": " .. out, 2) end
end
function ts.reset() control("reset") end
function ts.fault(f) control("faults", f) end
function ts.set_body(id, text)
  local out = vim.fn.system({ "curl", "-fsS", "-X", "POST", "--data-binary", text,
    ts.url .. "/__nuon/installs/" .. id .. "/runs" })
  if vim.v.shell_error ~= 0 then error("test server set_body: " .. out, 2) end
end
function ts.requests()
  local out = vim.fn.system({ "curl", "-fsS", ts.url .. "/__nuon/requests" })
  if vim.v.shell_error ~= 0 then error("test server requests: " .. out, 2) end
  return cjson.decode(out)
end
function ts.install(spec) control("installs", spec) end
function ts.requests_for(id)
  local out = vim.fn.system({ "curl", "-fsS", ts.url .. "/__nuon/requests" })
  if vim.v.shell_error ~= 0 then error("test server /__nuon/requests: " .. out, 2) end
  local reqs = {}
  for _, r in ipairs(cjson.decode(out)) do
    if r.install_id == id then reqs[#reqs + 1] = r end
  end
  return reqs
end
function ts.clear_requests()
  vim.fn.system({ "curl", "-fsS", "-X", "DELETE", ts.url .. "/__nuon/requests" })
end

local function client()
  return nuon.new{ base_url = ts.url, token = ts.token, org_id = ts.org_id, max_backoff = 0.05 }
end

test("a request to a slow server does not freeze the editor", function()
  ts.reset()
  ts.fault{ install = ts.demo[1].id, delay = 1 }
  local c = client()
  local ticks, got, gerr, done = 0, nil, nil, false
  local timer = vim.loop.new_timer()
  timer:start(20, 20, function() ticks = ticks + 1 end)
  local t0 = vim.loop.hrtime()
  nvim.sandbox_runs(c, ts.demo[1].id, { limit = 5 }, function(runs, err)
    got, gerr, done = runs, err, true
  end)
  local returned_after = (vim.loop.hrtime() - t0) / 1e6
  check(returned_after < 200, ("sandbox_runs blocked for %d ms"):format(returned_after))
  check(vim.wait(10000, function() return done end, 10), "no callback within 10 s")
  timer:stop()
  timer:close()
  check(gerr == nil, tostring(gerr))
  check(#got == 5, "expected 5 runs, got " .. #got)
  check(got[1].install_id == ts.demo[1].id, "wrong install")
  check(ticks >= 20, "the timer ticked only " .. ticks .. " times during the request")
  c:close()
end)

test("the callback runs on the main loop, where the API is usable", function()
  ts.reset()
  local c = client()
  local in_fast, done = nil, false
  nvim.sandbox_runs(c, ts.demo[1].id, nil, function()
    in_fast = vim.in_fast_event()
    vim.api.nvim_buf_set_lines(0, 0, -1, false, { "nuon" })
    done = true
  end)
  check(vim.wait(10000, function() return done end, 10), "no callback")
  check(in_fast == false, "callback ran in a fast event")
  check(vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] == "nuon")
  c:close()
end)

test("bad arguments raise naming the nuon.nvim function, blaming the caller's line", function()
  ts.reset()
  local c = client()
  local cb = function() end
  local cases = { -- the line blamed is where each case's function starts (its linedefined)
    { function() nvim.sandbox_runs(c, nil, nil, cb) end,
      "nuon.nvim.sandbox_runs: install_id must be a non-empty string (got nil)" },
    { function() nvim.sandbox_runs(c, "i", { limt = 1 }, cb) end, "nuon.nvim.sandbox_runs: unknown option 'limt'" },
    { function() nvim.sandbox_run(c, "i", "", nil, cb) end,
      "nuon.nvim.sandbox_run: run_id must be a non-empty string (got an empty string)" },
    { function() nvim.all_sandbox_runs(c, "i", { where = { statuz = 1 } }, cb) end,
      "nuon.nvim.all_sandbox_runs: option 'where': unknown key 'statuz'" },
    { function() nvim.all_sandbox_runs(nil, "i", nil, cb) end,
      "nuon.nvim.all_sandbox_runs: client must be a nuon client (got nil)" },
    { function() nvim.all_sandbox_runs_many(c, { "i" }, { concurrency = 300 }, cb) end,
      "nuon.nvim.all_sandbox_runs_many: option 'concurrency' must be at most 256" },
    { function() nvim.all_sandbox_runs_many(c, { "i" }, nil, "cb") end,
      "nuon.nvim.all_sandbox_runs_many: callback must be a function (got string)" },
    { function() nvim.wait_sandbox_run(c, "i", "r", { sleep = cb }, cb) end,
      "nuon.nvim.wait_sandbox_run: option 'sleep' does not apply in nuon.nvim (it waits on a timer)" },
    { function() nvim.wait_sandbox_run(c, "i", "r", { timeout = -1 }, cb) end,
      "nuon.nvim.wait_sandbox_run: option 'timeout' must be a positive number" },
    { function() nvim.drive(nil, nil) end, "nuon.nvim.drive: callback must be a function (got nil)" },
  }
  for _, case in ipairs(cases) do
    local ok, msg = pcall(case[1])
    local f = debug.getinfo(case[1], "S")
    local want = f.short_src .. ":" .. f.linedefined .. ": " .. case[2]
    check(not ok and msg == want, "expected '" .. want .. "', got '" .. tostring(msg) .. "'")
  end
  check(#ts.requests() == 0, "expected no request")
  c:close()
end)

test("errors reach the callback", function()
  ts.reset()
  ts.fault{ install = "*", status = 404, body = '{"error":"gone"}' }
  local c = client()
  local got, gerr, done
  nvim.sandbox_runs(c, ts.demo[1].id, nil, function(runs, err) got, gerr, done = runs, err, true end)
  check(vim.wait(10000, function() return done end, 10), "no callback")
  check(got == nil and gerr and gerr.status == 404, "expected a 404 error")
  c:close()
end)

test("all pages are collected without blocking", function()
  ts.reset()
  local c = client()
  local got, done
  nvim.all_sandbox_runs(c, ts.demo[2].id, { page_size = 50 }, function(runs) got, done = runs, true end)
  check(vim.wait(10000, function() return done end, 10), "no callback")
  check(#got == ts.demo[2].count, "expected " .. ts.demo[2].count .. " runs, got " .. #got)
  local seen = {}
  for _, run in ipairs(got) do
    check(not seen[run.id], "duplicate run " .. run.id)
    seen[run.id] = true
  end
  c:close()
end)

test("one run by id without blocking; 404 is an http error", function()
  ts.reset()
  local c = client()
  local list = assert(c:sandbox_runs(ts.demo[2].id, { limit = 20 }))
  local got, gerr, done
  nvim.sandbox_run(c, ts.demo[2].id, list[17].id, nil, function(run, err) got, gerr, done = run, err, true end)
  check(vim.wait(10000, function() return done end, 10), "no callback")
  check(gerr == nil, tostring(gerr))
  check(got.id == list[17].id and got.status == list[17].status, "not the run asked for")
  check(#got.warnings == 0, "warnings")
  check(nuon.meta(got).api_version == "0.19.1125", "no api_version")
  local reqs = ts.requests()
  check(reqs[#reqs].uri == "/v1/installs/" .. ts.demo[2].id .. "/sandbox-runs/" .. list[17].id, reqs[#reqs].uri)
  done = false
  nvim.sandbox_run(c, ts.demo[2].id, "sbrnosuchrun", nil, function(run, err) got, gerr, done = run, err, true end)
  check(vim.wait(10000, function() return done end, 10), "no callback")
  check(got == nil and gerr.kind == "http" and gerr.status == 404, "expected a 404 http error")
  c:close()
end)

test("wait_sandbox_run polls one run, one request a poll, without blocking", function()
  ts.reset()
  local install, run_id = "inlnvimwait000000000000001", "sbrnvimwait000000000000001"
  local function serve(status)
    ts.set_body(install, cjson.encode{ { id = run_id, install_id = install, run_type = "provision",
      status = status, created_at = "2025-12-20T10:00:00Z" } })
  end
  serve("queued")
  local c = client()
  local statuses, got, gerr, done = {}, nil, nil, false
  local polls = 0
  local t0 = vim.loop.hrtime()
  nvim.wait_sandbox_run(c, install, run_id, {
    interval = 0.2, timeout = 20,
    on_change = function(r)
      statuses[#statuses + 1] = r.status
      if r.status == "queued" then serve("provisioning") elseif r.status == "provisioning" then serve("drifted") end
    end,
  }, function(run, err) got, gerr, done = run, err, true end)
  check((vim.loop.hrtime() - t0) / 1e6 < 200, "wait_sandbox_run blocked")
  check(vim.wait(20000, function() return done end, 10), "no callback")
  check(gerr == nil, tostring(gerr))
  check(got.status == "drifted", "final status " .. tostring(got and got.status))
  check(table.concat(statuses, ",") == "queued,provisioning,drifted", table.concat(statuses, ","))
  for _, r in ipairs(ts.requests()) do
    if r.install_id == install then
      polls = polls + 1
      check(r.route == "run" and r.uri == "/v1/installs/" .. install .. "/sandbox-runs/" .. run_id, r.uri)
    end
  end
  check(polls == 3, "expected 3 polls, got " .. polls)
  c:close()
end)

test("wait_sandbox_run scans the list on a server without the single-run route, and times out", function()
  ts.reset()
  local install = ts.demo[1].id
  ts.fault{ install = install, route = "run", status = 404, body = "404 page not found",
    headers = { ["Content-Type"] = "text/plain" }, times = 100 }
  local c = client()
  local got, gerr, done
  nvim.wait_sandbox_run(c, install, "sbrnotthere", { interval = 0.1, timeout = 0.5, search = 20 },
    function(run, err) got, gerr, done = run, err, true end)
  check(vim.wait(10000, function() return done end, 10), "no callback")
  check(got == nil and gerr.kind == "timeout", "expected a timeout, got " .. tostring(gerr))
  check(gerr.message:find("not found among the 20 newest runs", 1, true), gerr.message)
  local single, list = 0, 0
  for _, r in ipairs(ts.requests()) do
    if r.route == "run" then single = single + 1 elseif r.route == "runs" then list = list + 1 end
  end
  check(single == 1 and list >= 2, ("%d single-run requests, %d list requests"):format(single, list))
  c:close()
end)

-- Paging against any server (API.md): the same modes and counts as
-- spec/paging_spec.lua, through nuon.nvim on the event loop.
local PAGING_ID, PAGING_RUNS = "inlnvimpaging0000000000001", 25
for _, case in ipairs{
  { "ignore", 1, PAGING_RUNS }, { "repeat", 3, 10 }, { "zero_limit", 4, PAGING_RUNS },
  { "stuck_offset", 4, PAGING_RUNS }, { "negative", 4, PAGING_RUNS },
  { "overflow", 4, PAGING_RUNS }, { "empty_next", 1, 0 },
} do
  local mode, nreq, nruns = case[1], case[2], case[3]
  test(("all_sandbox_runs ends against a server in paging mode %s: %d runs, %d requests"):format(
    mode, nruns, nreq), function()
    ts.install{ id = PAGING_ID, count = PAGING_RUNS, flavor = "current", seed = 7, paging = mode }
    ts.clear_requests()
    local c = client()
    local got, gerr, done
    nvim.all_sandbox_runs(c, PAGING_ID, { page_size = 10 }, function(runs, err)
      got, gerr, done = runs, err, true
    end)
    check(vim.wait(10000, function() return done end, 10), "no callback")
    check(got, "error: " .. tostring(gerr))
    check(#got == nruns, "expected " .. nruns .. " runs, got " .. #got)
    local reqs = ts.requests_for(PAGING_ID)
    check(#reqs == nreq, "expected " .. nreq .. " requests, got " .. #reqs)
    local last = -1
    for _, r in ipairs(reqs) do
      local off = tonumber(r.args.offset or "0")
      check(off > last, "offset " .. off .. " after " .. last)
      last = off
    end
    c:close()
  end)
end

test("a body of a million {} reaches the callback as a decode error naming max_runs", function()
  ts.install{ id = PAGING_ID, count = 0, paging = "objects", objects = 1000000 }
  local c = client()
  local got, gerr, done
  nvim.all_sandbox_runs(c, PAGING_ID, nil, function(runs, err) got, gerr, done = runs, err, true end)
  check(vim.wait(10000, function() return done end, 10), "no callback")
  check(got == nil and gerr and gerr.kind == "decode", "expected a decode error")
  check(gerr.message == "response holds more than max_runs (10000) runs", gerr.message)
  c:close()
end)

test("all_sandbox_runs_many pages many installs on the event loop, concurrency never exceeded", function()
  -- a request a client gave up on may still be answered: in-flight maxima count once none is
  check(vim.wait(10000, function()
    return cjson.decode(vim.fn.system({ "curl", "-fsS", ts.url .. "/__nuon/inflight" })).current == 0
  end, 50), "the test server is still answering requests")
  ts.reset()
  local ids = {}
  for k = 1, 6 do
    ids[k] = ("inlnvimfleet%03d"):format(k) .. ("0"):rep(11)
    ts.install{ id = ids[k], count = 25, flavor = "current", seed = k, latency_ms = 40 }
  end
  ts.fault{ install = ids[6], status = 404, body = '{"error":"gone"}' }
  local c = client()
  local got, progress, done, main = nil, {}, false, nil
  local ticks = 0
  local timer = vim.loop.new_timer()
  timer:start(10, 10, function() ticks = ticks + 1 end)
  nvim.all_sandbox_runs_many(c, ids, { concurrency = 2, page_size = 10, on_progress = function(p)
    progress[#progress + 1] = p
  end }, function(results)
    got, done, main = results, true, vim.api.nvim_get_current_buf() ~= nil
  end)
  check(vim.wait(20000, function() return done end, 10), "no callback")
  timer:stop()
  timer:close()
  check(main, "callback not on the main loop")
  for k = 1, 5 do
    check(got[ids[k]].runs and #got[ids[k]].runs == 25, "install " .. k .. ": " .. tostring(got[ids[k]].err))
  end
  check(got[ids[6]].err and got[ids[6]].err.status == 404, "install 6 should fail with 404")
  local last = progress[#progress]
  check(last.installs_done == 6 and last.installs_total == 6 and last.pages == 16 and last.runs == 125,
    "final progress " .. vim.inspect(last))
  local most = require("helpers.inflight")(
    cjson.decode(vim.fn.system({ "curl", "-fsS", ts.url .. "/__nuon/requests" })))
  check(most == 2, "in flight at most " .. tostring(most))
  check(ticks > 10, "the editor froze: " .. ticks .. " timer ticks")
  c:close()
end)

test("all_sandbox_runs_many over HTTP/2: one connection for every request", function()
  local f = io.open(root .. "/build/server/h2_url")
  check(f, "no HTTP/2 listener (build/server/h2_url)")
  local h2_url = f:read("*l")
  f:close()
  ts.reset()
  local ids = {}
  for k = 1, 12 do
    ids[k] = ("inlnvimh2fleet%03d"):format(k) .. ("0"):rep(9)
    ts.install{ id = ids[k], count = 15, flavor = "current", seed = k, latency_ms = 50 }
  end
  local c = nuon.new{ base_url = h2_url, token = ts.token, org_id = ts.org_id,
    ca_file = root .. "/build/server/tls/ca.crt" }
  local got, done
  nvim.all_sandbox_runs_many(c, ids, { concurrency = 12, page_size = 10 }, function(results)
    got, done = results, true
  end)
  check(vim.wait(20000, function() return done end, 10), "no callback")
  for k = 1, 12 do check(got[ids[k]].runs and #got[ids[k]].runs == 15, "install " .. k) end
  local port = h2_url:match(":(%d+)$")
  local conns = cjson.decode(vim.fn.system({ "curl", "-fsS", ts.url .. "/__nuon/connections/" .. port })).count
  check(conns >= 1 and conns <= 2, conns .. " connections")
  c:close()
end)

tap.finish()
