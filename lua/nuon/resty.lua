--- nuon.resty: the nuon client for OpenResty (nginx with its Lua module).
--
-- The same methods, results and errors as the blocking client (`nuon.new`),
-- but the HTTP goes through nginx's cosockets (`ngx.socket.tcp`) and the
-- waits between retries through `ngx.sleep`: while a request waits on Nuon,
-- the nginx worker serves other requests.  Only the decoding of a received
-- body (`nuon.core.decode`, C) runs without yielding; it is CPU work in
-- proportion to the body size.
--
--    local resty = require "nuon.resty"
--    local client = resty.new{ token = "...", org_id = "..." }   -- or NUON_* (see README)
--    local runs, err = client:sandbox_runs(install_id, { limit = 10 })
--
-- Usable wherever cosockets are: rewrite, access and content phases,
-- `ngx.timer.at` callbacks and light threads; not in init, set, header or
-- body filter and log phases.  The module loads anywhere (so that tools can
-- inspect it); `new` raises outside nginx.
--
-- Differences from the blocking client, all forced by nginx: TLS certificates
-- are checked against `lua_ssl_trusted_certificate` (not `ca_file`), host
-- names need a `resolver`, and `proxy` takes http:// proxies only (no
-- *_proxy environment variables).  Two more options: `keepalive_timeout`
-- (seconds a pooled connection may idle, 60; 0 closes after each request) and
-- `keepalive_pool` (connections kept per host and worker, 16).
--
-- @module nuon.resty
-- luacheck: read globals ngx
local core = require "nuon.core"
local config = require "nuon.config"
local Pager = require "nuon.pager"
local args = require "nuon.args"
local wait = require "nuon.wait"
local Fleet = require "nuon.fleet"

local ngx = ngx -- nil outside nginx: the module still loads
local semaphore -- ngx.semaphore (lua-resty-core), required on first use, in nginx
local type, pairs, tostring, tonumber, error, setmetatable, select =
  type, pairs, tostring, tonumber, error, setmetatable, select
local floor, ceil, min, random = math.floor, math.ceil, math.min, math.random
local byte, sub, find, match, gsub, lower, format =
  string.byte, string.sub, string.find, string.match, string.gsub, string.lower, string.format
local concat = table.concat
local decode, decode_json, error_mt = core.decode, core.decode_json, core.error_mt

local _M = { _VERSION = core.VERSION }

local Client = {}
local mt = { __index = Client, __name = "nuon.resty.client" }
_M.Client = Client

local BACKOFF_BASE = 0.25        -- seconds: ceiling of the first retry's jitter (as the C core)
local MAX_HEADER_BYTES = 65536   -- a response's status line and headers, together
local READ_CHUNK = 65536         -- bytes asked of the socket at a time
local ERROR_BODY_DEPTH = 16      -- nesting accepted in an error body (as the C core)
local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }

-- Per client: settings that hold secrets (the request head with the token,
-- proxy credentials).  Kept out of the client table so that printing or
-- serializing a client can never show them; cleared by close().
local private = setmetatable({}, { __mode = "k" })

-- ---------------------------------------------------------------------------
-- Small helpers

local function now()
  ngx.update_time()
  return ngx.now()
end

local is_int = args.is_int

local function new_error(kind, message, fields)
  local e = { kind = kind, message = message }
  if fields then
    for k, v in pairs(fields) do e[k] = v end
  end
  return setmetatable(e, error_mt)
end

local function closed_error()
  return new_error("config", "the client is closed", { retryable = false })
end

--- Percent-encodes `s` as one URL path segment, exactly as the C core does:
-- only A-Z a-z 0-9 - _ ~ stay literal; everything else (including '.') is
-- %XX with upper-case hex, so "..", "/", "?", "#" and "%" cannot change the path.
-- @tparam string s
-- @treturn string
function _M.encode_segment(s)
  return (gsub(s, "[^A-Za-z0-9%-_~]", function(c) return format("%%%02X", byte(c)) end))
end
local encode_segment = _M.encode_segment

