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
local wait = require "nuon.wait"
local args = require "nuon.args"
local raise = require("nuon.errors").raise

local type, pcall, pairs = type, pcall, pairs
local floor, min = math.floor, math.min

local M = {}

-- Arguments are checked here, under this module's names ("nvim.sandbox_runs",
-- see nuon.errors), before the client's methods check them again.
local function uv(fname)
  local vim = rawget(_G, "vim")
  if not (vim and vim.loop) then raise(fname, "needs Neovim (vim.loop)") end
  return vim, vim.loop
end

-- Checks what the functions here take (raising as `fname`): the client,
-- an install id (a sequence of them for a fleet's `spec`), the options
-- against `spec` (nuon.args), the callback; and that this is Neovim.
-- Returns the options ({} for nil), vim and vim.loop.
local function check(fname, client, install_id, opts, spec, callback)
  args.client(fname, client)
  if spec == args.FLEET then
    args.install_ids(fname, install_id)
  else
    args.install_id(fname, install_id)
  end
  opts = args.opts(fname, opts, spec)
  args.callback(fname, callback)
  local vim, loop = uv(fname)
  return opts, vim, loop
end

--- Drives a started request (`client:start_sandbox_runs`) on the event loop.
-- @param req a nuon.request
-- @tparam function callback called once with (runs) or (nil, err), on the main loop
-- @return a handle with `cancel()`
function M.drive(req, callback)
  args.callback("nvim.drive", callback)
  local vim, loop = uv("nvim.drive")
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

-- Drives a request (or batch) a client method started, or hands its
-- failure to start (a closed client) to the callback on the main loop.
local function drive_started(req, err, callback)
  if not req then
    local vim = rawget(_G, "vim")
    vim.schedule(function() callback(nil, err) end)
    return { cancel = function() end }
  end
  return M.drive(req, callback)
end

--- One page of an install's runs, without blocking.
-- @tparam nuon.Client client
-- @tparam string install_id
-- @tparam[opt] table opts as for `client:sandbox_runs`
-- @tparam function callback (runs) or (nil, err), on the main loop
function M.sandbox_runs(client, install_id, opts, callback)
  check("nvim.sandbox_runs", client, install_id, opts, args.RUNS, callback)
  local req, err = client:start_sandbox_runs(install_id, opts)
  return drive_started(req, err, callback)
end

--- One run (`client:sandbox_run`), without blocking.
-- @tparam nuon.Client client
-- @tparam string install_id
-- @tparam string run_id
-- @tparam[opt] table opts as for `client:sandbox_run`
-- @tparam function callback (run) or (nil, err), on the main loop
function M.sandbox_run(client, install_id, run_id, opts, callback)
  args.run_id("nvim.sandbox_run", run_id)
  check("nvim.sandbox_run", client, install_id, opts, args.RUN, callback)
  local req, err = client:start_sandbox_run(install_id, run_id, opts)
  return drive_started(req, err, callback)
end

--- Polls a run until it reaches a final status, without blocking: as
-- `client:wait_sandbox_run` (the same options but `sleep`; the same rules,
-- from `nuon.wait`), one `sandbox_run` request a poll, the waits between
-- polls on a libuv timer.  Against a server without the single-run route it
-- looks through the `search` newest runs instead.
-- @tparam nuon.Client client
-- @tparam string install_id
-- @tparam string run_id
-- @tparam[opt] table opts `timeout`, `interval`, `max_interval`, `on_change`,
--   `final`, `search`, `clock` (default: libuv's monotonic clock)
-- @tparam function callback (run) or (nil, err), on the main loop
-- @return a handle with `cancel()`
function M.wait_sandbox_run(client, install_id, run_id, opts, callback)
  local fname = "nvim.wait_sandbox_run"
  if opts ~= nil and type(opts) ~= "table" then
    raise(fname, "options must be a table (got %s)", type(opts))
  end
  if opts and opts.sleep ~= nil then
    raise(fname, "option 'sleep' does not apply in nuon.nvim (it waits on a timer)")
  end
  local vim, loop = uv(fname)
  local o = { clock = function() return loop.hrtime() / 1e9 end }
  for k, v in pairs(opts or {}) do o[k] = v end
  local st = wait.new_state(fname, client, install_id, run_id, o)
  args.callback(fname, callback)
  local timer, current, over = loop.new_timer(), nil, false
  local handle = {}

  local function finish(run, err)
    if over then return end
    over = true
    timer:stop()
    timer:close()
    vim.schedule(function() callback(run, err) end)
  end

  local poll
  local function fed(run, err)
    if over then return end
    local ok, done, a, b = pcall(wait.feed, st, run, err)
    if not ok then return finish(nil, done) end -- on_change or final raised
    if done then return finish(a, b) end
    timer:start(floor(a * 1000 + 0.5), 0, function() vim.schedule(poll) end)
  end

  local function scan()
    current = M.all_sandbox_runs(client, install_id, { page_size = min(100, st.search), max = st.search },
      function(runs, err)
        if not runs then return fed(nil, err) end
        for i = 1, #runs do
          if runs[i].id == run_id then return fed(runs[i]) end
        end
        fed(nil)
      end)
  end

  function poll()
    if over then return end
    if st.scan then return scan() end
    current = M.sandbox_run(client, install_id, run_id, nil, function(run, err)
      if run or not wait.not_found(err) then return fed(run, err) end
      if not wait.route_missing(err) then return fed(nil) end -- no such run (yet)
      st.scan = true
      scan()
    end)
  end

  function handle.cancel()
    if current then current.cancel() end
    if not over then
      over = true
      timer:stop()
      timer:close()
    end
  end
  wait.start(st)
  poll()
  return handle
end

--- Every run of an install, page after page, without blocking.
-- @tparam nuon.Client client
-- @tparam string install_id
-- @tparam[opt] table opts `page_size`, `where`, `max`, `strict`
-- @tparam function callback (runs) or (nil, err), on the main loop; `runs.warnings`
-- as for `client:all_sandbox_runs`
function M.all_sandbox_runs(client, install_id, opts, callback)
  opts = check("nvim.all_sandbox_runs", client, install_id, opts, args.PAGES, callback)
  local p = Pager.new({ page_size = opts.page_size or 100, where = opts.where, max = opts.max })
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
      { limit = limit, offset = offset, strict = opts.strict, known_values = opts.known_values },
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
  local _, vim = check("nvim.all_sandbox_runs_many", client, install_ids, opts, args.FLEET, callback)
  -- step() runs in libuv callbacks, where most of Neovim's API is off
  -- limits: progress goes to the main loop, as the callback does
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  local on_progress = o.on_progress
  if on_progress ~= nil then
    o.on_progress = function(p) vim.schedule(function() on_progress(p) end) end
  end
  local req, err = client:start_all_sandbox_runs_many(install_ids, o)
  return drive_started(req, err, callback)
end

return M
