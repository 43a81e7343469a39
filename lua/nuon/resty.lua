--- nuon.resty: the nuon client for OpenResty (nginx with its Lua module).
--
-- The same methods, results and errors as the blocking client (`nuon.new`),
-- but the bytes go through nginx's cosockets (`ngx.socket.tcp`) and the waits
-- between retries through `ngx.sleep`: while a request waits on Nuon, the
-- nginx worker serves other requests.  The methods are `nuon.client`'s over
-- a cosocket handle (`nuon.cosocket` moves the bytes); the requests, which
-- outcomes to retry and after how long, and the results and errors come from
-- the C core's protocol (`core.protocol`, src/protocol.c), the rules the
-- libcurl transports follow.  Decoding a body is C work that does not yield.
--
--    local resty = require "nuon.resty"
--    local client = resty.new{ token = "...", org_id = "..." }   -- or NUON_* (see README)
--    local runs, err = client:sandbox_runs(install_id, { limit = 10 })
--
-- Usable wherever cosockets are: rewrite, access and content phases,
-- `ngx.timer.at` callbacks and light threads.  The module loads anywhere;
-- `new` raises outside nginx.  Forced by nginx: certificates are checked
-- against `lua_ssl_trusted_certificate` (not `ca_file`), host names need a
-- `resolver`, and `proxy` takes http:// proxies only.  Two more options:
-- `keepalive_timeout` (seconds a pooled connection may idle, 60; 0 closes
-- after each request) and `keepalive_pool` (connections per host and worker, 16).
-- @module nuon.resty
-- luacheck: read globals ngx
local core = require "nuon.core"
local config = require "nuon.config"
local args = require "nuon.args"
local errors = require "nuon.errors"
local wait = require "nuon.wait"
local Base = require "nuon.client"
local cosocket = require "nuon.cosocket"

local ngx = ngx -- nil outside nginx: the module still loads
local semaphore -- ngx.semaphore (lua-resty-core), required on first use
local type, pairs, setmetatable, format = type, pairs, setmetatable, string.format
local raise = errors.raise

local _M = { _VERSION = core.VERSION }
-- The client: nuon.client's methods (argument checks, paging, latest) over a
-- cosocket handle in place of the C one, and its own for many installs.
local Client = setmetatable({}, { __index = Base })
local mt = { __index = Client, __name = "nuon.resty.client" }
_M.Client = Client

-- Per handle: the connection settings, which hold the token (the request
-- head, core.protocol), out of every table a caller can reach; close() clears.
local private = setmetatable({}, { __mode = "k" })

-- The cosocket handle: the calls nuon.client makes of the C one.
local Handle = {}
local handle_mt = { __index = Handle }

function Handle:sandbox_runs(install_id, limit, offset, page, strict, known_values)
  local p = private[self]
  if not p then return nil, errors.closed() end
  return cosocket.fetch(p, p.protocol:path(install_id, limit, offset, page), strict, known_values)
end

function Handle:sandbox_run(install_id, run_id, strict, known_values)
  local p = private[self]
  if not p then return nil, errors.closed() end
  return cosocket.fetch(p, p.protocol:run_path(install_id, run_id), strict, known_values, true)
end

function Handle:url(install_id, limit, offset, page)
  return private[self].protocol:url(install_id, limit, offset, page)
end

function Handle:close()
  private[self] = nil
end

-- ---------------------------------------------------------------------------
-- Construction

-- The options of nuon.resty.new besides nuon.new's (kinds: nuon.args).
local RESTY_OPTS = { keepalive_timeout = "backoff", keepalive_pool = "positive" }

--- Creates a client for use inside nginx.  Takes every option of `nuon.new`
-- (resolved the same way: options, then NUON_* variables passed on by the
-- nginx `env` directive, then the config file) plus `keepalive_timeout` and
-- `keepalive_pool`.  Raises on a bad option, as `nuon.new` does.
-- @tparam[opt] table opts
-- @treturn nuon.resty.Client
function _M.new(opts)
  if type(ngx) ~= "table" or type(ngx.socket) ~= "table" then
    raise("resty.new", "needs nginx's lua module (ngx.socket.tcp); elsewhere use nuon.new")
  end
  if opts ~= nil and type(opts) ~= "table" then
    raise("resty.new", "options must be a table (got %s)", type(opts))
  end
  local general, own = {}, {}
  for k, v in pairs(opts or {}) do
    if RESTY_OPTS[k] then own[k] = v else general[k] = v end
  end
  args.opts("resty.new", own, RESTY_OPTS)
  local s = config.resolve(general, nil, "resty.new")

  local p = cosocket.open(s, own.keepalive_timeout, own.keepalive_pool)
  local handle = setmetatable({}, handle_mt)
  private[handle] = p
  return setmetatable({ _core = handle, base_url = s.base_url, org_id = s.org_id, strict = s.strict,
    known_values = s.known_values, page_size = 100 }, mt)
