-- The paging state machine (lua/nuon/pager.lua) fuzzed: random page bodies
-- and headers from a fake fetch, the way any server might answer.  Each
-- scenario must end within a bounded number of fetches, never raise, send
-- only non-negative offsets that move forward, and never yield a run id
-- twice or more than `max` runs.
--
--   lua5.4 spec/fuzz/pager_fuzz.lua [seconds] [seed]    (make fuzz-pager)
--
-- spec/pager_fuzz_spec.lua runs a fixed set of seeds in the suite.
local Pager = require "nuon.pager"

local M = {}

-- A small deterministic PRNG (xorshift on 2^31), the same on every Lua.
local function rng(seed)
  local s = seed % 2147483647
  if s <= 0 then s = s + 2147483646 end
  return function(n) -- 1..n
    s = (s * 48271) % 2147483647
    return s % n + 1
  end
end

local HEADER_INTS = { 0, -1, -5, 1, 3, 10, 99, 100, 101, 2^53, 2^63, -2^63 }

-- One scenario: returns nil when every property held, else a message.
function M.scenario(seed)
  local r = rng(seed)
  local pool = r(40) - 1             -- distinct run ids the server knows
  local page_size = ({ 1, 3, 10, 100 })[r(4)]
  local max = r(4) == 1 and r(30) - 1 or nil
  local where = r(5) == 1 and { fn = function(run) return run.n % 2 == 0 end } or nil
  local sticky = r(4) == 1           -- a server that repeats its first page
  local first_page
  local fetches, last_offset = 0, -1
  local bound = 3 * pool + 3         -- a new id per page at most `pool` times,
                                     -- two stale pages after each at most
  local problem
  local p = Pager.new({ page_size = page_size, max = max, where = where })

  local function fetch(limit, offset)
    fetches = fetches + 1
    if fetches > bound then
      problem = ("seed %d: more than %d fetches"):format(seed, bound)
      return nil, { kind = "fuzz", message = problem }
    end
    if type(offset) ~= "number" or offset < 0 or offset <= last_offset or offset ~= math.floor(offset) then
      problem = ("seed %d: offset %s after %s"):format(seed, tostring(offset), tostring(last_offset))
      return nil, { kind = "fuzz", message = problem }
    end
    if limit ~= page_size then
      problem = ("seed %d: limit %s, page_size %d"):format(seed, tostring(limit), page_size)
      return nil, { kind = "fuzz", message = problem }
    end
    last_offset = offset
    if r(20) == 1 then return nil, { kind = "network", message = "injected" } end
    if sticky and first_page then
      local copy = {}
      for i = 1, #first_page do copy[i] = first_page[i] end
      copy.page, copy.warnings = first_page.page, {}
      return copy
    end
    local runs, n = {}, r(limit + 6) - 1
    if r(3) == 1 then n = math.min(n, limit) end
    for i = 1, n do
      if pool == 0 then break end
      local id = r(pool)
      runs[i] = { id = "sbr" .. id, n = id, created_at = "2025-01-01T00:00:00Z" }
    end
    local page = {}
    local k = r(4)
    if k == 1 then page.next = true elseif k == 2 then page.next = false end
    if r(2) == 1 then page.limit = HEADER_INTS[r(#HEADER_INTS)] end
    if r(2) == 1 then page.offset = HEADER_INTS[r(#HEADER_INTS)] end
    runs.page = page
    runs.warnings = {}
    first_page = first_page or runs
    return runs
  end

  local ok, all, err = pcall(function() return Pager.collect(p:runs(fetch), p.warnings) end)
  if problem then return problem end
  if not ok then return ("seed %d: raised %s"):format(seed, tostring(all)) end
  if not all then
    if err.kind ~= "network" then return ("seed %d: error %s"):format(seed, tostring(err.message)) end
    return nil
  end
  local seen = {}
  for _, run in ipairs(all) do
    if seen[run.id] then return ("seed %d: %s yielded twice"):format(seed, run.id) end
    seen[run.id] = true
  end
  if max and #all > max then return ("seed %d: %d runs, max %d"):format(seed, #all, max) end
  return nil
end

-- Runs scenarios first_seed, first_seed + 1, ... for `seconds` (or `count`
-- scenarios): returns the count run and the first problem, if any.
function M.run(first_seed, seconds, count)
  local start, n = os.clock(), 0
  while true do
    if count and n >= count then break end
    if seconds and os.clock() - start >= seconds then break end
    local problem = M.scenario(first_seed + n)
    n = n + 1
    if problem then return n, problem end
  end
  return n, nil
end

if arg and arg[0] and arg[0]:match("pager_fuzz%.lua$") then
  local seconds = tonumber(arg[1]) or 30
  local seed = tonumber(arg[2]) or os.time()
  local n, problem = M.run(seed, seconds)
  if problem then
    print("fuzz-pager: FOUND A PROBLEM after " .. n .. " scenarios: " .. problem)
    os.exit(1)
  end
  print(("fuzz-pager: %d scenarios from seed %d in %gs, no problem"):format(n, seed, seconds))
end

return M
