-- The content handler of spec/openresty/nginx.conf: calls nuon.resty against
-- the test API server as the query string says, and answers with the result
-- as JSON, for spec/openresty_spec.lua to check.
--
--   GET /ping                                   { instance, pid }
--   GET /call?op=OP&install=ID&...              { ok = true, ... } | { ok = false, err = {...} }
--
-- Client options (query): base = "tls" | a URL (default: the test server),
-- token, retries, timeout, connect_timeout, max_backoff, max_body, max_runs, user_agent,
-- verify_tls, strict_client, keepalive_timeout, proxy, env = 1 (no options:
-- NUON_* from the environment nginx passes on).
-- Operations: runs (limit, offset, page, strict), all and each (page_size,
-- max, status), many (ids = a,b,c; concurrency, limit), run (run, strict, known_type),
-- fleet (ids, concurrency, page_size, max: all_sandbox_runs_many), latest, wait (run), url,
-- tostring, closed, keepalive, badargs (argument errors and where they point).
-- luacheck: globals ngx
local cjson = require "cjson.safe"
local core = require "nuon.core"
local resty = require "nuon.resty"

cjson.encode_number_precision(14) -- the most Debian's lua-cjson allows
cjson.encode_sparse_array(true)

local M = {}
local settings = {}

function M.init(s)
  settings = s
end

local function num(v)
  return type(v) == "string" and tonumber(v) or nil
end

local function bool(v)
  if v == "true" or v == "1" then return true end
  if v == "false" or v == "0" then return false end
  return nil
end

local function plain_error(err)
  if type(err) ~= "table" then return { raised = tostring(err) } end
  local t = {}
  for k, v in pairs(err) do t[k] = v end
  t.tostring = tostring(err)
  t.is_nuon_error = getmetatable(err) == core.error_mt
  return t
end

local function ids_of(runs)
  local ids = {}
  for i = 1, #runs do ids[i] = runs[i].id end
  return ids
end

local function make_client(a)
  if a.env then return resty.new() end
  local base = a.base
  if base == "tls" then base = settings.tls_api elseif base == nil then base = settings.api end
  return resty.new{
    base_url = base, token = a.token or "nuon-test-token", org_id = "orgnuontestorg000000000001",
    retries = num(a.retries), timeout = num(a.timeout), connect_timeout = num(a.connect_timeout),
    max_backoff = num(a.max_backoff), max_body = num(a.max_body), user_agent = a.user_agent,
    verify_tls = bool(a.verify_tls), strict = bool(a.strict_client),
    keepalive_timeout = num(a.keepalive_timeout), proxy = a.proxy, max_runs = num(a.max_runs),
  }
end

local ops = {}

