--- The client object: one request, pagination and many installs.
-- @classmod nuon.Client
local core = require "nuon.core"
local config = require "nuon.config"
local Pager = require "nuon.pager"
local args = require "nuon.args"
local errors = require "nuon.errors"
local Fleet = require "nuon.fleet"

local setmetatable = setmetatable
local min, max = math.min, math.max

local Client = {}
local mt = { __index = Client, __name = "nuon.client" }

--- Creates a client (see `nuon.new`).
-- @static
-- @tparam[opt] table opts
function Client.new(opts)
  local s = config.resolve(opts)
  local handle = core.new_client{
    base_url = s.base_url, token = s.token, org_id = s.org_id,
    timeout = s.timeout, connect_timeout = s.connect_timeout,
    retries = s.retries, max_backoff = s.max_backoff, strict = s.strict,
    verify_tls = s.verify_tls, ca_file = s.ca_file, proxy = s.proxy,
    user_agent = s.user_agent, max_body = s.max_body, compress = s.compress,
    max_runs = s.max_runs,
  }
  -- the token stays inside the C handle: nothing here can print it
  return setmetatable({
    _core = handle,
    base_url = s.base_url,
    org_id = s.org_id,
    strict = s.strict,
    known_values = s.known_values,
    page_size = 100,
  }, mt)
end

local known = args.known_values

function mt.__tostring(self)
  if self._core == nil then return "nuon.client (closed)" end
  return ("nuon.client (%s, org %s)"):format(self.base_url, self.org_id)
end

--- Frees the connection.  Safe twice; later calls return `nil, err`.
function Client:close()
  local h = self._core
  self._core = nil
  if h then h:close() end
end
mt.__close = Client.close

-- The methods of one request on the C handle.  Each checks its arguments
-- (raising as `fname`), then calls the handle's `call`: nil, err when the
-- client is closed.  A page's methods take (install_id, opts) ...
local function page_request(fname, call)
  return function(self, install_id, opts)
    args.install_id(fname, install_id)
    opts = args.opts(fname, opts, args.RUNS)
    local h = self._core
    if not h then return nil, errors.closed() end
    return h[call](h, install_id, opts.limit, opts.offset, opts.page, opts.strict,
      known(self.known_values, opts.known_values))
  end
end

-- ... and one run's (install_id, run_id, opts).
local function run_request(fname, call)
  return function(self, install_id, run_id, opts)
    args.install_id(fname, install_id)
    args.run_id(fname, run_id)
    opts = args.opts(fname, opts, args.RUN)
    if not self._core then return nil, errors.closed() end
    return self._core[call](self._core, install_id, run_id, opts.strict,
      known(self.known_values, opts.known_values))
  end
end

--- Lists one page of an install's sandbox runs.
-- @function Client:sandbox_runs
-- @tparam string install_id
-- @tparam[opt] table opts `limit`, `offset`, `page`, `strict`, `known_values`
-- @return runs (with `.page` and `.warnings`) or nil, err
Client.sandbox_runs = page_request("sandbox_runs", "sandbox_runs")

--- Starts a request without blocking, for an event loop to drive (see
-- nuon.nvim and the README): `req:sockets()`, `req:timeout()`,
-- `req:step(fd, events)`, `req:done()`, `req:result()`.
-- @function Client:start_sandbox_runs
-- @tparam string install_id
-- @tparam[opt] table opts `limit`, `offset`, `page`, `strict`
-- @return a nuon.request, or nil, err when the client is closed
Client.start_sandbox_runs = page_request("start_sandbox_runs", "start")

