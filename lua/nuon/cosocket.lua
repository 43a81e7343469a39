--- nuon.cosocket: HTTP/1.1 on nginx's cosockets, the transport of
-- `nuon.resty`.  It moves bytes only: connect (keep-alive pools, TLS, CONNECT
-- tunnels through an http:// proxy), send the request `core.protocol` builds,
-- read the status, header lines and body (Content-Length, chunked, or up to
-- close), and hand each attempt's response, or the named failure below HTTP,
-- to `core.protocol`, which decides whether and when to try again and builds
-- the result or error (src/protocol.c, src/response.c: the rules the libcurl
-- transports follow).
-- @module nuon.cosocket
-- luacheck: read globals ngx
local core = require "nuon.core"
local config = require "nuon.config"
local errors = require "nuon.errors"

local ngx = ngx -- nil outside nginx: the module still loads
local type, tostring, tonumber = type, tostring, tonumber
local floor, ceil, min = math.floor, math.ceil, math.min
local find, match, gsub, lower, format = string.find, string.match, string.gsub, string.lower, string.format
local concat = table.concat

local _M = {}

local MAX_HEADER_BYTES = 65536 -- a response's status line and headers, together
local READ_CHUNK = 65536       -- bytes asked of the socket at a time
local TLS_HINT = "nginx checks certificates against lua_ssl_trusted_certificate: set it to the CA"
  .. " that signed the server's certificate"

--- nginx's clock, up to date (seconds).
function _M.now()
  ngx.update_time()
  return ngx.now()
end
local now = _M.now

-- ---------------------------------------------------------------------------
-- One attempt: connect (or reuse), send, read the response.  A failure is
-- { failure = name, message = ... } (names: src/exchange.c), as core.protocol
-- takes it.

local function fail(name, message) return { failure = name, message = message } end

local function timed_out(st)
  return fail("timeout", format("Operation timed out after %d milliseconds with %d bytes received",
    floor((now() - st.started) * 1000 + 0.5), st.got))
end

-- Sets the socket's timeout to what is left of the attempt: true, or nil
-- when the deadline has passed.
local function arm(sock, st)
  local ms = ceil((st.deadline - now()) * 1000)
  if ms <= 0 then return nil end
  sock:settimeout(ms)
  return true
end

local function io_failure(st, err, name, what)
  if err == "timeout" then return timed_out(st) end
  return fail(name, what .. ": " .. tostring(err))
end

-- Reads one line (without its end) within the deadline: line, or nil, err
-- (a failure table or the socket's error string).
local function read_line(sock, st)
  if not arm(sock, st) then return nil, timed_out(st) end
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  st.head = st.head + #line + 2
  if st.head > MAX_HEADER_BYTES then
    return nil, fail("protocol", "response headers exceed " .. MAX_HEADER_BYTES .. " bytes")
  end
  return line
end

-- The failure for a line that could not be read; closed_as: the failure a
-- closed connection is, { name, message }.
local function line_failure(st, err, closed_as)
  if type(err) == "table" then return err end
  if err == "closed" and closed_as then return fail(closed_as[1], closed_as[2]) end
  return io_failure(st, err, "recv", "Recv failure")
end

local CHUNK_CLOSED = { "partial", "transfer closed with outstanding read data remaining" }

-- Reads n bytes (nil: until the server closes) into st.parts, within max_body.
local function read_bytes(sock, st, n)
  while n == nil or n > 0 do
    if not arm(sock, st) then return nil, timed_out(st) end
    local data, err = sock:receiveany(n and min(n, READ_CHUNK) or READ_CHUNK)
    if not data then
      if err == "closed" and n == nil then return true end
      if err == "closed" then
        return nil, st.chunked and fail(CHUNK_CLOSED[1], CHUNK_CLOSED[2])
          or fail("partial", format("transfer closed with %d bytes remaining to read", n))
      end
      return nil, io_failure(st, err, "recv", "Recv failure")
    end
    st.got = st.got + #data
    if st.got > st.max_body then return nil, fail("too_large") end
    st.parts[#st.parts + 1] = data
    if n then n = n - #data end
  end
  return true
end

local function read_chunked(sock, st)
  st.chunked = true
  while true do
    local line, err = read_line(sock, st)
    if not line then return nil, line_failure(st, err, CHUNK_CLOSED) end
    local size = tonumber(match(line, "^%s*(%x+)") or "", 16)
    if not size then return nil, fail("protocol", "invalid chunk size in the response") end
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
    if line ~= "" then return nil, fail("protocol", "invalid chunk framing in the response") end
  end
end

-- Reads a response: { status, headers = lines of the final block, body,
-- reusable }, or nil, failure (.empty when nothing at all arrived).
local function read_response(sock, st)
  local line, err, version, status, lines, h
  repeat -- skip 1xx interim responses
    line, err = read_line(sock, st)
    if not line then
      local f = line_failure(st, err, st.head == 0 and { "empty", "Empty reply from server" } or nil)
      f.empty = st.head == 0
      return nil, f
    end
    version, status = match(line, "^HTTP/(%d%.%d) (%d%d%d)")
    status = tonumber(status)
    if not status then return nil, fail("protocol", "invalid HTTP response from the server") end
    lines, h = {}, {} -- h: the framing headers, lower-cased
    while true do
      line, err = read_line(sock, st)
      if not line then return nil, line_failure(st, err) end
      if line == "" then break end
      lines[#lines + 1] = line
      local name, value = match(line, "^([^:%s]+)%s*:%s*(.-)%s*$")
      name = name and lower(name)
      if name == "content-length" and h[name] and h[name] ~= value then
        return nil, fail("protocol", "conflicting Content-Length headers in the response")
      elseif name then
        h[name] = h[name] and name ~= "content-length" and h[name] .. ", " .. value or value
      end
    end
  until status >= 200

  local te, cl, framed, ok, f = lower(h["transfer-encoding"] or ""), h["content-length"], true
  if status == 204 or status == 304 then
    ok = true
  elseif find(te, "chunked", 1, true) then
    ok, f = read_chunked(sock, st)
  elseif cl then
    local n = find(cl, "^%d+$") and tonumber(cl)
    if not n then return nil, fail("protocol", "invalid Content-Length in the response") end
    if n > st.max_body then return nil, fail("too_large") end -- refuse early
    ok, f = read_bytes(sock, st, n)
  else
    framed = false -- the body ends when the server closes the connection
    ok, f = read_bytes(sock, st, nil)
  end
  if not ok then return nil, f end
  return { status = status, headers = lines, body = concat(st.parts),
    reusable = framed and version == "1.1" and not find(lower(h.connection or ""), "close", 1, true) }
end

-- Opens an HTTP CONNECT tunnel through the proxy (a fresh connection).
local function tunnel(sock, p, st)
  if not arm(sock, st) then return nil, timed_out(st) end
  local ok, err = sock:send(p.connect_request)
  if not ok then return nil, io_failure(st, err, "send", "Send failure") end
  local aborted = { "connect", "Proxy CONNECT aborted" }
  local line
  line, err = read_line(sock, st)
  local status = line and tonumber(match(line, "^HTTP/%d%.%d (%d%d%d)") or "")
  while line and line ~= "" do line, err = read_line(sock, st) end
  if not line then return nil, line_failure(st, err, aborted) end
  st.head = 0
  if not status or status < 200 or status > 299 then
    return nil, fail("connect", "CONNECT tunnel failed, response " .. tostring(status or "invalid"))
  end
  return true
end

-- One attempt on one connection: a response, or nil, failure; failure.stale
-- when a reused keep-alive connection died before answering.
local function attempt_once(p, request, started, deadline)
  local st = { started = started, deadline = deadline, got = 0, head = 0, parts = {}, max_body = p.max_body }
  local sock, err = ngx.socket.tcp()
  if not sock then return nil, fail("setup", "cannot create a socket: " .. tostring(err)) end
  if not arm(sock, st) then return nil, timed_out(st) end
  sock:settimeout(min(ceil((deadline - now()) * 1000), p.connect_timeout_ms))
  local ok
  ok, err = sock:connect(p.connect_host, p.connect_port, p.pool_opts)
  if not ok then
    if err == "timeout" then
      return nil, fail("timeout", format("Connection timed out after %d milliseconds",
        floor((now() - started) * 1000 + 0.5)))
    end
    -- a missing `resolver` is nginx's configuration: trying again cannot help
    return nil, fail(find(tostring(err), "no resolver defined", 1, true) and "setup" or "connect",
      format("Failed to connect to %s port %d: %s", p.connect_name, p.connect_port, tostring(err)))
  end
  local reused = (sock:getreusedtimes() or 0) > 0
  local function bail(f)
    sock:close()
    f.stale = reused and f.failure ~= "timeout" and f.failure ~= "too_large" and (f.empty or f.unsent)
    return nil, f
  end
  if not reused and p.connect_request then
    local tok, f = tunnel(sock, p, st)
    if not tok then return bail(f) end
  end
  if not reused and p.tls then
    if not arm(sock, st) then return bail(timed_out(st)) end
    local done
    done, err = sock:sslhandshake(false, p.server_name, p.verify) -- false: no session object
    if not done then
      if err == "timeout" then return bail(timed_out(st)) end
      err = tostring(err)
      if p.verify and (find(err, "^%d+: ") or find(err, "certificate", 1, true)) then
        return bail { failure = "tls_verify", message = err, hint = TLS_HINT }
      end
      return bail(fail("tls", "TLS handshake failed: " .. err))
    end
    -- lua-nginx-module 0.10.23 (Debian 12) reports success when a handshake
    -- that completed at once failed verification, having closed the socket:
    -- a closed socket here is that failure (the reason went to error.log).
    if not sock:getreusedtimes() then
      if not p.verify then return bail(fail("tls", "TLS handshake failed: closed")) end
      return bail { failure = "tls_verify", hint = TLS_HINT,
        message = "reason not reported; lua_socket_log_errors on logs it" }
    end
  end
  if not arm(sock, st) then return bail(timed_out(st)) end
  local sent
  sent, err = sock:send(request)
  if not sent then
    local f = io_failure(st, err, "send", "Send failure")
    f.unsent = true
    return bail(f)
  end
  local res, f = read_response(sock, st)
  if not res then return bail(f) end
  if not (res.reusable and p.keepalive_ms > 0 and sock:setkeepalive(p.keepalive_ms)) then sock:close() end
  return res
end

-- One attempt within the per-attempt timeout: a response or a failure.  A
-- pooled connection the server closed meanwhile costs another connection,
-- not an attempt.
local function attempt(p, request)
  local started = now()
  local res, f
  for _ = 1, p.keepalive_pool + 1 do
    res, f = attempt_once(p, request, started, started + p.timeout)
    if res or not f.stale then break end
  end
  return res or f
end

--- One request of `path` (from `p.protocol`) on the connection settings `p`
-- (`open`), with the protocol's retries; waits with `ngx.sleep`.
-- @return what `core.protocol`'s `result` returns: runs or a run, or nil, err
function _M.fetch(p, path, strict, known_values, single)
  local request = "GET " .. p.target_prefix .. path .. " HTTP/1.1\r\n" .. p.head
  local n, res, delay = 0
  repeat
    n = n + 1
    res = attempt(p, request)
    delay = p.protocol:retry(n, res)
    if delay then ngx.sleep(delay) end
  until not delay
  return p.protocol:result(n, res, strict, known_values, single)
end

-- The proxy option, "http://[user:password@]host[:port]" or "host[:port]":
-- host, port, Proxy-Authorization header line or nil.
local function parse_proxy(proxy)
  local scheme, rest = match(proxy, "^(%a[%w+.%-]*)://(.*)$")
  if scheme and lower(scheme) ~= "http" then
    errors.raise("resty.new", "option 'proxy' must be an http:// proxy (got a %s:// URL): nginx's"
      .. " cosockets speak no other proxy protocol", lower(scheme))
  end
  local host, port, userinfo = config.host_port(match(rest or proxy, "^[^/?#]*"))
  port = tonumber(port) or 1080 -- libcurl's default proxy port
  if not host or port < 1 or port > 65535 then
    errors.raise("resty.new", "option 'proxy' must be an http:// proxy URL with a host")
  end
  local user, pass = match(userinfo or "", "^([^:]*):?(.*)$")
  return host, port, userinfo and "Proxy-Authorization: Basic "
    .. ngx.encode_base64(ngx.unescape_uri(user) .. ":" .. ngx.unescape_uri(pass))
end

--- The connection settings of a client: `s` the resolved settings
-- (`nuon.config`), `keepalive` seconds (60), `pool_size` connections (16).
-- @return a table for `fetch`, holding `protocol` (core.protocol) and the
-- request head with the token: keep it from callers
function _M.open(s, keepalive, pool_size)
  local scheme, host, port, prefix = config.split_url(s.base_url)
  local tls = lower(scheme) == "https"
  port = tonumber(port) or (tls and 443 or 80)
  local authority = port == (tls and 443 or 80) and host or host .. ":" .. port
  local bare = gsub(host, "^%[(.*)%]$", "%1")
  local protocol = core.protocol(s)
  local p = {
    protocol = protocol, tls = tls, verify = s.verify_tls, server_name = bare,
    connect_host = host, connect_port = port, connect_name = bare,
    timeout = s.timeout, connect_timeout_ms = ceil(s.connect_timeout * 1000),
    max_body = protocol:max_body(), target_prefix = prefix,
    keepalive_ms = floor((keepalive or 60) * 1000), keepalive_pool = pool_size or 16,
  }
  local head = protocol:headers()
  table.insert(head, 1, "Host: " .. authority)
  local pool = { "nuon", lower(scheme), host, tostring(port), s.verify_tls and "verify" or "noverify" }
  if s.proxy then
    local phost, pport, pauth = parse_proxy(s.proxy)
    p.connect_host, p.connect_port, p.connect_name = phost, pport, (gsub(phost, "^%[(.*)%]$", "%1"))
    if tls then -- a tunnel to the API host; the proxy sees only the CONNECT request
      p.connect_request = "CONNECT " .. host .. ":" .. port .. " HTTP/1.1\r\nHost: " .. host .. ":" .. port
        .. "\r\n" .. (pauth and pauth .. "\r\n" or "") .. "\r\n"
    else
      p.target_prefix = "http://" .. authority .. prefix
      head[#head + 1] = pauth
    end
    -- the pool name must not carry the credentials: their hash keeps apart
    -- tunnels opened with different ones
    pool[#pool + 1] = "via " .. phost .. ":" .. pport .. (pauth and " " .. ngx.md5(pauth) or "")
  end
  p.head = concat(head, "\r\n") .. "\r\n\r\n"
  p.pool_opts = { pool = concat(pool, " "), pool_size = p.keepalive_pool }
  return p
end

return _M
