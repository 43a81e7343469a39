--- The client object: one request, pagination and many installs.
-- @classmod nuon.Client
local core = require "nuon.core"
local config = require "nuon.config"
local Pager = require "nuon.pager"

local type, error, setmetatable, tostring = type, error, setmetatable, tostring
local floor = math.floor

local Client = {}
local mt = { __index = Client, __name = "nuon.client" }

local function is_int(v)
  return type(v) == "number" and v == floor(v) and v > -2^53 and v < 2^53
end

local function check_install_id(fname, id)
  if type(id) ~= "string" or id == "" then
    error(("nuon: %s: install_id must be a non-empty string (got %s)"):format(
      fname, type(id) == "string" and "an empty string" or type(id)), 3)
  end
end

local function check_opts(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("nuon: %s: options must be a table (got %s)"):format(fname, type(opts)), 3)
  end
  for k, v in pairs(opts) do
    local want = allowed[k]
    if not want then
      error(("nuon: %s: unknown option '%s'"):format(fname, tostring(k)), 3)
    end
    if want == "count" and not (is_int(v) and v >= 0) then
      error(("nuon: %s: option '%s' must be a non-negative integer"):format(fname, k), 3)
    elseif want == "positive" and not (is_int(v) and v > 0) then
      error(("nuon: %s: option '%s' must be a positive integer"):format(fname, k), 3)
    elseif want == "boolean" and type(v) ~= "boolean" then
      error(("nuon: %s: option '%s' must be a boolean"):format(fname, k), 3)
    elseif want == "table" and type(v) ~= "table" then
      error(("nuon: %s: option '%s' must be a table"):format(fname, k), 3)
    end
  end
  return opts
end

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
  }
  -- the token stays inside the C handle: nothing here can print it
  return setmetatable({
    _core = handle,
    base_url = s.base_url,
    org_id = s.org_id,
    strict = s.strict,
    page_size = 100,
  }, mt)
end

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

local closed_err = setmetatable({ kind = "config", message = "the client is closed", retryable = false },
  core.error_mt)

local RUNS_OPTS = { limit = "count", offset = "count", page = "count", strict = "boolean" }

--- Lists one page of an install's sandbox runs.
-- @tparam string install_id
-- @tparam[opt] table opts `limit`, `offset`, `page`, `strict`
-- @return runs (with `.page` and `.warnings`) or nil, err
function Client:sandbox_runs(install_id, opts)
  check_install_id("sandbox_runs", install_id)
  opts = check_opts("sandbox_runs", opts, RUNS_OPTS)
  local h = self._core
  if not h then return nil, closed_err end
  return h:sandbox_runs(install_id, opts.limit, opts.offset, opts.page, opts.strict)
end

local PAGE_OPTS = { page_size = "positive", where = "table", max = "count", strict = "boolean" }

-- Pages through an install's runs: returns next(), which gives a run, nil
-- when done, or false, err when a page failed.
local function pages(self, fname, install_id, opts)
  check_install_id(fname, install_id)
  opts = check_opts(fname, opts, PAGE_OPTS)
  local p = Pager.new({ page_size = opts.page_size or self.page_size, where = opts.where,
                        max = opts.max }, 4)
  local strict = opts.strict
  local next_run = p:runs(function(limit, offset)
    local h = self._core
    if not h then return nil, closed_err end
    return h:sandbox_runs(install_id, limit, offset, nil, strict)
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

--- Starts a request without blocking, for an event loop to drive (see
-- nuon.nvim and the README): `req:sockets()`, `req:timeout()`,
-- `req:step(fd, events)`, `req:done()`, `req:result()`.
-- @tparam string install_id
-- @tparam[opt] table opts `limit`, `offset`, `page`, `strict`
-- @return a nuon.request, or nil, err when the client is closed
function Client:start_sandbox_runs(install_id, opts)
  check_install_id("start_sandbox_runs", install_id)
  opts = check_opts("start_sandbox_runs", opts, RUNS_OPTS)
  local h = self._core
  if not h then return nil, closed_err end
  return h:start(install_id, opts.limit, opts.offset, opts.page, opts.strict)
end

local MANY_OPTS = { concurrency = "positive", limit = "count", offset = "count", strict = "boolean" }

--- Lists one page of runs for each of many installs, concurrently.
-- `results[id]` is `{ runs = ... }` or `{ err = ... }`; the call itself
-- fails only when the client is closed.
-- @tparam {string,...} install_ids
-- @tparam[opt] table opts `concurrency` (8, at most 256), `limit`, `offset`, `strict`
-- @return results, or nil, err
function Client:sandbox_runs_many(install_ids, opts)
  if type(install_ids) ~= "table" then
    error(("nuon: sandbox_runs_many: install_ids must be a sequence (got %s)"):format(type(install_ids)), 2)
  end
  for k = 1, #install_ids do check_install_id("sandbox_runs_many", install_ids[k]) end
  opts = check_opts("sandbox_runs_many", opts, MANY_OPTS)
  if opts.concurrency and opts.concurrency > 256 then
    error("nuon: sandbox_runs_many: option 'concurrency' must be at most 256", 2)
  end
  local h = self._core
  if not h then return nil, closed_err end
  return h:sandbox_runs_many(install_ids, opts.concurrency or 8, opts.limit, opts.offset, opts.strict)
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
