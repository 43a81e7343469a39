-- bench/common.lua: what every benchmark process shares.  Sets package.path
-- and package.cpath for the VM it runs on (nuon from the working tree, the
-- bench modules from build/bench/<vm>/), and reads peak memory.
local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench"
local root = here .. "/.."
local vm = jit and "luajit" or "lua" .. _VERSION:match("%d+%.%d+")

package.path = table.concat({ here .. "/?.lua", root .. "/lua/?.lua", root .. "/lua/?/init.lua",
  root .. "/spec/?.lua", package.path }, ";")
-- BENCH_CORE_DIR: another build of nuon.core (bench/profile.sh builds one)
local core_dir = os.getenv("BENCH_CORE_DIR")
package.cpath = table.concat({ root .. "/build/bench/" .. vm .. "/?.so",
  (core_dir and core_dir ~= "" and core_dir or root .. "/build/" .. vm) .. "/?.so", package.cpath }, ";")

local M = { root = root, here = here, vm = vm }

function M.read_file(path)
  local fh = assert(io.open(path, "rb"))
  local s = fh:read("*a")
  fh:close()
  return s
end

-- VmHWM (peak resident set) of this process, in KiB.
function M.hwm()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmHWM:%s*(%d+)")
    if v then return tonumber(v) end
  end
  error("no VmHWM in /proc/self/status")
end

-- Sets VmHWM back to the current resident set (Linux: "5" > clear_refs), so
-- the transient peaks of reading the input and loading modules do not hide
-- the peak of what is measured next.  Returns whether it could.
function M.reset_hwm()
  local fh = io.open("/proc/self/clear_refs", "w")
  if not fh then return false end
  local ok = fh:write("5")
  fh:close()
  return ok and true or false
end

-- Result line read by bench/bench.lua.
function M.result(fields)
  local out = {}
  for k, v in pairs(fields) do out[#out + 1] = k .. "=" .. tostring(v) end
  table.sort(out)
  io.write("RESULT ", table.concat(out, " "), "\n")
  io.stdout:flush()
end

return M
