--- Every page of many installs: which page to fetch next, and what the
-- answers add up to, independent of the transport.
--
-- Each install has its own `nuon.pager` (so it is paged exactly as
-- `all_sandbox_runs` pages it: `where`, early stop at `where.since`, `max`,
-- no run id twice, paging that ends against any server).  A transport asks
-- `fleet:next()` for a request whenever it has a free slot, fetches that page
-- however it can, and hands the answer to `fleet:done(key, runs, err)`;
-- `fleet:finished()` says when every install is done.  One install failing
-- (after the transport's retries) ends only that install.  The blocking
-- client drives it on libcurl's multi interface, `nuon.nvim` on the event
-- loop and `nuon.resty` from one light thread per install.
--
-- `fleet.results[id]` is `{ runs = ... }` (a sequence with `.warnings`, as
-- `all_sandbox_runs` returns) or `{ err = ... }`.
-- @module nuon.fleet
local Pager = require "nuon.pager"
local args = require "nuon.args"
local core = require "nuon.core"

local setmetatable = setmetatable

local PROGRESS_EVERY = 0.2   -- seconds between progress calls of a large fleet
local SMALL_FLEET = 20       -- installs: at most this many, progress after every page

local Fleet = {}
local mt = { __index = Fleet }

--- The options of `all_sandbox_runs_many` (`nuon.args.FLEET`).
Fleet.OPTIONS = args.FLEET

--- Checks the arguments of `fname` (raising, see nuon.errors) and makes a
-- fleet.
-- @tparam string fname the method, for messages
-- @param install_ids a sequence of install ids (repeats are fetched once)
-- @tparam[opt] table opts `concurrency` (8, at most 256), `page_size` (100),
--   `where`, `max`, `strict`, `known_values`, `on_progress`
-- @treturn nuon.fleet
function Fleet.new(fname, install_ids, opts)
  args.install_ids(fname, install_ids)
  opts = args.opts(fname, opts, args.FLEET)
  local ids, queue, pagers, results = {}, {}, {}, {}
  for k = 1, #install_ids do
    local id = install_ids[k]
    if not pagers[id] then
      ids[#ids + 1] = id
      queue[#queue + 1] = id
      pagers[id] = Pager.new({ page_size = opts.page_size, where = opts.where, max = opts.max })
      results[id] = false -- not done yet
    end
  end
  local self = setmetatable({
    ids = ids,
    queue = queue, head = 1, tail = #ids, -- installs waiting for a slot, first in first out
    pagers = pagers,
    runs = {},                 -- id -> the runs accepted so far
    results = results,
    concurrency = opts.concurrency or 8,
    strict = opts.strict,
    known_values = opts.known_values,
    on_progress = opts.on_progress,
    progress = { installs_done = 0, installs_total = #ids, pages = 0, runs = 0 },
    last_progress = -1,
  }, mt)
  for k = 1, #ids do
    local id = ids[k]
    self.runs[id] = {}
    if pagers[id].finished then self:finish(id, nil) end -- max = 0
  end
  return self
end

--- The next request for a free slot: key, install_id, limit, offset; or nil
-- when no install is waiting (more may come once answers arrive).
function Fleet:next()
  local queue = self.queue
  while self.head <= self.tail do
    local id = queue[self.head]
    queue[self.head] = nil
    self.head = self.head + 1
    local limit, offset = self:request(id)
    if limit then return id, id, limit, offset end
  end
  return nil
end

--- The next page of one install (for transports that page each install on
-- its own): limit, offset; or nil when that install is done.
function Fleet:request(id)
  if self.results[id] then return nil end
  return self.pagers[id]:request()
end

-- Records install id as done: with its runs, or with err.
function Fleet:finish(id, err)
  if err then
    self.results[id] = { err = err }
  else
    local all = self.runs[id]
    all.warnings = self.pagers[id].warnings
    self.results[id] = { runs = all }
  end
  self.runs[id] = nil
  self.pagers[id] = nil
  local p = self.progress
  p.installs_done = p.installs_done + 1
end

--- Takes the answer to a request: runs (as `sandbox_runs` returns them) or
-- nil, err.  Queues the install's next page, or finishes the install.
function Fleet:done(key, runs, err)
  local id = key
  local p = self.progress
  p.pages = p.pages + 1
  if not runs then
    self:finish(id, err)
  else
    local pager = self.pagers[id]
    local got, all = pager:feed(runs), self.runs[id]
    local n = #all
    for k = 1, #got do all[n + k] = got[k] end
    p.runs = p.runs + #got
    if pager.finished then
      self:finish(id, nil)
    else
      self.tail = self.tail + 1
      self.queue[self.tail] = id
    end
  end
  self:report()
end

--- Calls `on_progress` with a copy of the counts: after every page for a
-- small fleet, at most every 0.2 s for a large one, and always at the end.
function Fleet:report()
  local f = self.on_progress
  if not f then return end
  local p = self.progress
  local last = p.installs_done == p.installs_total
  if not last and p.installs_total > SMALL_FLEET then
    local now = core.now()
    if now - self.last_progress < PROGRESS_EVERY then return end
    self.last_progress = now
  end
  f({ installs_done = p.installs_done, installs_total = p.installs_total, pages = p.pages,
      runs = p.runs })
end

--- Whether every install is done.
function Fleet:finished()
  return self.progress.installs_done == self.progress.installs_total
end

return Fleet