end

function mt.__tostring(self)
  if not self._core then return "nuon.resty.client (closed)" end
  return format("nuon.resty.client (%s, org %s)", self.base_url, self.org_id)
end
mt.__close = Base.close

-- ---------------------------------------------------------------------------
-- Methods: sandbox_runs, sandbox_run, url, each_sandbox_run,
-- all_sandbox_runs, latest_sandbox_run and close are nuon.client's.

-- Cosockets never block the worker: there is nothing to start.
for _, name in pairs{ "start_sandbox_runs", "start_sandbox_run", "start_all_sandbox_runs_many" } do
  Client[name] = function()
    raise(name, "not in nuon.resty, whose calls never block the nginx worker: call %s",
      (name:gsub("^start_", "")))
  end
end

-- Runs work(id) for each id in a light thread of its own, `concurrency`
-- requests in flight at most (an ngx.semaphore: `request` waits for a slot);
-- the calling thread waits for all.  A thread that raised is a bug: raised.
local function in_threads(ids, concurrency, work)
  semaphore = semaphore or require "ngx.semaphore"
  local slots = semaphore.new(concurrency)
  local function request(fn, ...)
    while not slots:wait(60) do end -- a wait that times out is only retried
    local runs, err = fn(...)
    slots:post(1)
    return runs, err
  end
  local threads = {}
  for k = 1, #ids do threads[k] = ngx.thread.spawn(work, ids[k], request) end
  for k = 1, #threads do
    local ok, err = ngx.thread.wait(threads[k])
    if not ok then
      for j = k + 1, #threads do ngx.thread.kill(threads[j]) end
      error(err, 0) -- where.fn or on_progress raised: a bug
    end
  end
end

--- `nuon.client`'s `sandbox_runs_many`, each install in a light thread of
-- its own, at most `concurrency` requests in flight.
function Client:sandbox_runs_many(install_ids, opts)
  local ids, o, h, kv = self:_many(install_ids, opts)
  if not ids then return nil, o end
  local results = {}
  in_threads(ids, o.concurrency or 8, function(id, request)
    local runs, err = request(h.sandbox_runs, h, id, o.limit, o.offset, nil, o.strict, kv)
    results[id] = runs and { runs = runs } or { err = err }
  end)
  return results
end

--- `nuon.client`'s `all_sandbox_runs_many`: a light thread per install pages
-- it, at most `concurrency` requests in flight, a freed slot going to the
-- next waiting page; `on_progress` runs in the light threads.
function Client:all_sandbox_runs_many(install_ids, opts)
  local fleet, h, kv = self:_fleet("all_sandbox_runs_many", install_ids, opts)
  if not fleet then return nil, h end
  in_threads(fleet.ids, fleet.concurrency, function(id, request)
    while true do
      local limit, offset = fleet:request(id)
      if not limit then return end
      fleet:done(id, request(h.sandbox_runs, h, id, limit, offset, nil, fleet.strict, kv))
    end
  end)
  return fleet.results
end

--- Polls a run until it reaches a final status (see nuon.wait), sleeping
-- with `ngx.sleep` and reading the clock with `ngx.now` unless `opts.sleep`
-- and `opts.clock` say otherwise.
function Client:wait_sandbox_run(install_id, run_id, opts)
  if opts ~= nil and type(opts) ~= "table" then
    raise("wait_sandbox_run", "options must be a table (got %s)", type(opts))
  end
  local o = { sleep = ngx.sleep, clock = cosocket.now }
  for k, v in pairs(opts or {}) do o[k] = v end
  -- a tail call: wait's argument errors then blame the caller's line
  return wait.wait_sandbox_run(self, install_id, run_id, o)
end

return _M
