--- Paging as a state machine, independent of the transport.
--
-- The blocking client, the Neovim helper and the OpenResty helper all page
-- the same way: ask `pager:request()` for the next (limit, offset), fetch that
-- page however they can, give the result to `pager:feed(runs)`, and take the
-- runs it accepted.  The pager follows `X-Nuon-Page-Next` (or a short page
-- when the header is absent), steps by the limit the server applied, never
-- accepts a run id twice, applies `where`, stops early at `where.since`
-- (runs come newest first) and at `max`.
-- @module nuon.pager
local filter = require "nuon.filter"

local setmetatable = setmetatable

local Pager = {}
local mt = { __index = Pager }

--- A new pager.
-- @tparam table opts `page_size` (100), `where`, `max`
-- @tparam[opt=2] number level error level for a bad `where`, as for `error`
--   called in Pager.new (2: its caller; a method that calls a helper that
--   calls Pager.new passes 4 to blame the method's caller)
function Pager.new(opts, level)
  local match, bounds = filter.compile(opts.where, level or 2)
  return setmetatable({
    size = opts.page_size or 100,
    max = opts.max,
    match = match,
    since = bounds.since,
    offset = 0,
    yielded = 0,
    seen = {},
    warnings = {},
    finished = opts.max == 0,
  }, mt)
end

--- The next page to fetch: limit, offset; or nil when paging is over.
function Pager:request()
  if self.finished then return nil end
  return self.size, self.offset
end

--- Takes one fetched page (a runs table from sandbox_runs or
-- decode_sandbox_runs, with `.page` when it came from the server) and
-- returns the sequence of runs to deliver, in order.
function Pager:feed(runs)
  local out, n = {}, 0
  local page = runs.page or {}
  local applied = page.limit or self.size -- the server clamps the limit
  local offset = page.offset or self.offset
  self.offset = offset + applied
  if page.next ~= nil then
    self.finished = not page.next
  else
    self.finished = #runs < applied
  end
  local ws = runs.warnings
  if ws then
    local all = self.warnings
    for k = 1, #ws do
      local w = ws[k]
      w.offset = offset
      all[#all + 1] = w
    end
  end
  local seen, match, since, max = self.seen, self.match, self.since, self.max
  for k = 1, #runs do
    if max and self.yielded >= max then self.finished = true break end
    local run = runs[k]
    local id = run.id
    if id == nil or not seen[id] then
      if id ~= nil then seen[id] = true end
      if since then
        local t = filter.created_epoch(run)
        if t and t < since then self.finished = true break end
      end
      if match(run) then
        self.yielded = self.yielded + 1
        n = n + 1
        out[n] = run
      end
    end
  end
  if max and self.yielded >= max then self.finished = true end
  return out
end

--- Drives the pager with `fetch(limit, offset)` → runs | nil, err and
-- returns next(), which gives a run, nil when done, or false, err when a page
-- failed.
function Pager:runs(fetch)
  local buf, i = {}, 1
  return function()
    while true do
      local run = buf[i]
      if run ~= nil then
        i = i + 1
        return run
      end
      local limit, offset = self:request()
      if not limit then return nil end
      local runs, err = fetch(limit, offset)
      if not runs then
        self.finished = true
        return false, err
      end
      buf, i = self:feed(runs), 1
    end
  end
end

--- A generic-for iterator over next() that raises the error object.
function Pager.iterate(next_run)
  return function()
    local run, err = next_run()
    if run == false then error(err, 0) end
    return run
  end
end

--- Collects next() into a sequence with `.warnings`, or returns nil, err.
function Pager.collect(next_run, warnings)
  local all, n = {}, 0
  while true do
    local run, err = next_run()
    if run == false then return nil, err end
    if run == nil then break end
    n = n + 1
    all[n] = run
  end
  all.warnings = warnings
  return all
end

return Pager
