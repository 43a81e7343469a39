-- bench/decode_worker.lua MODE IMPL FILE [MIN_TIME SAMPLES]
-- One decode measurement in a fresh process (run by bench/bench.lua).
--   MODE  time: best of SAMPLES, each sample at least MIN_TIME seconds of
--               os.clock (small bodies are decoded several times per sample,
--               a full collection, not timed, before each decode);
--               prints RESULT sec=<seconds per decode> reps= runs= warnings=
--         mem:  one decode, result kept; prints RESULT kib=<VmHWM - baseline>
--               (baseline: modules loaded, input read, peak reset)
--         warnings: writes FILE.warnings (nuon's warnings, for IMPL floor)
--   IMPL  cjson  (a) cjson.decode
--         walk   (b) cjson.decode + pure-Lua schema walk (bench/validate.lua)
--         nuon   (c) nuon.decode_sandbox_runs
--         floor  C module building the same tables from a pre-parsed tree
local common = dofile(((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench") .. "/common.lua")

local mode, impl, file = arg[1], arg[2], arg[3]
local min_time, samples = tonumber(arg[4] or "0.2"), tonumber(arg[5] or "5")
assert(mode and impl and file, "usage: decode_worker.lua time|mem cjson|walk|nuon|floor FILE [MIN_TIME SAMPLES]")

local text = common.read_file(file)
local decode
if impl == "cjson" then
  decode = require("cjson").decode
elseif impl == "walk" then
  -- the same known values as nuon (its table of every value the API has sent)
  local v = require("validate").new(common.root .. "/schema/sandbox_runs.schema.json",
    require("nuon.core").enums)
  decode = function(s) return assert(v:decode(s)) end
elseif impl == "nuon" then
  local nuon = require "nuon"
  decode = function(s) return assert(nuon.decode_sandbox_runs(s)) end
elseif impl == "floor" then
  -- nuon's warnings for this text come from FILE.warnings (MODE "warnings"
  -- writes it in another process), so no decoder runs here before the floor:
  -- its freed heap would hide the floor's own peak (LuaJIT keeps it).
  local floor = require "floor"
  local warnings = {}
  for line in io.lines(file .. ".warnings") do
    local p, v, e = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
    warnings[#warnings + 1] = { path = p, value = v, enum = e }
  end
  local tree, keys = floor.parse(text, warnings)
  local build = floor.build
  decode = function() return build(tree, keys) end
else
  error("unknown IMPL " .. impl)
end

local clock = os.clock
if mode == "warnings" then -- FILE.warnings for IMPL floor: path, value, enum
  local r = assert(require("nuon").decode_sandbox_runs(text))
  local fh = assert(io.open(file .. ".warnings", "wb"))
  for _, w in ipairs(r.warnings) do
    local line = table.concat({ w.path, w.value, w.enum }, "\t")
    assert(not line:find("\n") and select(2, line:gsub("\t", "")) == 2, "warning with a tab or newline")
    fh:write(line, "\n")
  end
  fh:close()
  common.result { warnings = #r.warnings }
  return
elseif mode == "mem" then
  collectgarbage("collect")
  collectgarbage("collect")
  local trimmed = require("floor").trim()
  local reset = common.reset_hwm()
  local base = common.hwm()
  local r = decode(text)
  local peak = common.hwm()
  common.result { kib = peak - base, reset = reset, trimmed = trimmed, base = base, runs = #r }
  return
end

-- time: every decode starts after a full collection (not timed), so each
-- pays for the collector work its own allocations trigger and none pays for
-- the garbage of the one before: the same rule for every IMPL and size.
local r = decode(text) -- warm-up, and the counts
local runs, warnings = #r, r.warnings and #r.warnings or 0
r = nil -- luacheck: ignore
collectgarbage("collect")
local t0 = clock()
decode(text)
local once = clock() - t0
local reps = math.max(1, math.ceil(min_time / math.max(once, 1e-6)))
local best = math.huge
local keep = {} -- luacheck: ignore 241 (the result stays alive until the clock is read)
for _ = 1, samples do
  local total = 0
  for _ = 1, reps do
    keep[1] = nil
    collectgarbage("collect")
    local t = clock()
    keep[1] = decode(text)
    total = total + (clock() - t)
  end
  keep[1] = nil
  if total / reps < best then best = total / reps end
end
common.result { sec = string.format("%.6g", best), reps = reps, runs = runs, warnings = warnings }
