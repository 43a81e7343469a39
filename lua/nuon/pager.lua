--- Paging as a state machine, independent of the transport.
--
-- The blocking client, the Neovim helper and the OpenResty helper all page
-- the same way: ask `pager:request()` for the next (limit, offset), fetch that
-- page however they can, give the result to `pager:feed(runs)`, and take the
-- runs it accepted.  The pager never accepts a run id twice, applies `where`,
-- stops early at `where.since` (runs come newest first) and at `max`.
--
-- Paging ends whatever the server sends (API.md, "Paging against any
-- server"): at an empty page; at `X-Nuon-Page-Next: false` (or, without the
-- header, a page shorter than the limit the server applied); after a page
-- longer than the limit asked for (the server ignores paging, so that page
-- was the whole list); and after two pages in a row that bring no run id not
-- seen before (a server that repeats a page).  The offset only moves
-- forward: by the limit the server says it applied when that is a whole
-- number from 1 to the limit asked for, else by the limit asked for (never
-- by less than the runs received); page headers that are missing, negative
-- or nonsense are ignored.
-- @module nuon.pager
local filter = require "nuon.filter"
local raise = require("nuon.errors").raise

local setmetatable, type = setmetatable, type
local floor, max = math.floor, math.max

local MAX_OFFSET = 2^53 -- beyond this a Lua number no longer counts runs exactly
local STALE_PAGES = 2   -- pages in a row without a new run id that end paging

local Pager = {}
local mt = { __index = Pager }

--- A new pager.  The methods that page check their options first
-- (`nuon.args`), so a bad `where` raises here only for a direct caller.
-- @tparam table opts `page_size` (100), `where`, `max`
function Pager.new(opts)
  local match, bounds = filter.check(opts.where)
  if not match then raise("pager.new", "option 'where': %s", bounds) end
  return setmetatable({
    size = opts.page_size or 100,
    max = opts.max,
    match = match,
    since = bounds.since,
    offset = 0,
    yielded = 0,
    stale = 0,
    pages = 0,
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

--- The stepping rule, for one page asked at `offset` with `limit` that
-- brought `n` runs and the page headers `page` (a table, possibly empty):
-- returns the offset of the next page, and true when paging ends after this
-- page.  Used by `feed` and by anything else that walks pages.
-- @tparam integer offset
-- @tparam integer limit
-- @tparam integer n
-- @tparam[opt] table page `runs.page`
function Pager.advance(offset, limit, n, page)
  page = page or {}
  local applied = page.limit
  if not (type(applied) == "number" and applied == floor(applied) and applied >= 1
          and applied <= limit) then
    applied = limit -- missing, negative, zero or past what was asked: ours
  end
  local nxt = offset + max(applied, n)
  local last
  if n == 0 or n > limit or nxt >= MAX_OFFSET then
    last = true -- empty; paging ignored (the whole list came); no further offset
  elseif page.next ~= nil then
    last = not page.next
  else
    last = n < applied
  end
  return nxt, last
end

--- Takes one fetched page (a runs table from sandbox_runs or
-- decode_sandbox_runs, with `.page` when it came from the server) and
-- returns the sequence of runs to deliver, in order.
function Pager:feed(runs)
  local out, n = {}, 0
  local asked_at = self.offset
  local nxt, last = Pager.advance(asked_at, self.size, #runs, runs.page)
  self.offset, self.finished = nxt, last
  self.pages = self.pages + 1
  local ws = runs.warnings
  if ws then
    local all = self.warnings
    for k = 1, #ws do
      local w = ws[k]
      w.offset = asked_at
      all[#all + 1] = w
    end
  end
  local seen, match, since, max_runs = self.seen, self.match, self.since, self.max
  local fresh = false
  for k = 1, #runs do
    if max_runs and self.yielded >= max_runs then self.finished = true break end
    local run = runs[k]
    local id = run.id
    if id == nil or not seen[id] then
      if id ~= nil then
        seen[id] = true
        fresh = true
      end
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
  -- a page with no new id: the server may repeat itself; twice in a row ends
  -- paging (once may be runs inserted meanwhile shifting old ones along)
  if fresh then
    self.stale = 0
  else
    self.stale = self.stale + 1
    if self.stale >= STALE_PAGES then self.finished = true end
  end
  if max_runs and self.yielded >= max_runs then self.finished = true end
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
