-- The Neovim plugin as a user installs it: run by spec/run.sh (after
-- `make nvim`) as
--   nvim --clean --headless --cmd "set rtp^=<checkout>" -c "luafile spec/nvim/plugin.lua"
-- with nothing on package.path or package.cpath: Neovim finds lua/nuon/*.lua
-- and lua/nuon/core.so on the runtimepath by itself.  Checks :NuonRuns,
-- :NuonRun and :checkhealth nuon against the test server (NUON_TEST_URL).
-- Prints TAP and quits with a non-zero status when a test fails.
local root = vim.fn.getcwd()
-- away from the checkout, so that nothing is found relative to the working directory
local home = vim.fn.tempname()
vim.fn.mkdir(home, "p")
vim.cmd("cd " .. vim.fn.fnameescape(home))

local tap = dofile(root .. "/spec/nvim/tap.lua")
local test, check = tap.test, tap.check

local URL = os.getenv("NUON_TEST_URL")
local TOKEN, ORG = "nuon-test-token", "orgnuontestorg000000000001"
local DEMO, DEMO_COUNT = "inldemo25runsmixed00000001", 25

-- The test server's control API through the curl binary (LuaSocket cannot
-- be loaded into Neovim).
local function control(path, body)
  local out = vim.fn.system({ "curl", "-fsS", "-X", "POST", "-H", "Content-Type: application/json",
    "--data-binary", body and vim.fn.json_encode(body) or "", URL .. "/__nuon/" .. path })
  if vim.v.shell_error ~= 0 then error("test server /__nuon/" .. path .. ": " .. out, 2) end
end

-- The environment a user would have: credentials in it, a HOME without ~/.nuon.
local function user_env()
  vim.env.HOME = home
  vim.env.NUON_API_URL = URL
  vim.env.NUON_API_TOKEN = TOKEN
  vim.env.NUON_ORG_ID = ORG
  vim.env.NUON_CONFIG_FILE = nil
end

-- vim.notify calls, recorded.
local notes = {}
vim.notify = function(msg, level) notes[#notes + 1] = { msg = msg, level = level } end

local function wait_for(what, cond, ms)
  check(vim.wait(ms or 10000, cond, 10), "timed out waiting for " .. what)
end

local function lines(buf) return vim.api.nvim_buf_get_lines(buf or 0, 0, -1, false) end

-- Closes every window but one and wipes every other buffer.
local function clean_slate()
  vim.cmd("silent! only")
  vim.cmd("enew")
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if b ~= vim.api.nvim_get_current_buf() then pcall(vim.api.nvim_buf_delete, b, { force = true }) end
  end
  notes = {}
end

local function health_report()
  vim.cmd("silent checkhealth nuon")
  local report = table.concat(lines(), "\n")
  vim.cmd("silent! tabclose")
  return report
end

user_env()

test("at startup the commands exist and nothing heavy is loaded", function()
  check(vim.fn.exists(":NuonRuns") == 2, ":NuonRuns is not defined")
  check(vim.fn.exists(":NuonRun") == 2, ":NuonRun is not defined")
  for _, m in ipairs{ "nuon", "nuon.core", "nuon.commands", "nuon.nvim" } do
    check(package.loaded[m] == nil, m .. " was loaded at startup")
  end
  check(not package.path:find(root, 1, true) and not package.cpath:find(root, 1, true),
    "the checkout is on package.path or package.cpath")
end)

test("the core is make nvim's lua/nuon/core.so, found on the runtimepath, built for LuaJIT", function()
  local found = vim.api.nvim_get_runtime_file("lua/nuon/core.so", true)
  check(#found == 1 and found[1] == root .. "/lua/nuon/core.so", "found: " .. vim.inspect(found))
  local core = require "nuon.core"
  check(core.VERSION == require("nuon").VERSION, "core " .. core.VERSION)
  check(core.lua == (jit and "LuaJIT" or _VERSION), "built for " .. tostring(core.lua))
end)

test(":NuonRuns lists every run newest first without freezing the editor", function()
  clean_slate()
  control("reset")
  control("faults", { install = DEMO, delay = 1 })
  local ticks = 0
  local timer = vim.loop.new_timer()
  timer:start(20, 20, function() ticks = ticks + 1 end)
  local t0 = vim.loop.hrtime()
  vim.cmd("NuonRuns " .. DEMO)
  local took = (vim.loop.hrtime() - t0) / 1e6
  check(took < 300, ("the command blocked for %d ms"):format(took))
  local buf = vim.api.nvim_get_current_buf()
  check(vim.api.nvim_buf_get_name(buf) == "nuon://runs/" .. DEMO, vim.api.nvim_buf_get_name(buf))
  check(lines(buf)[1]:find("loading", 1, true), "no loading line: " .. lines(buf)[1])
  wait_for("the runs", function() return #lines(buf) == DEMO_COUNT + 1 end)
  timer:stop()
  timer:close()
  check(ticks >= 20, "the timer ticked only " .. ticks .. " times during the request")
  local ls = lines(buf)
  check(ls[1]:match("^ID +CREATED +TYPE +STATUS +JOB STATUS$"), ls[1])
  local c = require("nuon").new()
  local want = assert(c:all_sandbox_runs(DEMO))
  c:close()
  for i, run in ipairs(want) do
    check(ls[i + 1]:match("^(%S+)") == run.id, ("line %d: %s, want %s"):format(i + 1, ls[i + 1], run.id))
    check(ls[i + 1]:find(run.created_at, 1, true), "no created_at on line " .. (i + 1))
  end
  check(#notes == 0, "notified: " .. vim.inspect(notes))
end)

test("<CR> on a run shows it as JSON in a split; q closes it, then the list", function()
  local list = vim.api.nvim_get_current_buf()
  local wins = #vim.api.nvim_list_wins()
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  local id = vim.api.nvim_get_current_line():match("^(%S+)")
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<CR>", true, false, true), "x", false)
  check(#vim.api.nvim_list_wins() == wins + 1, "no split opened")
  check(vim.api.nvim_buf_get_name(0) == "nuon://run/" .. id, vim.api.nvim_buf_get_name(0))
  check(vim.bo.filetype == "json", vim.bo.filetype)
  local run = vim.fn.json_decode(table.concat(lines(), "\n"))
  check(run.id == id and run.install_id == DEMO, "the split shows " .. tostring(run.id))
  vim.api.nvim_feedkeys("q", "x", false)
  check(#vim.api.nvim_list_wins() == wins, "q did not close the run's split")
  check(vim.api.nvim_get_current_buf() == list, "not back in the list")
  vim.api.nvim_feedkeys("q", "x", false)
  check(not vim.api.nvim_buf_is_valid(list), "q did not close the list")
end)

test(":NuonRun shows one run; an unknown run is a notification", function()
  clean_slate()
  control("reset")
  local c = require("nuon").new()
  local want = assert(c:all_sandbox_runs(DEMO))[7]
  c:close()
  vim.fn.system({ "curl", "-fsS", "-X", "DELETE", URL .. "/__nuon/requests" })
  vim.cmd(("NuonRun %s %s"):format(DEMO, want.id))
  wait_for("the run", function() return vim.api.nvim_buf_get_name(0) == "nuon://run/" .. want.id end)
  local run = vim.fn.json_decode(table.concat(lines(), "\n"))
  check(run.id == want.id and run.status == want.status and run.created_at == want.created_at)
  -- one request, for the run itself (GET .../sandbox-runs/{run_id})
  local log = vim.fn.json_decode(vim.fn.system({ "curl", "-fsS", URL .. "/__nuon/requests" }))
  check(#log == 1 and log[1].route == "run" and log[1].run_id == want.id, vim.inspect(log))
  vim.cmd(("NuonRun %s %s"):format(DEMO, "sbrnosuchrun00000000000000"))
  wait_for("a notification", function() return #notes > 0 end)
  check(notes[1].level == vim.log.levels.ERROR, "level " .. tostring(notes[1].level))
  check(notes[1].msg:find("sbrnosuchrun00000000000000 not found", 1, true), notes[1].msg)
end)

test(":NuonRun pages through the list on a server without the single-run route", function()
  clean_slate()
  control("reset")
  local c = require("nuon").new()
  local want = assert(c:all_sandbox_runs(DEMO))[4]
  c:close()
  control("faults", { install = DEMO, route = "run", status = 404, body = "404 page not found",
    headers = { ["Content-Type"] = "text/plain" }, times = 10 })
  vim.cmd(("NuonRun %s %s"):format(DEMO, want.id))
  wait_for("the run", function() return vim.api.nvim_buf_get_name(0) == "nuon://run/" .. want.id end)
  local run = vim.fn.json_decode(table.concat(lines(), "\n"))
  check(run.id == want.id and run.status == want.status, vim.inspect(run.id))
end)

test("a failing request is a notification and a line in the buffer, never an error", function()
  clean_slate()
  control("reset")
  control("faults", { install = DEMO, times = 5, status = 404, body = '{"error":"install not found"}' })
  vim.cmd("NuonRuns " .. DEMO)
  local buf = vim.api.nvim_get_current_buf()
  wait_for("a notification", function() return #notes > 0 end)
  check(notes[1].level == vim.log.levels.ERROR and notes[1].msg:find("HTTP 404", 1, true), vim.inspect(notes))
  check(lines(buf)[1]:find("^error: HTTP 404"), lines(buf)[1])
end)

test("missing credentials are a notification saying what to set", function()
  clean_slate()
  vim.env.NUON_API_TOKEN = nil
  local bufs = #vim.api.nvim_list_bufs()
  vim.cmd("NuonRuns " .. DEMO)
  user_env()
  check(#notes == 1 and notes[1].msg:find("no API token: .*NUON_API_TOKEN"), vim.inspect(notes))
  check(#vim.api.nvim_list_bufs() == bufs, "a buffer was opened")
end)

test(":checkhealth nuon reports the core, libcurl, LuaJIT and credentials from the environment", function()
  clean_slate()
  local report = health_report()
  for _, want in ipairs{
    "OK: nuon.core " .. require("nuon").VERSION .. " loads (" .. root .. "/lua/nuon/core.so)",
    "OK: built for LuaJIT, which Neovim runs",
    "OK: libcurl " .. require("nuon.core").curl.version,
    "OK: TLS: ",
    "OK: API token found, from $NUON_API_TOKEN (the environment)",
    "OK: org id found, from $NUON_ORG_ID (the environment)",
    "OK: base URL " .. URL .. ", from $NUON_API_URL (the environment)",
    "INFO: not checked",
  } do
    check(report:find(want, 1, true), "missing '" .. want .. "' in:\n" .. report)
  end
  check(not report:find("ERROR", 1, true) and not report:find("WARNING", 1, true), report)
  check(not report:find(TOKEN, 1, true), "the token is in the report")
end)

test(":checkhealth nuon names the config file the credentials come from", function()
  local file = home .. "/nuon.yaml"
  vim.fn.writefile({ "api_token: " .. TOKEN, "org_id: " .. ORG }, file)
  vim.env.NUON_API_TOKEN, vim.env.NUON_ORG_ID, vim.env.NUON_CONFIG_FILE = nil, nil, file
  local report = health_report()
  user_env()
  check(report:find("OK: API token found, from api_token in " .. file .. " (the config file)", 1, true), report)
  check(report:find("OK: org id found, from org_id in " .. file .. " (the config file)", 1, true), report)
  check(not report:find(TOKEN, 1, true), "the token is in the report")
end)

test(":checkhealth nuon says what is missing", function()
  vim.env.NUON_ORG_ID = nil
  local report = health_report()
  user_env()
  check(report:find("ERROR: no org id: ", 1, true), report)
end)

test(":checkhealth nuon sends a request only when asked, and tells a refused token", function()
  control("reset")
  vim.g.nuon_health_network = 1
  local report = health_report()
  check(report:find("OK: reachable; the API token and org id are accepted", 1, true), report)
  local secret = "secret-token-that-must-not-show"
  vim.env.NUON_API_TOKEN = secret
  report = health_report()
  user_env()
  vim.g.nuon_health_network = nil
  check(report:find("ERROR: reachable, but the credentials are refused: HTTP 401", 1, true), report)
  check(not report:find(secret, 1, true), "the token is in the report")
end)

tap.finish()
