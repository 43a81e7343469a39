--- Neovim integration: requests driven by `vim.loop` (libuv), so the editor
-- never freezes while Nuon answers.  Callbacks run on the main loop (through
-- `vim.schedule`), where every Neovim API may be used.
--
--    local nvim = require "nuon.nvim"
--    nvim.sandbox_runs(client, install_id, { limit = 10 }, function(runs, err)
--      if not runs then vim.notify(tostring(err), vim.log.levels.ERROR) return end
--      vim.notify(("%d runs"):format(#runs))
--    end)
--
-- @module nuon.nvim
local Pager = require "nuon.pager"
local Fleet = require "nuon.fleet"

local pairs, floor = pairs, math.floor

local M = {}

local function uv()
  local vim = rawget(_G, "vim")
  if not (vim and vim.loop) then error("nuon.nvim: needs Neovim (vim.loop)", 3) end
  return vim, vim.loop
end

--- Drives a started request (`client:start_sandbox_runs`) on the event loop.
-- @param req a nuon.request
-- @tparam function callback called once with (runs) or (nil, err), on the main loop
-- @return a handle with `cancel()`
function M.drive(req, callback)
  local vim, loop = uv()
  local polls, timer, over = {}, loop.new_timer(), false

  local function finish(cancelled)
    if over then return end
    over = true
    for fd, p in pairs(polls) do
      p:stop()
      p:close()
      polls[fd] = nil
    end
    timer:stop()
    timer:close()
    local runs, err
    if not cancelled then runs, err = req:result() end
    req:close()
    if not cancelled then
      vim.schedule(function() callback(runs, err) end)
    end
  end

  local sync
  local function on_timer()
    req:step()
    sync()
  end

  -- Watches exactly the sockets libcurl wants now, and its timer.
  function sync()
    if over then return end
    if req:done() then return finish(false) end
    local want = req:sockets()
    for fd, p in pairs(polls) do
      if not want[fd] then
        p:stop()
        p:close()
        polls[fd] = nil
      end
    end
    for fd, events in pairs(want) do
      local p = polls[fd]
      if not p then
        p = loop.new_socket_poll(fd)
        polls[fd] = p
      end
      p:start(events, function(_, ready)
        if over then return end
        req:step(fd, ready or events)
        sync()
      end)
    end
    timer:stop()
    local t = req:timeout()
    if t then timer:start(floor(t * 1000 + 0.5), 0, on_timer) end
  end

  sync()
  return { cancel = function() finish(true) end }
end

--- One page of an install's runs, without blocking.
-- @tparam nuon.Client client
-- @tparam string install_id
-- @tparam[opt] table opts as for `client:sandbox_runs`
-- @tparam function callback (runs) or (nil, err), on the main loop
function M.sandbox_runs(client, install_id, opts, callback)
  local req, err = client:start_sandbox_runs(install_id, opts)
  if not req then
    local vim = uv()
    vim.schedule(function() callback(nil, err) end)
    return { cancel = function() end }
  end
  return M.drive(req, callback)
end

--- Every run of an install, page after page, without blocking.
-- @tparam nuon.Client client
-- @tparam string install_id
-- @tparam[opt] table opts `page_size`, `where`, `max`, `strict`
-- @tparam function callback (runs) or (nil, err), on the main loop; `runs.warnings`
-- as for `client:all_sandbox_runs`
function M.all_sandbox_runs(client, install_id, opts, callback)
  opts = opts or {}
  local p = Pager.new({ page_size = opts.page_size or 100, where = opts.where, max = opts.max }, 3)
  local all, current = {}, nil
  local handle = {}
  local cancelled = false

  local function fetch()
    local limit, offset = p:request()
    if not limit then
      all.warnings = p.warnings
      return callback(all)
    end
    current = M.sandbox_runs(client, install_id,
      { limit = limit, offset = offset, strict = opts.strict },
      function(runs, err)
        if cancelled then return end
        if not runs then return callback(nil, err) end
        local got = p:feed(runs)
        for k = 1, #got do all[#all + 1] = got[k] end
        fetch()
      end)
  end
  function handle.cancel()
    cancelled = true
    if current then current.cancel() end
  end
  fetch()
  return handle
end

--- Every run of each of many installs, without blocking: up to
-- `concurrency` page requests in flight on the event loop, a freed slot
-- going to the next waiting page (each install paged as `all_sandbox_runs`
-- pages it).  `on_progress` and `callback` run on the main loop.
-- @tparam nuon.Client client
-- @tparam {string,...} install_ids
-- @tparam[opt] table opts as for `client:all_sandbox_runs_many`
-- @tparam function callback (results), `results[id] = { runs = ... }` or
--   `{ err = ... }`, on the main loop
-- @return a handle with `cancel()`
function M.all_sandbox_runs_many(client, install_ids, opts, callback)
  local fleet = Fleet.new("nvim.all_sandbox_runs_many", install_ids, opts, 2)
  local vim = uv()
  local inflight, handles, cancelled, over = 0, {}, false, false
  local function pump()
    while not cancelled and inflight < fleet.concurrency do
      local key, id, limit, offset = fleet:next()
      if not key then break end
      inflight = inflight + 1
      handles[key] = M.sandbox_runs(client, id, { limit = limit, offset = offset, strict = fleet.strict },
        function(runs, err)
          handles[key] = nil
          inflight = inflight - 1
          if cancelled then return end
          fleet:done(key, runs, err)
          pump()
        end)
    end
    if inflight == 0 and fleet:finished() and not over and not cancelled then
      over = true
      callback(fleet.results)
    end
  end
  vim.schedule(pump) -- the callback never runs before this returns
  return { cancel = function()
    cancelled = true
    for key, h in pairs(handles) do
      handles[key] = nil
      h.cancel()
    end
  end }
end

return M
