-- bench/http_worker.lua MODE ... : one request measurement in a fresh process
-- (run by bench/bench.lua against the test server).  Wall time is
-- socket.gettime; every response is checked (status 200, decodes to a
-- sequence of the expected length) so a failing peer cannot look fast.
--
--   nuon      URL ID LIMIT N ROUNDS    client:sandbox_runs(ID, {limit=LIMIT})
--   luasocket URL ID LIMIT N ROUNDS    socket.http.request + cjson.decode
--   curlbin   URL ID LIMIT N ROUNDS    io.popen("curl ...") per request + cjson.decode
--       prints RESULT rate=<requests/s of the best of ROUNDS rounds of N>
--   wire      URL ID LIMIT N ENCODING  one curl process fetching the page N
--       times on one connection, nothing decoded: the server and the wire
--       alone, ENCODING "identity" or "gzip" (curl --compressed);
--       prints RESULT rate=<requests/s>
--   many      URL PREFIX COUNT CONC ROUNDS
--       client:sandbox_runs_many over the ids PREFIX..1..COUNT at concurrency
--       CONC; prints RESULT sec=<best wall time> worst=<slowest round>
--   fleet     URL PREFIX COUNT CONC ROUNDS PAGE_SIZE [CA_FILE]
--       client:all_sandbox_runs_many over the same ids: every page
--   fleetmem  URL PREFIX COUNT CONC
--       one all_sandbox_runs_many, runs kept: RESULT kib=<peak RSS growth> runs=N
--   curlpar   URL PREFIX COUNT CONC ROUNDS [PAGES]
--       the curl binary, --parallel --parallel-max CONC over the same URLs
--       as "many" (with PAGES, every page of 10 of each install, all at
--       once: no page waits for the one before), nothing decoded: the
--       wire-only peer
local common = dofile(((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench") .. "/common.lua")
local socket = require "socket"
local cjson = require "cjson"
local config = require "server.config"

local now = socket.gettime
local mode, url = arg[1], arg[2]
assert(mode and url, "usage: http_worker.lua nuon|luasocket|curlbin|many URL ...")

local function best_rate(once, n, rounds)
  for _ = 1, 3 do once() end -- connect, warm the server's cache
  local best = 0
  for _ = 1, rounds do
    local t = now()
    for _ = 1, n do once() end
    local rate = n / (now() - t)
    if rate > best then best = rate end
  end
  return best
end

local function check_runs(runs, limit, who)
  if type(runs) ~= "table" or #runs ~= limit then
    error(who .. ": expected " .. limit .. " runs, got " .. tostring(type(runs) == "table" and #runs or runs))
  end
end

-- fleet URL PREFIX COUNT CONC ROUNDS PAGE_SIZE [CA_FILE]: all_sandbox_runs_many
-- over PREFIX..1..COUNT, best and worst time; with CA_FILE, URL is https://.
-- fleetmem URL PREFIX COUNT CONC: one all_sandbox_runs_many, the runs kept;
-- peak resident memory over the baseline (KiB) and the runs collected.
if mode == "fleet" or mode == "fleetmem" then
  local prefix, count, conc = arg[3], tonumber(arg[4]), tonumber(arg[5])
  local nuon = require "nuon"
  local client = nuon.new { base_url = url, token = config.token, org_id = config.org_id, retries = 0,
    ca_file = arg[8], config_file = "/dev/null" }
  local ids = {}
  for i = 1, count do ids[i] = prefix .. i end
  local function once(page_size)
    local t = now()
    local res = client:all_sandbox_runs_many(ids, { concurrency = conc, page_size = page_size })
    t = now() - t
    local n = 0
    for _, id in ipairs(ids) do
      local r = res[id]
      if not (r and r.runs) then error("all_sandbox_runs_many: " .. id .. ": " .. tostring(r and r.err)) end
      n = n + #r.runs
    end
    return t, n, res
  end
  if mode == "fleetmem" then
    collectgarbage()
    collectgarbage()
    local base = common.hwm()
    common.reset_hwm()
    local _, n, res = once(100)
    collectgarbage()
    common.result { kib = common.hwm() - base, runs = n, kept = res and 1 or 0 }
    return
  end
  local rounds, page_size = tonumber(arg[6] or "3"), tonumber(arg[7])
  once(page_size) -- warm-up: connections, the server's generated runs
  local best, worst = math.huge, 0
  for _ = 1, rounds do
    local t = once(page_size)
    if t < best then best = t end
    if t > worst then worst = t end
  end
  common.result { sec = string.format("%.6f", best), worst = string.format("%.6f", worst) }
  return
end

-- curlpar URL PREFIX COUNT CONC ROUNDS: the wire-only peer of "many": the
-- curl binary fetching the same URLs with --parallel --parallel-max CONC
-- (bodies to /dev/null, no decoding), best time of ROUNDS.
if mode == "curlpar" then
  local prefix, count, conc, rounds = arg[3], tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6] or "3")
  local pages = tonumber(arg[7]) -- with PAGES: each install's pages of 10 (limit, offset) as URLs
  local cfg = os.tmpname()
  local fh = assert(io.open(cfg, "w"))
  fh:write(('header = "Authorization: Bearer %s"\nheader = "X-Nuon-Org-ID: %s"\n'):format(
    config.token, config.org_id))
  for i = 1, count do
    if pages then
      for p = 0, pages - 1 do
        fh:write(('url = "%s/v1/installs/%s%d/sandbox-runs?limit=10&offset=%d"\noutput = "/dev/null"\n')
          :format(url, prefix, i, p * 10))
      end
    else
      fh:write(('url = "%s/v1/installs/%s%d/sandbox-runs"\noutput = "/dev/null"\n'):format(url, prefix, i))
    end
  end
  fh:close()
  -- --compressed: the same wire as nuon's default (compress = true)
  local cmd = ("curl -sS --fail --compressed --parallel --parallel-immediate --parallel-max %d -K %s")
    :format(conc, cfg)
  local function once()
    local t = now()
    local ok = os.execute(cmd)
    if not ok then error("curl failed: " .. cmd) end
    return now() - t
  end
  once()
  local best = math.huge
  for _ = 1, rounds do
    local t = once()
    if t < best then best = t end
  end
  os.remove(cfg)
  common.result { sec = string.format("%.6f", best) }
  return
end

if mode == "many" then
  local prefix, count, conc, rounds = arg[3], tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6] or "3")
  local nuon = require "nuon"
  local client = nuon.new { base_url = url, token = config.token, org_id = config.org_id, retries = 0 }
  local ids = {}
  for i = 1, count do ids[i] = prefix .. i end
  local function once()
    local t = now()
    local res = client:sandbox_runs_many(ids, { concurrency = conc })
    t = now() - t
    for _, id in ipairs(ids) do
      local r = res[id]
      if not (r and r.runs) then error("sandbox_runs_many: " .. id .. ": " .. tostring(r and r.err)) end
    end
    return t
  end
  once() -- warm-up: connections, the server's generated runs
  local best, worst = math.huge, 0
  for _ = 1, rounds do
    local t = once()
    if t < best then best = t end
    if t > worst then worst = t end
  end
  common.result { sec = string.format("%.6f", best), worst = string.format("%.6f", worst) }
  return
end

local id, limit, n, rounds = arg[3], tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6] or "3")
local path = "/v1/installs/" .. id .. "/sandbox-runs?limit=" .. limit
local once