function ops.runs(c, a)
  local runs, err = c:sandbox_runs(a.install, {
    limit = num(a.limit), offset = num(a.offset), page = num(a.page), strict = bool(a.strict),
  })
  if not runs then return nil, err end
  local list = {}
  for i = 1, #runs do list[i] = runs[i] end
  return { runs = list, n = #runs, page = runs.page, warnings = runs.warnings }
end

local function page_opts(a)
  return { page_size = num(a.page_size), max = num(a.max), strict = bool(a.strict),
           where = a.status and { status = a.status } or nil }
end

function ops.all(c, a)
  local runs, err = c:all_sandbox_runs(a.install, page_opts(a))
  if not runs then return nil, err end
  return { ids = ids_of(runs), n = #runs, warnings = #runs.warnings }
end

function ops.each(c, a)
  local list = {}
  local ok, err = pcall(function()
    for run in c:each_sandbox_run(a.install, page_opts(a)) do list[#list + 1] = run end
  end)
  if not ok then return nil, err end
  return { ids = ids_of(list), n = #list }
end

function ops.many(c, a)
  local ids = {}
  for id in (a.ids or ""):gmatch("[^,]+") do ids[#ids + 1] = id end
  local results, err = c:sandbox_runs_many(ids, { concurrency = num(a.concurrency), limit = num(a.limit) })
  if not results then return nil, err end
  local out = {}
  for id, r in pairs(results) do
    out[id] = r.runs and { ids = ids_of(r.runs), page = r.runs.page } or { err = plain_error(r.err) }
  end
  return { results = out }
end

function ops.run(c, a)
  local run, err = c:sandbox_run(a.install, a.run, { strict = bool(a.strict),
    known_values = a.known_type and { runner_job_type = { a.known_type } } or nil })
  if not run then return nil, err end
  return { id = run.id, status = run.status, run_type = run.run_type, warnings = run.warnings,
    jobs = #(run.runner_jobs or {}), meta = core.meta(run) }
end

function ops.fleet(c, a)
  local ids = {}
  for id in (a.ids or ""):gmatch("[^,]+") do ids[#ids + 1] = id end
  local progress = {}
  local results, err = c:all_sandbox_runs_many(ids, {
    concurrency = num(a.concurrency), page_size = num(a.page_size), max = num(a.max),
    on_progress = function(p) progress[#progress + 1] = p end,
  })
  if not results then return nil, err end
  local out = {}
  for id, r in pairs(results) do
    out[id] = r.runs and { ids = ids_of(r.runs), n = #r.runs } or { err = plain_error(r.err) }
  end
  return { results = out, progress = progress }
end

function ops.latest(c, a)
  local run, err = c:latest_sandbox_run(a.install)
  if err then return nil, err end
  return { id = run and run.id }
end

function ops.wait(c, a)
  local run, err = c:wait_sandbox_run(a.install, a.run, { timeout = num(a.wait_timeout) or 5, interval = 0.1 })
  if not run then return nil, err end
  return { id = run.id, status = run.status }
end

function ops.url(c, a)
  return { url = c:url(a.install, { limit = num(a.limit), offset = num(a.offset), page = num(a.page) }) }
end

-- Programmer errors raise, blamed on the line that called the method (this
-- file): each message as { where = "handler.lua:N" | other, what = ... }.
function ops.badargs(c, a)
  local out = {}
  local calls = {
    function() c:sandbox_runs() end,
    function() c:sandbox_runs(a.install, { limt = 5 }) end,
    function() c:each_sandbox_run("") end,
    function() c:all_sandbox_runs(a.install, { page_size = 0 }) end,
    function() c:all_sandbox_runs(a.install, { where = { statuz = "x" } }) end,
    function() c:sandbox_runs_many({ a.install }, { concurrency = 1.5 }) end,
    function() resty.new{ keepalive_timeout = -1 } end,
    function() c:start_sandbox_runs(a.install) end,
  }
  for i, f in ipairs(calls) do
    local ok, msg = pcall(f)
    local where, what = tostring(msg):match("^(.-:%d+): (.*)$")
    out[i] = { ok = ok, where = where and where:match("[^/]*$") or "?", what = what or tostring(msg) }
  end
  return { calls = out }
end

function ops.tostring(c)
  local s = tostring(c)
  c:close()
  return { text = s, closed = tostring(c) }
end

function ops.closed(c, a)
  c:close()
  local runs, err = c:sandbox_runs(a.install)
  if runs then return { runs = #runs } end
  return nil, err
end

-- Two calls, then: is a connection to the test server waiting in nuon's pool?
function ops.keepalive(c, a)
  for _ = 1, 2 do
    local runs, err = c:sandbox_runs(a.install, { limit = 1 })
    if not runs then return nil, err end
  end
  local host, port = settings.api:match("^http://([^:/]+):(%d+)")
  local sock = ngx.socket.tcp()
  local ok, err = sock:connect(host, tonumber(port), { pool = "nuon http " .. host .. " " .. port .. " verify" })
  if not ok then return nil, err end
  local reused = sock:getreusedtimes()
  sock:close()
  return { reused = reused }
end

local function reply(t)
  local body, err = cjson.encode(t)
  if not body then
    ngx.status = 500
    body = cjson.encode({ ok = false, encode_error = err })
  end
  ngx.say(body)
end

function M.handle()
  local uri = ngx.var.uri
  if uri == "/ping" then return reply{ instance = settings.instance, pid = ngx.worker.pid() } end
  local a = ngx.req.get_uri_args(100)
  local op = ops[a.op]
  if not op then
    ngx.status = 404
    return reply{ ok = false, message = "unknown op" }
  end
  ngx.update_time()
  local t0 = ngx.now()
  local c = make_client(a)
  local res, err = op(c, a)
  ngx.update_time()
  if res then
    res.ok = true
  else
    res = { ok = false, err = plain_error(err) }
  end
  res.elapsed = ngx.now() - t0
  res.pid = ngx.worker.pid()
  return reply(res)
end

return M
