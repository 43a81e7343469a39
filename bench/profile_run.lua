-- bench/profile_run.lua IMPL FILE N: N decodes of FILE with IMPL (nuon or
-- floor), a full collection before each; for bench/profile.sh (callgrind).
local common = dofile(((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench") .. "/common.lua")
local impl, file, n = arg[1], arg[2], tonumber(arg[3] or "5")
local text = common.read_file(file)
local decode
if impl == "nuon" then
  local nuon = require "nuon"
  decode = function() return assert(nuon.decode_sandbox_runs(text)) end
else
  local floor = require "floor"
  local warnings = {}
  for line in io.lines(file .. ".warnings") do
    local p, v, e = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
    warnings[#warnings + 1] = { path = p, value = v, enum = e }
  end
  local tree, keys = floor.parse(text, warnings)
  decode = function() return floor.build(tree, keys) end
end
local keep = {} -- luacheck: ignore 241 (keeps the last result alive)
for _ = 1, n do
  keep[1] = nil
  collectgarbage("collect")
  keep[1] = decode()
end
