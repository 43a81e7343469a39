--- The content handler of examples/openresty/nginx.conf:
--   GET /runs/<install_id>[?limit=N&offset=N&page=N | ?all=1]
-- answers with a summary of the install's sandbox runs as JSON, fetched with
-- nuon.resty: while Nuon answers, the worker serves other requests.
local cjson = require "cjson.safe"
local resty = require "nuon.resty"

local _M = {}

-- One client per worker, made on first use (not in init_by_lua: a missing
-- NUON_API_TOKEN should fail a request, not nginx's start). It holds settings
-- only; the connections live in nginx's keep-alive pool, so concurrent
-- requests can share it.
local client

local function get_client()
  if client then return client end
  local ok, c = pcall(resty.new, { timeout = 10, retries = 2, user_agent = "nuon-openresty-example/1.0" })
  if not ok then return nil, c end -- a configuration error: the message names it (never the token)
  client = c
  return c
end

-- nuon error kind -> the status this endpoint answers with
local STATUS = { config = 500, network = 502, timeout = 504, http = 502, decode = 502, validation = 502 }

local function reply(status, body)
  ngx.status = status -- luacheck: ignore 122 (ngx.status is meant to be set)
  ngx.say(body)
  return ngx.exit(ngx.OK)
end

local function fail(status, err)
  return reply(status, cjson.encode{ error = {
    kind = err.kind or "config", message = err.message or tostring(err),
    status = err.status, retryable = err.retryable,
  } })
end

-- A query parameter that must be a non-negative integer, if given.
local function count(args, name)
  local v = args[name]
  if v == nil then return nil end
  local n = tonumber(v)
  if type(v) ~= "string" or not n or n < 0 or n ~= math.floor(n) then
    return nil, name .. " must be a non-negative integer"
  end
  return n
end

function _M.handle(install_id)
  local args = ngx.req.get_uri_args(10)
  local opts = {}
  for _, name in ipairs{ "limit", "offset", "page" } do
    local n, msg = count(args, name)
    if msg then return fail(400, { kind = "request", message = msg }) end
    opts[name] = n
  end

  local c, cerr = get_client()
  if not c then return fail(500, { kind = "config", message = cerr }) end

  local runs, err
  if args.all then
    runs, err = c:all_sandbox_runs(install_id)
  else
    runs, err = c:sandbox_runs(install_id, opts)
  end
  if not runs then
    -- an unknown install is the caller's problem; anything else is upstream's
    local status = (err.kind == "http" and err.status == 404) and 404 or STATUS[err.kind] or 502
    return fail(status, err)
  end

  local list = {}
  for i, run in ipairs(runs) do
    local job = run.runner_job
    list[i] = {
      id = run.id, status = run.status, run_type = run.run_type, created_at = run.created_at,
      job_status = job and job.status or nil,
    }
  end
  local meta = cjson.encode{
    install_id = install_id, count = #list, page = runs.page, warnings = #runs.warnings,
  }
  -- lua-cjson writes an empty table as {}: the list is added by hand
  local body = meta:sub(1, -2) .. ',"runs":' .. (#list > 0 and cjson.encode(list) or "[]") .. "}"
  return reply(200, body)
end

return _M
