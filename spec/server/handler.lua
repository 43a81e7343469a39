-- The test API server's request handling (nginx content/log phases).
--
-- Reproduces `GET /v1/installs/{install_id}/sandbox-runs` of Nuon's ctl-api the
-- way its Go middlewares answer (../../../shared/UPSTREAM.md), read from the
-- nuonco/nuon sources:
--   auth        services/ctl-api/internal/middlewares/auth/auth.go (+ validate.go)
--   org         services/ctl-api/internal/middlewares/org/org.go
--   pagination  services/ctl-api/internal/middlewares/pagination/offset_pagination.go,
--               internal/pkg/db/plugins/pagination/pagination.go (LIMIT limit+1),
--               internal/pkg/db/handle_paginated_response.go (X-Nuon-Page-*)
--   errors      services/ctl-api/internal/middlewares/stderr/{errors,handler}.go
--   handler     services/ctl-api/internal/app/installs/service/get_install_sandbox_runs.go
--   one run     GET /v1/installs/{install_id}/sandbox-runs/{run_id} (GetInstallSandboxRunV2)
--               and its deprecated alias GET /v1/installs/sandbox-runs/{run_id}: the run
--               is looked up by its id alone; no created_by (not preloaded)
-- Every response carries X-Nuon-API-Version (today's server).
-- Everything under /__nuon/ is the control API (server/control.lua).
local generator = require "server.generator"
local config = require "server.config"
local store = require "server.store"
local control = require "server.control"
-- luacheck: globals ngx

local ngx = ngx
local concat, floor = table.concat, math.floor
local str = generator.encode_string

local M = {}

local JSON = "application/json; charset=utf-8"

---------------------------------------------------------------------------
-- Go's URL decoding.

local function hexval(h)
  return tonumber(h, 16)
end

-- url.PathUnescape / url.QueryUnescape: nil on a malformed escape.
local function unescape(s, plus)
  if plus then s = s:gsub("+", " ") end
  if not s:find("%", 1, true) then return s end
  if s:find("%%%x?[^%x]") or s:find("%%%x?$") then return nil end
  return (s:gsub("%%(%x%x)", function(h) return string.char(hexval(h)) end))
end
M.unescape = unescape

-- url.ParseQuery as gin's ctx.Query sees it: pairs split on "&", a pair with a
-- ";" or a bad escape is dropped, the first value of a key wins.
local function parse_query(q)
  local args = {}
  for pair in q:gmatch("[^&]+") do
    if not pair:find(";", 1, true) then
      local k, v = pair:match("^([^=]*)=?(.*)$")
      k, v = unescape(k, true), unescape(v, true)
      if k and v and args[k] == nil then args[k] = v end
    end
  end
  return args
end
M.parse_query = parse_query

-- strconv.Atoi: optional sign, decimal digits, int64 range. Returns the value
-- (exact below 2^53) and its canonical decimal text, or nil.
local function atoi(s)
  if not s then return nil end
  local sign, digits = s:match("^([+-]?)(%d+)$")
  if not digits then return nil end
  digits = digits:gsub("^0+", "")
  if digits == "" then return 0, "0" end
  local max = sign == "-" and "9223372036854775808" or "9223372036854775807"
  if #digits > 19 or (#digits == 19 and digits > max) then return nil end
  local n = tonumber(digits)
  if sign == "-" then return -n, "-" .. digits end
  return n, digits
end
M.atoi = atoi

local function itoa(n)
  return string.format("%.0f", n)
end

---------------------------------------------------------------------------
-- Responses

-- stderr.ErrResponse as today's server writes it (omitzero, struct order).
local function err_body(e, description, user_error)
  local parts = {}
  if e ~= "" then parts[#parts + 1] = '"error":' .. str(e) end
  if user_error then parts[#parts + 1] = '"user_error":true' end
  if description ~= "" then parts[#parts + 1] = '"description":' .. str(description) end
  return "{" .. concat(parts, ",") .. "}"
end
M.err_body = err_body

-- Go's net/http sets Content-Length for a body written in one go below its
-- chunking buffer, and streams chunked above it.
local function send(status, body, content_type, extra)
  -- no longer in flight once the answer is on its way: counted at the log
  -- phase, a client quick to send its next request would overlap the two
  if ngx.ctx.inflight then
    ngx.ctx.inflight = nil
    store.inflight_leave()
  end
  ngx.update_time()
  ngx.ctx.answered = ngx.now() -- for the request log: [time, answered] is in flight
  ngx.status = status
  ngx.header["Server"] = nil -- Go's net/http sends none
  ngx.header["X-Nuon-API-Version"] = generator.API_VERSION
  ngx.header["Content-Type"] = content_type or JSON
  if extra and extra.headers then
    for k, v in pairs(extra.headers) do ngx.header[k] = v end
  end
  if extra and extra.retry_after then ngx.header["Retry-After"] = tostring(extra.retry_after) end
  if extra and extra.stall then
    -- headers and half the body, then silence: a mid-body timeout for clients
    ngx.header["Content-Length"] = #body
    local half = floor(#body / 2)
    ngx.print(body:sub(1, half))
    ngx.flush(true)
    ngx.sleep(extra.stall)
    ngx.print(body:sub(half + 1))
    return ngx.exit(ngx.HTTP_OK)
  end
  if #body <= 2048 then ngx.header["Content-Length"] = #body end
  ngx.print(body)
  return ngx.exit(ngx.HTTP_OK)
end

local function not_found(extra)
  return send(404, "404 page not found", "text/plain", extra)
end

local function fail(status, e, description, extra)
  return send(status, err_body(e, description, true), JSON, extra)
end

---------------------------------------------------------------------------
-- Middlewares

local function first(v)
  if type(v) == "table" then return v[1] end
  return v
end

local function fields(s)
  local out = {}
  for w in s:gmatch("%S+") do out[#out + 1] = w end
  return out
end

-- What go-jose says about a token that is not one of ours.
local function jose_error(token)
  local _, dots = token:gsub("%.", "")
  if dots ~= 2 then return "go-jose/go-jose: compact JWS format must have three parts" end
  return "illegal base64 data at input byte 0"
end

-- auth.go: 401 (stderr.ErrAuthentication) or nil.
local function authenticate(headers, args, extra)
  local h = first(headers["authorization"]) or ""
  local token = ""
  if h ~= "" then
    local parts = fields(h)
    if #parts ~= 2 or parts[1]:lower() ~= "bearer" then
      return fail(401, "authorization header format must be Bearer {token}",
        "Please make sure you set the -H Authorization:Bearer token header", extra)
    end
    token = parts[2]
  end
  if token == "" and (args.token or "") ~= "" then token = args.token end
  if token == "" then
    return fail(401, "auth token was empty",
      "Please make sure you set the -H Authorization:Bearer <token> header or token query param", extra)
  end
  if token ~= config.token then
    return fail(401, "unable to validate token: could not parse the token: " .. jose_error(token),
      "Please make sure the token is valid, and not expired.", extra)
  end
end

-- org.go: 403 (stderr.ErrAuthorization) or nil.
local function check_org(headers, args, extra)
  local org = first(headers["x-nuon-org-id"]) or ""
  if org == "" then org = args.org_id or "" end
  if org == "" then
    return fail(403, "org ID was empty", "please retry request with X-Nuon-Org-ID header or org query param", extra)
  end
  if org ~= config.org_id then
    return fail(403, "org " .. org .. " was not found", "please make sure org ID is set properly", extra)
  end
end

-- offset_pagination.go
local function pagination(args)
  local p = { offset = 0, offset_text = "0", limit = config.default_limit, page = 0 }
  local n, text = atoi(args.offset)
  if n then p.offset, p.offset_text = n, text end
  n = atoi(args.limit)
  if n then p.limit = n > config.max_limit and config.max_limit or n end
  n, text = atoi(args.page)
  if n then p.page, p.page_text = n, text end
  if p.page > 0 then
    p.offset = (p.page - 1) * p.limit
    p.offset_text = itoa(p.offset)
  end
  return p
end
M.pagination = pagination

---------------------------------------------------------------------------
-- Paging as servers that are not today's Nuon answer it (an install's
-- `paging` mode, for the specs of API.md "Paging against any server"):
--   ignore        the whole list, no page headers (every server before paging)
--   repeat        the first page for every offset, Next: true
--   zero_limit    the right page, but X-Nuon-Page-Limit: 0 and Next: true
--   stuck_offset  the right page, X-Nuon-Page-Offset: 0 and Next: true always
--   negative      the right page, Offset and Limit -5, Next: true
--   overflow      the right page, Offset near 2^63, Limit 100, Next: true
--   empty_next    [] with Next: true, always
--   objects       `objects` empty objects ([{},{},...]) with Next: true: a
--                 small body that decodes to a huge number of runs
-- Returns the body and the page headers, or nil for a normal answer.
local function misbehave(mode, runs, p, spec)
  local from = p.offset > 0 and p.offset + 1 or 1
  local limit = p.limit >= 0 and p.limit or #runs
  local slice = "[" .. concat(runs, ",", from, math.min(#runs, from + limit - 1)) .. "]"
  if mode == "ignore" then
    return "[" .. concat(runs, ",") .. "]", {}
  elseif mode == "repeat" then
    return "[" .. concat(runs, ",", 1, math.min(#runs, limit)) .. "]",
      { next = "true", offset = p.offset_text, limit = itoa(p.limit) }
  elseif mode == "zero_limit" then
    return slice, { next = "true", offset = p.offset_text, limit = "0" }
  elseif mode == "stuck_offset" then
    return slice, { next = "true", offset = "0", limit = itoa(p.limit) }
  elseif mode == "negative" then
    return slice, { next = "true", offset = "-5", limit = "-5" }
  elseif mode == "overflow" then
    return slice, { next = "true", offset = "9223372036854775800", limit = "100" }
  elseif mode == "empty_next" then
    return "[]", { next = "true", offset = p.offset_text, limit = itoa(p.limit) }
  elseif mode == "objects" then
    local n = spec.objects or 0
    return "[" .. string.rep("{},", n - 1) .. (n > 0 and "{}" or "") .. "]",
      { next = "true", offset = p.offset_text, limit = itoa(p.limit) }
  end
end

---------------------------------------------------------------------------
-- GET /v1/installs/{install_id}/sandbox-runs

local function sandbox_runs(install_id, args, extra)
  local p = pagination(args)
  store.inflight_enter()
  ngx.ctx.inflight = true
  local runs, custom, spec = store.runs(install_id)
  if spec and spec.latency_ms then ngx.sleep(spec.latency_ms / 1000) end

  local page, next_page
  if spec and spec.paging then
    local body, h = misbehave(spec.paging, runs or {}, p, spec)
    ngx.header["X-Nuon-Page-Next"] = h.next
    ngx.header["X-Nuon-Page-Offset"] = h.offset
    ngx.header["X-Nuon-Page-Limit"] = h.limit
    return send(200, body, JSON, extra)
  end
  if custom then
    page, next_page = custom, false
  else
    runs = runs or {}
    -- the DB query: LIMIT limit+1 (none when negative), OFFSET only when > 0
    local from = p.offset > 0 and p.offset + 1 or 1
    local to = #runs
    if p.limit + 1 >= 0 and from + p.limit < to then to = from + p.limit end
    local got = to >= from and to - from + 1 or 0
    -- HandlePaginatedResponse: models[:len(models)-1] panics on an empty page
    -- with a negative limit; the panicker middleware turns that into a 500.
    if got > p.limit then
      if got == 0 then
        return send(500, err_body("internal error occurred", "Please try the request again", false), JSON, extra)
      end
      to, next_page = to - 1, true
    else
      next_page = false
    end
    page = "[" .. concat(runs, ",", from, to) .. "]"
  end

  ngx.header["X-Nuon-Page-Next"] = next_page and "true" or "false"
  ngx.header["X-Nuon-Page-Offset"] = p.offset_text
  ngx.header["X-Nuon-Page-Limit"] = itoa(p.limit)
  if p.page > 0 then ngx.header["X-Nuon-Page-Number"] = p.page_text end
  return send(200, page, JSON, extra)
end

---------------------------------------------------------------------------
-- GET /v1/installs/{install_id}/sandbox-runs/{run_id} and
-- GET /v1/installs/sandbox-runs/{run_id}: one run, found by its id alone.

local function sandbox_run(run_id, extra)
  local text = store.find_run(run_id)
  if not text then
    return fail(404, "unable to get install sandbox run: record not found", "record not found", extra)
  end
  -- the single-run query does not preload created_by
  return send(200, (text:gsub(',"created_by":%b{}', "", 1)), JSON, extra)
end

---------------------------------------------------------------------------
-- Faults: consumed FIFO, one per matching request, before normal handling.

local function apply_fault(f)
  if f.delay and f.delay > 0 then ngx.sleep(f.delay) end
  if f.close then return ngx.exit(444) end -- nginx: close without a response
  if f.status then
    return send(f.status, f.body or "", nil, f)
  end
  return nil, f -- delay/stall/headers only: go on with normal handling
end

---------------------------------------------------------------------------
-- Entry points

function M.init(opts)
  M.instance = opts and opts.instance or "dev"
  store.load_demo()
end

local function split_segments(path)
  local segs = {}
  for seg in (path .. "/"):gmatch("([^/]*)/") do
    local s = unescape(seg)
    if not s then return nil end
    segs[#segs + 1] = s
  end
  return segs
end

function M.handle()
  local uri = ngx.var.request_uri
  local path, query = uri:match("^([^?#]*)%??([^#]*)")
  if path:sub(1, 8) == "/__nuon/" then
    return control.handle(M, path)
  end

  local method = ngx.req.get_method()
  local segs = split_segments(path)
  -- gin's routes; a static segment wins over a parameter
  local install_id, run_id, route
  if segs and (#segs == 5 or #segs == 6) and segs[1] == "" and segs[2] == "v1" and segs[3] == "installs" then
    if #segs == 5 and segs[4] == "sandbox-runs" and segs[5] ~= "" then
      route, run_id = "run_alias", segs[5]
    elseif #segs == 5 and segs[4] ~= "" and segs[5] == "sandbox-runs" then
      route, install_id = "runs", segs[4]
    elseif #segs == 6 and segs[4] ~= "" and segs[5] == "sandbox-runs" and segs[6] ~= "" then
      route, install_id, run_id = "run", segs[4], segs[6]
    end
  end
  local args = parse_query(query)
  local headers = ngx.req.get_headers(100)
  ngx.ctx.log_seq = store.log_request({
    time = (ngx.update_time() or ngx.now()), method = method, uri = uri, path = path, query = query,
    install_id = install_id, run_id = run_id, route = route, args = args, headers = headers,
  })

  local extra
  local f = store.take_fault(install_id, route)
  if f then
    local handled
    handled, extra = apply_fault(f)
    if handled ~= nil then return end
  end

  if not segs then
    return send(400, "400 Bad Request", "text/plain; charset=utf-8", extra)
  end
  if not route or method ~= "GET" then return not_found(extra) end
  if authenticate(headers, args, extra) then return end
  if check_org(headers, args, extra) then return end
  if run_id then return sandbox_run(run_id, extra) end
  return sandbox_runs(install_id, args, extra)
end

function M.log()
  local seq = ngx.ctx.log_seq
  if seq then
    store.finish_request(seq, ngx.status, ngx.ctx.answered)
    store.note_connection(ngx.var.server_port, ngx.var.connection)
  end
  if ngx.ctx.inflight then store.inflight_leave() end
end

return M
