-- Quick benchmark of the C decoder against lua-cjson on one large body.
--
--   lua5.4 bench/decode_quick.lua [runs] [rounds]      (default 10000 runs, 5 rounds)
--   luajit bench/decode_quick.lua [runs] [rounds]
--
-- The body replicates the hand-written fixtures (spec/fixtures: today-shaped
-- runs for the newer half, seed-era runs for the older half) with fresh run,
-- job and log-stream ids and shifted timestamps for every copy, the way one
-- long-lived install's history looks. It times
-- cjson.decode and core.decode (which also validates against the schema,
-- collects enum warnings and bridges runner_job) on the same bytes: the best
-- CPU time of `rounds` runs each, after a full collection each time.
-- The goal is core/cjson <= 0.5 on Lua 5.4.
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "../"
package.cpath = ROOT .. (jit and "build/luajit/?.so;" or "build/lua5.4/?.so;") .. package.cpath

local core = require "nuon.core"
local cjson = require "cjson"

local NRUNS = tonumber(arg[1]) or 10000
local ROUNDS = tonumber(arg[2]) or 5

local floor, format, concat = math.floor, string.format, table.concat

local function read(name)
  local f = assert(io.open(ROOT .. "spec/fixtures/" .. name, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The top-level items of a JSON array, as text (fixtures are one run a line
-- or one array; split on the run boundaries "},{\"id\":\"sbr").
local function split_runs(text)
  local runs = {}
  local body = text:gsub("^%s*%[", ""):gsub("%]%s*$", "")
  local start = 1
  while true do
    local i = body:find('},%s*{"id":"sbr', start)
    if not i then break end
    runs[#runs + 1] = body:sub(start, i)
    start = body:find('{"id":"sbr', i, true)
  end
  runs[#runs + 1] = body:sub(start)
  return runs
end

local current, seed = split_runs(read("current_runs.json")), split_runs(read("seed_runs.json"))

-- Days since 1970-01-01 of a civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"

-- 23 characters of [0-9a-z] derived from n and a salt.
local function id_suffix(n, salt)
  local out, x = {}, n * 7919 + salt * 104729 + 12345
  for i = 1, 23 do
    x = (x * 1103515245 + 12345) % 2147483648
    local k = floor(x / 65536) % 36 + 1
    out[i] = ALNUM:sub(k, k)
  end
  return concat(out)
end

local function epoch(y, mo, d, h, mi, s)
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
end

local TS = '"(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)([%.%dZ]*)"'

-- The epoch of a run's own created_at.
local function run_time(template)
  local y, mo, d, h, mi, s = cjson.decode(template).created_at:match(
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)")
  return epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s))
end

local function copy_run(template, n)
  local t_run, salt = run_time(template), 0
  local text = template:gsub('"(%l%l%l)([0-9a-z]+)"', function(prefix, rest)
    if #rest ~= 23 then return nil end
    if prefix == "sbr" or prefix == "job" or prefix == "log" then
      salt = salt + 1
      return '"' .. prefix .. id_suffix(n, salt) .. '"'
    end
    return nil
  end)
  -- shift the run's own timestamps (its jobs, log stream, executions: within
  -- a day of its created_at) back by n * 10 minutes, keeping their fraction;
  -- the sandbox config's and the accounts' stay shared, as on the wire
  return (text:gsub(TS, function(y, mo, d, h, mi, s, rest)
    local t = epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s))
    if math.abs(t - t_run) > 86400 then return nil end
    return '"' .. os.date("!%Y-%m-%dT%H:%M:%S", t - n * 600) .. rest .. '"'
  end))
end

-- Newest first, like the API: today-shaped runs, then (older than the
-- runner_jobs rename) seed-era ones, each era cycling through its fixtures.
local body
do
  local parts = {}
  for n = 1, NRUNS do
    local era = n <= NRUNS / 2 and current or seed
    parts[n] = copy_run(era[(n - 1) % #era + 1], n)
  end
  body = "[" .. concat(parts, ",") .. "]"
end

local nwarnings
do
  local check = assert(core.decode(body))
  assert(#check == NRUNS, "decoded " .. #check .. " runs")
  nwarnings = #check.warnings
  assert(#cjson.decode(body) == NRUNS)
end

local function time(fn)
  collectgarbage()
  collectgarbage()
  local t0 = os.clock()
  local r = fn(body)
  local t = os.clock() - t0
  assert(r)
  return t
end

-- The heap a decoder finds (shaped by the other one's freed garbage, or by
-- its own) changes its speed by up to 30%: each round runs each decoder
-- twice in a row and keeps the second time. Rounds interleave the two, so a
-- burst of load on the machine hits both alike.
local best_cjson, best_core = math.huge, math.huge
for _ = 1, ROUNDS do
  time(cjson.decode)
  best_cjson = math.min(best_cjson, time(cjson.decode))
  time(core.decode)
  best_core = math.min(best_core, time(core.decode))
end

print(format("%s: %d runs, %.1f MB, %d warnings", jit and jit.version or _VERSION, NRUNS,
  #body / 1e6, nwarnings))
print(format("cjson.decode  %.3f s  (%.0f MB/s)", best_cjson, #body / 1e6 / best_cjson))
print(format("core.decode   %.3f s  (%.0f MB/s)", best_core, #body / 1e6 / best_core))
print(format("ratio core/cjson  %.3f", best_core / best_cjson))