local STATUS_TEXT = {
  [301] = "Moved Permanently", [302] = "Found", [303] = "See Other",
  [307] = "Temporary Redirect", [308] = "Permanent Redirect", [400] = "Bad Request",
  [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found", [408] = "Request Timeout",
  [429] = "Too Many Requests", [500] = "Internal Server Error", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function status_text(status)
  return STATUS_TEXT[status] or (status >= 500 and "Server Error" or "Error")
end

local function attempts_note(attempts)
  if attempts > 1 then return " (after " .. attempts .. " attempts)" end
  return ""
end

-- ---------------------------------------------------------------------------
-- Errors, in the C core's kinds and words (src/transfer.c)

-- An HTTP status other than 200, with the server's error body when it is one.
local function http_error(res, attempts, retryable)
  local status = res.status
  local e = { kind = "http" }
  local detail = ""
  if status >= 300 and status < 400 then
    detail = ": redirects are not followed (Location: "
      .. (res.location and sub(res.location, 1, 200) or "none") .. ")"
  end
  local body = res.body ~= "" and decode_json(res.body, ERROR_BODY_DEPTH)
  if type(body) == "table" then
    local err_s, desc_s = body.error, body.description
    if type(err_s) == "string" or type(err_s) == "boolean" then e.error = err_s end
    if type(desc_s) == "string" or type(desc_s) == "boolean" then e.description = desc_s end
    if type(err_s) ~= "string" then err_s = nil end
    if type(desc_s) ~= "string" then desc_s = nil end
    -- today's server omits zero values: an absent user_error means false
    local ue = body.user_error
    if ue == nil then ue = false end
    e.user_error = ue
    if err_s or desc_s then
      detail = ": " .. (err_s and sub(err_s, 1, 150) or "") .. ((err_s and desc_s) and ": " or "")
        .. (desc_s and sub(desc_s, 1, 150) or "")
    end
  end
  e.message = format("HTTP %d %s%s%s", status, status_text(status), detail, attempts_note(attempts))
  e.status = status
  e.retryable = retryable or status == 500
  e.attempts = attempts
  return setmetatable(e, error_mt)
end

-- A failure below HTTP: f = { kind = "network" | "timeout" | "too_large" |
-- "tls", what = "...", retryable = bool }.
local function transport_error(f, attempts, s)
  local note = attempts_note(attempts)
  if f.kind == "too_large" then
    return new_error("decode", format("response body exceeds max_body (%d bytes)", s.max_body),
      { retryable = false, attempts = attempts })
  elseif f.kind == "timeout" then
    return new_error("timeout", "request timed out: " .. f.what .. note,
      { retryable = true, attempts = attempts })
  elseif f.kind == "tls" then
    return new_error("network", "TLS certificate verification failed: " .. f.what
      .. " (nginx checks certificates against lua_ssl_trusted_certificate: set it to the CA"
      .. " that signed the server's certificate)", { retryable = false, attempts = attempts })
  end
  return new_error("network", f.what .. note, { retryable = f.retryable, attempts = attempts })
end

-- Tokens shorter than this are not real API tokens (test values like "t"):
-- scrubbing them would only mangle messages (as the C core).
local SCRUB_MIN_TOKEN = 8

-- Replaces the token with "<redacted>" in every string field of err: a
-- hostile or careless server may echo it back in its error body, a Location
-- or a value (as the C core does).
local function scrub(err, token)
  if #token < SCRUB_MIN_TOKEN then return err end
  for k, v in pairs(err) do
    if type(v) == "string" and find(v, token, 1, true) then
      local out, n, i = {}, 0, 1
      while true do
        local a, b = find(v, token, i, true)
        n = n + 1
        if not a then
          out[n] = sub(v, i)
          break
        end
        out[n] = sub(v, i, a - 1) .. "<redacted>"
        i = b + 1
      end
      err[k] = concat(out)
    end
  end
  return err
end

local function fail(kind, what, retryable)
  return { kind = kind, what = what, retryable = retryable }
end

-- ---------------------------------------------------------------------------
-- One attempt: connect (or reuse), send, read the response

-- Milliseconds left before the attempt's deadline (at least 1), or nil when
-- it has passed.
local function left_ms(deadline)
  local ms = ceil((deadline - now()) * 1000)
  if ms <= 0 then return nil end
  return ms
end

local function elapsed_ms(started)
  return floor((now() - started) * 1000 + 0.5)
end

local function timed_out(st)
  return fail("timeout", format("Operation timed out after %d milliseconds with %d bytes received",
    elapsed_ms(st.started), st.got), true)
end

-- The failure for a socket error `err` while reading or writing.
local function io_failure(st, err, what)
  if err == "timeout" then return timed_out(st) end
  return fail("network", what .. ": " .. tostring(err), true)
end

-- Reads one line (CRLF or LF, without it) within the deadline.
local function read_line(sock, st)
  local ms = left_ms(st.deadline)
  if not ms then return nil, timed_out(st) end
  sock:settimeout(ms)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  st.head = st.head + #line + 2
  if st.head > MAX_HEADER_BYTES then
    return nil, fail("network", "response headers exceed " .. MAX_HEADER_BYTES .. " bytes", false)
  end
  return line
end

-- Reads exactly n bytes (or, with n == nil, until the server closes) into
-- st.parts, counting against max_body.  Returns true, or nil, failure.
local function read_bytes(sock, st, n)
  local want = n
  while want == nil or want > 0 do
    local ms = left_ms(st.deadline)
    if not ms then return nil, timed_out(st) end
    sock:settimeout(ms)
    local data, err = sock:receiveany(want and min(want, READ_CHUNK) or READ_CHUNK)
    if not data then
      if err == "closed" and want == nil then return true end
      if err == "closed" then
        return nil, fail("network", st.chunked and "transfer closed with outstanding read data remaining"
          or format("transfer closed with %d bytes remaining to read", want), true)
      end
      return nil, io_failure(st, err, "Recv failure")
    end
    st.got = st.got + #data
    if st.got > st.max_body then return nil, fail("too_large") end
    st.nparts = st.nparts + 1
    st.parts[st.nparts] = data
    if want then want = want - #data end
  end
  return true
end

-- The failure for a line that could not be read (err from read_line).
local function line_failure(st, err, closed_what)
  if type(err) == "table" then return err end
  if err == "closed" and closed_what then return fail("network", closed_what, true) end
  return io_failure(st, err, "Recv failure")
end

local CHUNK_CLOSED = "transfer closed with outstanding read data remaining"

local function read_chunked(sock, st)
  st.chunked = true
  while true do
    local line, err = read_line(sock, st)
    if not line then return nil, line_failure(st, err, CHUNK_CLOSED) end
    local hex = match(line, "^%s*(%x+)")
    local size = hex and tonumber(hex, 16)
    if not size then return nil, fail("network", "invalid chunk size in the response", false) end
    if size == 0 then
      repeat -- trailers, up to the empty line
        line, err = read_line(sock, st)
        if not line then return nil, line_failure(st, err, CHUNK_CLOSED) end
      until line == ""
      return true
    end
    if st.got + size > st.max_body then return nil, fail("too_large") end
    local ok, f = read_bytes(sock, st, size)
    if not ok then return nil, f end
    line, err = read_line(sock, st) -- the CRLF after the data
    if not line then return nil, line_failure(st, err, CHUNK_CLOSED) end
    if line ~= "" then return nil, fail("network", "invalid chunk framing in the response", false) end
  end
end

-- The integer in a page header, as strtoll reads a whole value.
local function header_int(v)
  if v and find(v, "^[+-]?%d+$") then return tonumber(v) end
  return nil
end

-- Reads a response: status line, headers, body.  Returns res, or nil,
-- failure (with .empty when nothing at all was received).
local function read_response(sock, st)
  local line, err, h, version, status
  repeat -- skip 1xx interim responses
    line, err = read_line(sock, st)
    if not line then
      local f = line_failure(st, err, st.head == 0 and "Empty reply from server" or nil)
      f.empty = st.head == 0
      return nil, f
    end
    version, status = match(line, "^HTTP/(%d%.%d) (%d%d%d)")
    status = tonumber(status)
    if not status then return nil, fail("network", "invalid HTTP response from the server", false) end
    h = {}
    while true do
      line, err = read_line(sock, st)
      if not line then return nil, line_failure(st, err) end
      if line == "" then break end
      local name, value = match(line, "^([^:%s]+)%s*:%s*(.-)%s*$")
      if name then
        name = lower(name)
        local old = h[name]
        if old == nil then
          h[name] = value
        elseif name == "content-length" then
          if old ~= value then
            return nil, fail("network", "conflicting Content-Length headers in the response", false)
          end
        else
          h[name] = old .. ", " .. value
        end
      end
    end
  until status >= 200

  local res = { status = status, location = h.location, retry_after = h["retry-after"] }
  local page = {}
  local nxt = h["x-nuon-page-next"] and lower(h["x-nuon-page-next"])
  if nxt == "true" or nxt == "false" then page.next = nxt == "true" end
  page.offset = header_int(h["x-nuon-page-offset"])
  page.limit = header_int(h["x-nuon-page-limit"])
  page.number = header_int(h["x-nuon-page-number"])
  res.page = page

  local te = h["transfer-encoding"] and lower(h["transfer-encoding"])
  local cl = h["content-length"]
  local framed = true
  local ok, f
  if res.status == 204 or res.status == 304 then
    ok = true
  elseif te and find(te, "chunked", 1, true) then
    ok, f = read_chunked(sock, st)
  elseif cl then
    local n = header_int(cl)
    if not n or n < 0 then return nil, fail("network", "invalid Content-Length in the response", false) end
    -- refuse early rather than receive what cannot be kept
    if n > st.max_body then return nil, fail("too_large") end
    ok, f = read_bytes(sock, st, n)
  else
    framed = false -- the body ends when the server closes the connection
    ok, f = read_bytes(sock, st, nil)
  end
  if not ok then return nil, f end
  res.body = concat(st.parts, "", 1, st.nparts)
  local conn = h.connection and lower(h.connection) or ""
  res.reusable = framed and version == "1.1" and not find(conn, "close", 1, true)
  return res
end

-- Opens an HTTP CONNECT tunnel through the proxy (a fresh connection).
local function tunnel(sock, p, st)
  local ms = left_ms(st.deadline)
  if not ms then return nil, timed_out(st) end
  sock:settimeout(ms)
  local ok, err = sock:send(p.connect_request)
  if not ok then return nil, io_failure(st, err, "Send failure") end
  local line
  line, err = read_line(sock, st)
  if not line then return nil, line_failure(st, err, "Proxy CONNECT aborted") end
  local status = tonumber(match(line, "^HTTP/%d%.%d (%d%d%d)"))
  repeat
    line, err = read_line(sock, st)
    if not line then return nil, line_failure(st, err, "Proxy CONNECT aborted") end
  until line == ""
  st.head = 0
  if not status or status < 200 or status > 299 then
    return nil, fail("network", "CONNECT tunnel failed, response " .. tostring(status or "invalid"),
      status == 502 or status == 503 or status == 504)
  end
  return true
end

local function is_verify_failure(err)
  return find(err, "^%d+: ") ~= nil or find(err, "certificate", 1, true) ~= nil
end

-- One attempt on one connection.  Returns res, or nil, failure; failure.stale
-- when a reused keep-alive connection died before answering (try again on
-- another connection without counting an attempt).
local function attempt_once(p, request, started, deadline)
  local st = { started = started, deadline = deadline, got = 0, head = 0, parts = {}, nparts = 0,
               max_body = p.max_body }
  local sock, err = ngx.socket.tcp()
  if not sock then return nil, fail("network", "cannot create a socket: " .. tostring(err), false) end
  local ms = left_ms(deadline)
  if not ms then return nil, timed_out(st) end
  sock:settimeout(min(ms, p.connect_timeout_ms))
  local ok
  ok, err = sock:connect(p.connect_host, p.connect_port, p.pool_opts)
  if not ok then
    if err == "timeout" then
      return nil, fail("timeout", format("Connection timed out after %d milliseconds", elapsed_ms(started)),
        true)
    end
    -- a missing `resolver` is nginx's configuration: trying again cannot help
    local retryable = not find(tostring(err), "no resolver defined", 1, true)
    return nil, fail("network", format("Failed to connect to %s port %d: %s", p.connect_name,
      p.connect_port, tostring(err)), retryable)
  end
  local reused = (sock:getreusedtimes() or 0) > 0
  local function bail(f)
    sock:close()
    if reused and f.kind ~= "timeout" and f.kind ~= "too_large" and (f.empty or f.sent == false) then
      f.stale = true
    end
    return nil, f
  end

  if not reused then
    if p.connect_request then
      local tok, f = tunnel(sock, p, st)
      if not tok then return bail(f) end
    end
    if p.tls then
      ms = left_ms(deadline)
      if not ms then return bail(timed_out(st)) end
      sock:settimeout(ms)
      local done
      done, err = sock:sslhandshake(false, p.server_name, p.verify) -- false: no session object wanted
      if not done then
        if err == "timeout" then return bail(timed_out(st)) end
        if p.verify and is_verify_failure(tostring(err)) then return bail(fail("tls", tostring(err), false)) end
        return bail(fail("network", "TLS handshake failed: " .. tostring(err), false))
      end
      -- lua-nginx-module 0.10.23 (Debian 12) reports success when a handshake
      -- that completed at once failed verification, having closed the socket:
      -- a closed socket here is that failure (the reason went to error.log).
      if not sock:getreusedtimes() then
        if not p.verify then return bail(fail("network", "TLS handshake failed: closed", true)) end
        return bail(fail("tls", "reason not reported; lua_socket_log_errors on logs it", false))
      end
    end
  end

  ms = left_ms(deadline)
  if not ms then return bail(timed_out(st)) end
  sock:settimeout(ms)
  local sent
  sent, err = sock:send(request)
  if not sent then
    local f = io_failure(st, err, "Send failure")
    f.sent = false
    return bail(f)
  end

  local res, f = read_response(sock, st)
  if not res then return bail(f) end
  if not (res.reusable and p.keepalive_ms > 0 and sock:setkeepalive(p.keepalive_ms)) then
    sock:close()
  end
  return res
end

-- One attempt, against the per-attempt deadline `timeout`.
local function attempt(p, request)
  local started = now()
  local deadline = started + p.timeout
  local res, f
  -- pooled connections the server has closed meanwhile: a few more tries
  for _ = 1, p.keepalive_pool + 1 do
    res, f = attempt_once(p, request, started, deadline)
    if res or not f.stale then break end
  end
  return res, f
end

-- Seconds to wait before the next attempt: full jitter, or Retry-After
-- (seconds or an HTTP date), never more than max_backoff.
local function backoff(attempts, max_backoff, retry_after)
  local ra
  if retry_after then
    if find(retry_after, "^[+-]?%d+$") then
      ra = tonumber(retry_after)
      if ra < 0 then ra = nil end
    else
      local when = ngx.parse_http_time(retry_after)
      if when then
        ra = when - ngx.time()
        if ra < 0 then ra = 0 end
      end
    end
  end
  if ra then return min(ra, max_backoff) end
  local ceiling = BACKOFF_BASE
  for _ = 2, attempts do
    if ceiling >= max_backoff then break end
    ceiling = ceiling * 2
  end
  if ceiling > max_backoff then ceiling = max_backoff end
  return ceiling * random()
end

local QUERY_NAMES = { "limit", "offset", "page" }

local function query(...)
  local q, n = {}, 0
  for k = 1, 3 do
    local v = select(k, ...)
    if v ~= nil and v >= 0 then
      n = n + 1
      q[n] = format("%s%s=%d", n == 1 and "?" or "&", QUERY_NAMES[k], v)
    end
  end
  return concat(q)
end

-- One logical request with retries: runs (with .page and .warnings) or nil, err.
local function fetch(self, install_id, limit, offset, page, strict)
  local p = private[self]
  if not p then return nil, closed_error() end
  if strict == nil then strict = p.strict end
  local target = p.target_prefix .. "/v1/installs/" .. encode_segment(install_id) .. "/sandbox-runs"
    .. query(limit, offset, page)
  local request = "GET " .. target .. " HTTP/1.1\r\n" .. p.head

  local attempts = 0
  local res, f
  while true do
    attempts = attempts + 1
    res, f = attempt(p, request)
    local retryable
    if res then retryable = RETRY_STATUS[res.status] or false else retryable = f.retryable end
    if not retryable or attempts > p.retries then break end
    ngx.sleep(backoff(attempts, p.max_backoff, res and res.retry_after))
  end
  if not res then return nil, scrub(transport_error(f, attempts, p), p.token) end
  if res.status ~= 200 then
    return nil, scrub(http_error(res, attempts, RETRY_STATUS[res.status] or false), p.token)
  end
  local runs, err = decode(res.body, strict and p.decode_strict or p.decode_lax)
  if not runs then
    err.status = 200
    err.retryable = false
    return nil, scrub(err, p.token)
  end
  runs.page = res.page
  return runs
end

-- ---------------------------------------------------------------------------
-- Construction

local RESTY_OPTS = { keepalive_timeout = true, keepalive_pool = true }

-- Splits a URL validated by nuon.config: scheme, host (brackets kept for
-- IPv6), port or nil, path prefix.
local function split_url(url)
  local scheme, authority, path = match(url, "^(%a[%w+.%-]*)://([^/]*)(.*)$")
  local host, port
  if sub(authority, 1, 1) == "[" then
    host, port = match(authority, "^(%[[^%]]+%]):?(%d*)$")
  else
    host, port = match(authority, "^([^:]+):?(%d*)$")
  end
  return lower(scheme), host, tonumber(port), path
end

-- The proxy option: "http://[user:password@]host[:port]" or "host[:port]".
local function parse_proxy(proxy)
  local scheme, rest = match(proxy, "^(%a[%w+.%-]*)://(.*)$")
  if not scheme then scheme, rest = "http", proxy end
  if lower(scheme) ~= "http" then
    error("nuon.resty.new: option 'proxy' must be an http:// proxy (got a " .. lower(scheme)
      .. ":// URL): nginx's cosockets speak no other proxy protocol", 3)
  end
  rest = match(rest, "^[^/?#]*")
  local userinfo, hostport = match(rest, "^(.*)@([^@]*)$")
  if not userinfo then hostport = rest end
  local host, port
  if sub(hostport, 1, 1) == "[" then
    host, port = match(hostport, "^(%[[%x:.]+%]):?(%d*)$")
  else
    host, port = match(hostport, "^([%w.%-_~]+):?(%d*)$")
  end
  port = tonumber(port) or 1080 -- libcurl's default proxy port
  if not host or port < 1 or port > 65535 then
    error("nuon.resty.new: option 'proxy' must be an http:// proxy URL with a host", 3)
  end
  local auth
  if userinfo then
    local user, pass = match(userinfo, "^([^:]*):?(.*)$")
    auth = "Proxy-Authorization: Basic "
      .. ngx.encode_base64(ngx.unescape_uri(user) .. ":" .. ngx.unescape_uri(pass)) .. "\r\n"
  end
  return host, port, auth
end

local function check_resty_opts(opts)
  local ka, pool = opts.keepalive_timeout, opts.keepalive_pool
  if ka ~= nil and not (type(ka) == "number" and ka >= 0 and ka < 1e9) then
    error("nuon.resty.new: option 'keepalive_timeout' must be a non-negative number of seconds", 3)
  end
  if pool ~= nil and not (is_int(pool) and pool > 0 and pool <= 10000) then
    error("nuon.resty.new: option 'keepalive_pool' must be a positive integer", 3)
  end
end

--- Creates a client for use inside nginx.  Takes every option of `nuon.new`
-- (resolved the same way: options, then NUON_* variables the nginx `env`
-- directive passes on, then the config file) plus `keepalive_timeout` and
-- `keepalive_pool`.  Raises on a bad option, as `nuon.new` does.
-- @tparam[opt] table opts
-- @treturn nuon.resty.Client
function _M.new(opts)
  if type(ngx) ~= "table" or type(ngx.socket) ~= "table" then
    error("nuon.resty.new: needs nginx's lua module (ngx.socket.tcp); elsewhere use nuon.new", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("nuon.new: options must be a table (got " .. type(opts) .. ")", 2)
  end
  local general = {}
  for k, v in pairs(opts or {}) do
    if not RESTY_OPTS[k] then general[k] = v end
  end
  check_resty_opts(opts or {})
  local s = config.resolve(general, nil, 2)

  local scheme, host, port, prefix = split_url(s.base_url)
  local tls = scheme == "https"
  port = port or (tls and 443 or 80)
  local authority = host
  if port ~= (tls and 443 or 80) then authority = host .. ":" .. port end
  local bare_host = gsub(host, "^%[(.*)%]$", "%1")

  local ua = (s.user_agent and s.user_agent .. " " or "") .. "lua-nuon/" .. core.VERSION
  local p = {
    tls = tls, verify = s.verify_tls, server_name = bare_host,
    connect_host = host, connect_port = port, connect_name = bare_host,
    timeout = s.timeout, connect_timeout_ms = ceil(s.connect_timeout * 1000),
    retries = s.retries, max_backoff = s.max_backoff, strict = s.strict, max_body = s.max_body,
    keepalive_ms = floor((opts and opts.keepalive_timeout or 60) * 1000),
    keepalive_pool = opts and opts.keepalive_pool or 16,
    target_prefix = prefix, token = s.token,
    decode_strict = { strict = true, max_runs = s.max_runs },
    decode_lax = { strict = false, max_runs = s.max_runs },
  }
  local head = {
    "Host: " .. authority,
    "Authorization: Bearer " .. s.token,
    "X-Nuon-Org-ID: " .. s.org_id,
    "Accept: application/json",
    "User-Agent: " .. ua,
  }
  local pool = { "nuon", scheme, host, tostring(port), s.verify_tls and "verify" or "noverify" }
  if s.proxy then
    local phost, pport, pauth = parse_proxy(s.proxy)
    p.connect_host, p.connect_port, p.connect_name = phost, pport, (gsub(phost, "^%[(.*)%]$", "%1"))
    if tls then
      -- a tunnel to the API host; the proxy sees only the CONNECT request
      p.connect_request = "CONNECT " .. host .. ":" .. port .. " HTTP/1.1\r\nHost: " .. host .. ":" .. port
        .. "\r\n" .. (pauth or "") .. "\r\n"
    else
      p.target_prefix = "http://" .. authority .. prefix
      if pauth then head[#head + 1] = sub(pauth, 1, -3) end
    end
    pool[#pool + 1] = "via"
    pool[#pool + 1] = phost .. ":" .. pport
    -- the pool name must not carry the credentials: a hash of them keeps
    -- tunnels opened with different credentials apart
    if pauth then pool[#pool + 1] = ngx.md5(pauth) end
  end
  p.head = concat(head, "\r\n") .. "\r\n\r\n"
  p.pool_opts = { pool = concat(pool, " "), pool_size = p.keepalive_pool }

  local self = setmetatable({
    base_url = s.base_url,
    org_id = s.org_id,
    strict = s.strict,
    page_size = 100,
  }, mt)
  private[self] = p
  return self
end

function mt.__tostring(self)
  if not private[self] then return "nuon.resty.client (closed)" end
  return format("nuon.resty.client (%s, org %s)", self.base_url, self.org_id)
end

--- Forgets the client's settings; later calls return `nil, err`.  Pooled
-- connections belong to nginx and close after `keepalive_timeout`.
function Client:close()
  private[self] = nil
end
mt.__close = Client.close

-- ---------------------------------------------------------------------------
-- Methods (argument checks: nuon.args, as nuon.client's)

--- Lists one page of an install's sandbox runs (one request, retried on
-- 429/502/503/504 and connection failures).
-- @tparam string install_id
-- @tparam[opt] table opts `limit`, `offset`, `page`, `strict`
-- @return runs (with `.page` and `.warnings`) or nil, err
function Client:sandbox_runs(install_id, opts)
  args.install_id("sandbox_runs", install_id)
  opts = args.opts("sandbox_runs", opts, args.RUNS)
  return fetch(self, install_id, opts.limit, opts.offset, opts.page, opts.strict)
end

--- The request URL of `sandbox_runs(install_id, opts)` (no request is made).
function Client:url(install_id, opts)
  args.install_id("url", install_id)
  opts = args.opts("url", opts, args.RUNS)
  return self.base_url .. "/v1/installs/" .. encode_segment(install_id) .. "/sandbox-runs"
    .. query(opts.limit, opts.offset, opts.page)
end


-- Pages through an install's runs: returns next(), which gives a run, nil
-- when done, or false, err when a page failed.
local function pages(self, fname, install_id, opts)
  args.install_id(fname, install_id, 4) -- 4: blame the caller of the method
  opts = args.opts(fname, opts, args.PAGES, 4)
  local p = Pager.new({ page_size = opts.page_size or self.page_size, where = opts.where,
                        max = opts.max }, 4) -- the same level as above
  local strict = opts.strict
  local next_run = p:runs(function(limit, offset)
    return fetch(self, install_id, limit, offset, nil, strict)
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
-- @return a sequence of runs (with `.warnings`) or nil, err
function Client:all_sandbox_runs(install_id, opts)
  return Pager.collect(pages(self, "all_sandbox_runs", install_id, opts))
end


--- Lists one page of runs for each of many installs, at most `concurrency`
-- at a time, each in its own light thread (`ngx.thread.spawn`).
-- @tparam {string,...} install_ids
-- @tparam[opt] table opts `concurrency` (8, at most 256), `limit`, `offset`, `strict`
-- @return results, where `results[id] = { runs = ... }` or `{ err = ... }`; or nil, err
-- when the client is closed
function Client:sandbox_runs_many(install_ids, opts)
  if type(install_ids) ~= "table" then
    error(format("nuon: sandbox_runs_many: install_ids must be a sequence (got %s)", type(install_ids)), 2)
  end
  for k = 1, #install_ids do args.install_id("sandbox_runs_many", install_ids[k]) end
  opts = args.opts("sandbox_runs_many", opts, args.MANY)
  if opts.concurrency and opts.concurrency > 256 then
    error("nuon: sandbox_runs_many: option 'concurrency' must be at most 256", 2)
  end
  if not private[self] then return nil, closed_error() end

  local queue, n, seen = {}, 0, {}
  for k = 1, #install_ids do
    local id = install_ids[k]
    if not seen[id] then
      seen[id] = true
      n = n + 1
      queue[n] = id
    end
  end
  local results, taken = {}, 0
  local limit, offset, strict = opts.limit, opts.offset, opts.strict
  local function worker()
    while taken < n do
      taken = taken + 1
      local id = queue[taken]
      local runs, err = fetch(self, id, limit, offset, nil, strict)
      results[id] = runs and { runs = runs } or { err = err }
    end
  end
  local threads = {}
  for k = 1, min(opts.concurrency or 8, n) do
    threads[k] = ngx.thread.spawn(worker)
  end
  local failure
  for k = 1, #threads do
    local ok, err = ngx.thread.wait(threads[k])
    if not ok and not failure then failure = err end
  end
  if failure then error(failure, 0) end -- a bug, not a failure of the world
  return results
end

--- Every run of each of many installs (as `nuon.client`'s
-- `all_sandbox_runs_many`): a light thread per install pages it, and a
-- semaphore of `concurrency` lets that many requests be in flight at once,
-- a freed slot going to the next waiting page.  The calling thread waits for
-- all; `on_progress` runs in the light threads.
-- @tparam {string,...} install_ids
-- @tparam[opt] table opts `concurrency` (8), `page_size`, `where`, `max`,
--   `strict`, `on_progress`
-- @return results (`results[id] = { runs = ... }` or `{ err = ... }`), or
-- nil, err when the client is closed
function Client:all_sandbox_runs_many(install_ids, opts)
  local fleet = Fleet.new("all_sandbox_runs_many", install_ids, opts, 2)
  if not private[self] then return nil, closed_error() end
  semaphore = semaphore or require "ngx.semaphore"
  local slots = semaphore.new(fleet.concurrency)
  local function page(id)
    while true do
      local limit, offset = fleet:request(id)
      if not limit then return end
      while not slots:wait(60) do end -- a wait that times out is only retried
      local runs, err = fetch(self, id, limit, offset, nil, fleet.strict)
      slots:post(1)
      fleet:done(id, runs, err)
    end
  end
  local threads, ids = {}, fleet.ids
  for k = 1, #ids do threads[k] = ngx.thread.spawn(page, ids[k]) end
  local failure
  for k = 1, #threads do
    local ok, err = ngx.thread.wait(threads[k])
    if not ok then
      failure = err
      for j = k + 1, #threads do ngx.thread.kill(threads[j]) end
      break
    end
  end
  if failure then error(failure, 0) end -- where.fn or on_progress raised: a bug
  return fleet.results
end

--- The newest run of an install that matches `where` (see nuon.wait).
Client.latest_sandbox_run = wait.latest_sandbox_run

--- Polls a run until it reaches a final status (see nuon.wait), sleeping
-- with `ngx.sleep` and reading the clock with `ngx.now` unless `opts.sleep`
-- and `opts.clock` say otherwise.
function Client:wait_sandbox_run(install_id, run_id, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(format("nuon: wait_sandbox_run: options must be a table (got %s)", type(opts)), 2)
  end
  local o = { sleep = ngx.sleep, clock = now }
  for k, v in pairs(opts or {}) do o[k] = v end
  -- a tail call: wait's argument errors then blame the caller's line
  return wait.wait_sandbox_run(self, install_id, run_id, o)
end

return _M
