-- bench/gen.lua DIR FLAVOR COUNT... : writes DIR/FLAVOR-COUNT.json with
-- spec/server/generator.lua (install id "inlbenchFLAVOR...", seed 1), unless
-- a file made from the same generator source is already there (a stamp with
-- a hash of generator.lua sits next to each file).  Prints one line per file:
-- "<path> <bytes>".
local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"
package.path = here .. "/../spec/?.lua;" .. package.path
local gen = require "server.generator"

local dir, flavor = arg[1], arg[2]
assert(dir and flavor and arg[3], "usage: gen.lua DIR FLAVOR COUNT...")

local function read(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local s = fh:read("*a")
  fh:close()
  return s
end

local src = assert(read(here .. "/../spec/server/generator.lua"), "generator.lua not found")
local stamp = string.format("%d:%d:1", #src, gen.hash(src))

local function install_id(count)
  local id = "inlbench" .. flavor .. count
  return id .. string.rep("0", 26 - #id)
end

for i = 3, #arg do
  local count = math.floor(tonumber(arg[i]))
  local path = string.format("%s/%s-%d.json", dir, flavor, count)
  local size
  if read(path .. ".stamp") == stamp then
    local fh = io.open(path, "rb")
    if fh then size = fh:seek("end"); fh:close() end
  end
  if not size then
    local body = gen.body(install_id(count), { count = count, flavor = flavor, seed = 1 })
    -- generator.lua writes a zero execution time as "0000000000" (a number
    -- with leading zeros: invalid JSON that nuon rejects and cjson accepts)
    body = body:gsub('"execution_time":0+([,}])', '"execution_time":0%1')
    local fh = assert(io.open(path, "wb"))
    fh:write(body)
    fh:close()
    fh = assert(io.open(path .. ".stamp", "wb"))
    fh:write(stamp)
    fh:close()
    size = #body
  end
  print(path .. " " .. size)
end