--- One run: `GET {base_url}/v1/installs/{install_id}/sandbox-runs/{run_id}`
-- (today's server; the install id is not checked by it).  A run that does not
-- exist is `nil, err` with `err.kind == "http"` and `err.status == 404`.
-- @function Client:sandbox_run
-- @tparam string install_id
-- @tparam string run_id
-- @tparam[opt] table opts `strict`, `known_values`
-- @return the run (with `.warnings`, paths starting at the run:
--   `.runner_jobs[1].status`; `nuon.meta(run).api_version`), or nil, err
Client.sandbox_run = run_request("sandbox_run", "sandbox_run")

--- Starts the request of `sandbox_run` without blocking, for an event loop
-- to drive (as `start_sandbox_runs`); `req:result()` gives run | nil, err.
-- @function Client:start_sandbox_run
-- @tparam string install_id
-- @tparam string run_id
-- @tparam[opt] table opts `strict`, `known_values`
-- @return a nuon.request, or nil, err when the client is closed
Client.start_sandbox_run = run_request("start_sandbox_run", "start_run")

--- The request URL of `sandbox_runs(install_id, opts)` (no request is made),
-- built by the C core as every request's is.
-- @tparam string install_id
-- @tparam[opt] table opts `limit`, `offset`, `page`
-- @treturn string
function Client:url(install_id, opts)
  args.install_id("url", install_id)
  opts = args.opts("url", opts, args.RUNS)
  local h = self._core
  if not h then errors.raise("url", "the client is closed") end
  return h:url(install_id, opts.limit, opts.offset, opts.page)
end

-- Pages through an install's runs: returns next(), which gives a run, nil
-- when done, or false, err when a page failed.
local function pages(self, fname, install_id, opts)
  args.install_id(fname, install_id)
  opts = args.opts(fname, opts, args.PAGES)
  local p = Pager.new({ page_size = opts.page_size or self.page_size, where = opts.where,
                        max = opts.max })
  local strict, kv = opts.strict, known(self.known_values, opts.known_values)
  local next_run = p:runs(function(limit, offset)
    local h = self._core
    if not h then return nil, errors.closed() end
    return h:sandbox_runs(install_id, limit, offset, nil, strict, kv)
  end)
  return next_run, p.warnings
end

--- Iterates over every run of an install, following pages.  Raises the
-- error object if a page fails mid-way (wrap the loop in pcall).
-- @tparam string install_id
-- @tparam[opt] table opts `page_size` (100), `where` (see nuon.filter), `max`, `strict`
function Client:each_sandbox_run(install_id, opts)
  local next_run = pages(self, "each_sandbox_run", install_id, opts)
  return Pager.iterate(next_run)
end

--- Collects every run of an install, following pages.
-- The result has `.warnings`, each also naming its page `offset`.
-- @tparam string install_id
-- @tparam[opt] table opts as for `each_sandbox_run`
-- @return a sequence of runs, or nil, err
function Client:all_sandbox_runs(install_id, opts)
  return Pager.collect(pages(self, "all_sandbox_runs", install_id, opts))
end

--- Lists one page of runs for each of many installs, concurrently.
-- `results[id]` is `{ runs = ... }` or `{ err = ... }`; the call itself
-- fails only when the client is closed.
-- @tparam {string,...} install_ids
-- @tparam[opt] table opts `concurrency` (8, at most 256), `limit`, `offset`, `strict`
-- @return results, or nil, err
function Client:sandbox_runs_many(install_ids, opts)
  local ids, o, h, kv = self:_many(install_ids, opts)
  if not ids then return nil, o end
  local results, k = {}, 0
  if #ids == 0 then return results end
  h:batch(min(o.concurrency or 8, #ids), function()
    k = k + 1
    if ids[k] == nil then return nil end
    return ids[k], ids[k], o.limit, o.offset
  end, function(id, runs, err)
    results[id] = runs and { runs = runs } or { err = err }
  end, o.strict, kv)
  return results
end

-- What every transport's `sandbox_runs_many` starts with: the arguments
-- checked, the ids without repeats (in order), the options, the handle and
-- the known_values; or nil, err when the client is closed.
function Client:_many(install_ids, opts)
  args.install_ids("sandbox_runs_many", install_ids)
  opts = args.opts("sandbox_runs_many", opts, args.MANY)
  local h = self._core
  if not h then return nil, errors.closed() end
  local ids, seen = {}, {}
  for k = 1, #install_ids do
    local id = install_ids[k]
    if not seen[id] then
      seen[id] = true
      ids[#ids + 1] = id
    end
  end
  return ids, opts, h, known(self.known_values, opts.known_values)
end

-- The same for `all_sandbox_runs_many` (and its start_ form): the fleet,
-- the handle and the known_values, or nil, err.
function Client:_fleet(fname, install_ids, opts)
  local fleet = Fleet.new(fname, install_ids, opts)
  local h = self._core
  if not h then return nil, errors.closed() end
  return fleet, h, known(self.known_values, fleet.known_values)
end

--- Every run of each of many installs, the pages of different installs in
-- flight together (on one thread, libcurl's multi interface; over HTTP/2 on
-- one connection).  Each install is paged as `all_sandbox_runs` pages it;
-- one failing (after its retries) never stops the others.
-- `results[id]` is `{ runs = ... }` (with `.warnings`) or `{ err = ... }`.
-- @tparam {string,...} install_ids
-- @tparam[opt] table opts `concurrency` (8, at most 256: requests in flight
--   across installs), `page_size` (100), `where`, `max`, `strict`,
--   `on_progress` (function({ installs_done, installs_total, pages, runs }),
--   after every page, at most five times a second above 20 installs, and
--   once at the end)
-- @return results, or nil, err when the client is closed
function Client:all_sandbox_runs_many(install_ids, opts)
  local fleet, h, kv = self:_fleet("all_sandbox_runs_many", install_ids, opts)
  if not fleet then return nil, h end
  if fleet:finished() then return fleet.results end
  h:batch(min(fleet.concurrency, #fleet.ids), function() return fleet:next() end,
    function(key, runs, err) fleet:done(key, runs, err) end, fleet.strict, kv)
  return fleet.results
end

--- `all_sandbox_runs_many` for an event loop: starts it without blocking
-- and returns a `nuon.batch` driven like a request (`sockets()`,
-- `timeout()`, `step(fd, events)`, `done()`; `perform()` blocks), on its
-- own multi handle (HTTP/2 multiplexing included); `result()` gives the
-- results once `done()`.  `on_progress` runs inside `step`.
-- @tparam {string,...} install_ids
-- @tparam[opt] table opts as for `all_sandbox_runs_many`
-- @return a nuon.batch, or nil, err when the client is closed
function Client:start_all_sandbox_runs_many(install_ids, opts)
  local fleet, h, kv = self:_fleet("start_all_sandbox_runs_many", install_ids, opts)
  if not fleet then return nil, h end
  return h:start_batch(min(fleet.concurrency, max(#fleet.ids, 1)), function() return fleet:next() end,
    function(key, runs, err) fleet:done(key, runs, err) end, fleet.strict, kv,
    function() return fleet.results end)
end

--- The newest run of an install that matches `where`
-- (`nuon.wait.latest_sandbox_run`).
-- @function Client:latest_sandbox_run
-- @tparam string install_id
-- @tparam[opt] table where as for `nuon.filter`
-- @return the run; `nil` (and no error) when no run matches; or nil, err
Client.latest_sandbox_run = require("nuon.wait").latest_sandbox_run
--- Polls a run until it reaches a final status, calling `on_change` on each
-- status change (`nuon.wait.wait_sandbox_run`).
-- @function Client:wait_sandbox_run
-- @tparam string install_id
-- @tparam string run_id
-- @tparam[opt] table opts `timeout` (3600), `interval` (5), `max_interval`,
--   `on_change`, `final`, `search` (100), `sleep`, `clock`
-- @return the run in its final status, or nil, err (`kind = "timeout"` when it gives up)
Client.wait_sandbox_run = require("nuon.wait").wait_sandbox_run

return Client
