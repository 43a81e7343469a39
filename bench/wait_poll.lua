-- bench/wait_poll.lua: what one poll of client:wait_sandbox_run costs, before
-- (a scan of the list's newest runs) and after (one request for the run).
--
--   bash spec/server/start.sh            # or any test server; then
--   NUON_TEST_URL=http://127.0.0.1:PORT lua5.4 bench/wait_poll.lua
--
-- A today-flavored install of 120 runs.  For a run at position 1 (the usual
-- case: just triggered), 15 and 60 of the list it measures what each poll
-- receives (response body bytes as sent, identity and gzip, read with raw
-- HTTP) and how many polls a second one client makes back to back on
-- loopback (compress = false, best of 9 rounds of 200 polls).  "before" is
-- the page scan wait_sandbox_run did until issue 13, and still does against
-- a server without the single-run route; "after" is one sandbox_run.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/lua5.4/?.so;" .. package.cpath
local socket = require "socket"
local nuon = require "nuon"
local ts = require "helpers.testserver"

local INSTALL = "inlwaitpollbench0000000001"
ts.install{ id = INSTALL, count = 120, flavor = "today", seed = 1 }
local c = nuon.new{ base_url = ts.url, token = ts.token, org_id = ts.org_id, compress = false,
  config_file = "/dev/null" }
local all = assert(c:all_sandbox_runs(INSTALL))

-- The requests of one poll: { path, ... }, as wait_sandbox_run makes them.
local function scan_paths(pos)
  local paths, offset, limit = {}, 0, 10
  while true do
    paths[#paths + 1] = ("/v1/installs/%s/sandbox-runs?limit=%d&offset=%d"):format(INSTALL, limit, offset)
    if pos <= offset + limit then return paths end
    offset = offset + limit
    limit = 90
  end
end

local function bytes(paths, gzip)
  local n = 0
  for _, p in ipairs(paths) do
    local res = assert(ts.get(p, ts.auth_headers(gzip and { ["Accept-Encoding"] = "gzip" } or nil)))
    assert(res.status == 200)
    n = n + #res.body
  end
  return n
end

local function rate(poll)
  for _ = 1, 5 do poll() end
  local best = 0
  for _ = 1, 9 do
    local t = socket.gettime()
    for _ = 1, 200 do poll() end
    best = math.max(best, 200 / (socket.gettime() - t))
  end
  return best
end

-- the scan as nuon.wait's find_run does it
local function scan_poll(id)
  return function()
    local offset, limit = 0, 10
    while offset < 100 do
      local runs = assert(c:sandbox_runs(INSTALL, { limit = limit, offset = offset }))
      for i = 1, #runs do if runs[i].id == id then return end end
      offset = offset + (runs.page.limit or limit)
      limit = math.min(100, 100 - offset)
    end
    error("not found")
  end
end

print(("one poll of wait_sandbox_run, test server at %s, %s"):format(ts.url, _VERSION))
print(("%-9s %-7s %9s %9s %9s %12s"):format("run at", "", "requests", "bytes", "gzip", "polls/s"))
for _, pos in ipairs{ 1, 15, 60 } do
  local id = all[pos].id
  local paths = scan_paths(pos)
  local one = { ("/v1/installs/%s/sandbox-runs/%s"):format(INSTALL, id) }
  print(("%-9s %-7s %9d %9d %9d %12.0f"):format("#" .. pos, "before", #paths, bytes(paths),
    bytes(paths, true), rate(scan_poll(id))))
  print(("%-9s %-7s %9d %9d %9d %12.0f"):format("", "after", 1, bytes(one), bytes(one, true),
    rate(function() assert(c:sandbox_run(INSTALL, id)) end)))
end
c:close()