if mode == "wire" then
  local cfg = os.tmpname()
  local fh = assert(io.open(cfg, "w"))
  for _ = 1, n do fh:write(('url = "%s"\noutput = "/dev/null"\n'):format(url .. path)) end
  fh:close()
  local cmd = ("curl -sS --fail %s -H 'Authorization: Bearer %s' -H 'X-Nuon-Org-ID: %s' "
    .. "-H 'Accept: application/json' -K '%s'"):format(arg[6] == "gzip" and "--compressed" or "",
    config.token, config.org_id, cfg)
  os.execute(cmd) -- warm-up
  local t = now()
  local ok = os.execute(cmd)
  t = now() - t
  os.remove(cfg)
  assert(ok == true or ok == 0, "curl failed")
  common.result { rate = string.format("%.3f", n / t) }
  return
end

if mode == "nuon" then
  local nuon = require "nuon"
  -- arg 7 "identity": compress = false, the body as it is (as (e) and (f) get it)
  local client = nuon.new { base_url = url, token = config.token, org_id = config.org_id,
    compress = arg[7] ~= "identity" }
  local opts = { limit = limit }
  once = function()
    local runs, err = client:sandbox_runs(id, opts)
    if not runs then error("nuon: " .. tostring(err)) end
    check_runs(runs, limit, "nuon")
  end
elseif mode == "luasocket" then
  local http = require "socket.http"
  local ltn12 = require "ltn12"
  local headers = { authorization = "Bearer " .. config.token, ["x-nuon-org-id"] = config.org_id,
    accept = "application/json" }
  once = function()
    local parts = {}
    local ok, code = http.request { url = url .. path, headers = headers, sink = ltn12.sink.table(parts) }
    if ok ~= 1 or code ~= 200 then error("luasocket: " .. tostring(code)) end
    check_runs(cjson.decode(table.concat(parts)), limit, "luasocket")
  end
elseif mode == "curlbin" then
  local cmd = ("curl -sS --fail -H 'Authorization: Bearer %s' -H 'X-Nuon-Org-ID: %s' "
    .. "-H 'Accept: application/json' '%s'"):format(config.token, config.org_id, url .. path)
  once = function()
    local fh = assert(io.popen(cmd, "r"))
    local body = fh:read("*a")
    fh:close()
    check_runs(cjson.decode(body), limit, "curl")
  end
else
  error("unknown MODE " .. mode)
end

common.result { rate = string.format("%.3f", best_rate(once, n, rounds)) }
