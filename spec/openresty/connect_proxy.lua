-- A minimal HTTP CONNECT proxy for spec/openresty_spec.lua (LuaSocket, any Lua):
--
--   lua5.4 spec/openresty/connect_proxy.lua LOG_FILE [TTL_SECONDS]
--
-- Listens on 127.0.0.1 and a free port, prints "PORT PID" on the first line of
-- stdout, answers each `CONNECT host:port` with 200 and then relays bytes both
-- ways. Appends one line per CONNECT to LOG_FILE: the request line, then the
-- Proxy-Authorization value or "-". Exits after TTL_SECONDS (default 120).
local socket = require "socket"

local log_path, ttl = arg[1], tonumber(arg[2] or 120)
assert(log_path, "usage: connect_proxy.lua LOG_FILE [TTL_SECONDS]")

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local _, port = server:getsockname()
local stat = io.open("/proc/self/stat")
local pid = stat and stat:read("*l"):match("^(%d+)") or "0"
if stat then stat:close() end
io.stdout:write(port, " ", pid, "\n")
io.stdout:flush()

local heads = {}   -- client socket -> bytes of its CONNECT request so far
local peer = {}    -- relayed socket -> the other end

local function log(line)
  local f = io.open(log_path, "a")
  if f then
    f:write(line, "\n")
    f:close()
  end
end

local function drop(s)
  local o = peer[s]
  peer[s], heads[s] = nil, nil
  s:close()
  if o then
    peer[o] = nil
    o:close()
  end
end

local function send_all(s, data)
  s:settimeout(5)
  local ok = s:send(data)
  s:settimeout(0)
  return ok
end

local function on_head(c, head)
  heads[c] = nil
  local target = head:match("^CONNECT (%S+) HTTP/1%.%d\r\n")
  local auth = head:match("\r\n[Pp]roxy%-[Aa]uthorization:%s*([^\r]*)\r\n")
  log((head:match("^([^\r]*)") or "?") .. "\t" .. (auth or "-"))
  local host, tport = (target or ""):match("^%[?([^%]]*)%]?:(%d+)$")
  local up = host and socket.tcp()
  if up then
    up:settimeout(5)
    if not up:connect(host, tonumber(tport)) then
      up:close()
      up = nil
    end
  end
  if not up then
    send_all(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
    return c:close()
  end
  up:settimeout(0)
  send_all(c, "HTTP/1.1 200 Connection established\r\n\r\n")
  peer[c], peer[up] = up, c
end

local deadline = socket.gettime() + ttl
while socket.gettime() < deadline do
  local watch = { server }
  for s in pairs(heads) do watch[#watch + 1] = s end
  for s in pairs(peer) do watch[#watch + 1] = s end
  local ready = socket.select(watch, nil, 0.5)
  for _, s in ipairs(ready) do
    if s == server then
      local c = server:accept()
      if c then
        c:settimeout(0)
        heads[c] = ""
      end
    elseif heads[s] then
      local data, err, partial = s:receive(4096)
      data = data or partial or ""
      if err == "closed" then
        drop(s)
      else
        local buf = heads[s] .. data
        local head = buf:match("^(.-\r\n\r\n)")
        if head then on_head(s, head) else heads[s] = buf end
      end
    elseif peer[s] then
      local data, err, partial = s:receive(65536)
      data = data or partial
      if data and #data > 0 and not send_all(peer[s], data) then
        drop(s)
      elseif err == "closed" then
        drop(s)
      end
    end
  end
end
