-- Talk to the test API server (spec/server) from specs: Lua 5.4 and LuaJIT,
-- LuaSocket + cjson.
--
--   local ts = require "helpers.testserver"
--   ts.url, ts.token, ts.org_id
--   ts.demo[1] = { id = "inldemo25runsmixed00000001", count = 25, flavor = "mixed", seed = 1 }
--   ts.demo[2] = { id = "inldemo120runsmixed0000002", count = 120, ... seed = 2 }
--   ts.demo[3] = { id = "inldemo250runsmixed0000003", count = 250, ... seed = 3 }
--   ts.reset()                                  faults, request log, non-demo installs
--   ts.install{ id =, count =, flavor =, seed =, bridge =, latency_ms = }
--   ts.insert(id, n)                            n newer runs on top (later pages shift)
--   ts.set_body(id, text)                       serve this body verbatim
--   ts.fault{ install =, times =, status =, body =, headers =, delay =, stall =,
--             close =, retry_after =, route = }
--   ts.without_run_route(install)               the single-run route answers gin's plain-text
--                                              404 for this install, as before October 2025
--   ts.requests(), ts.clear_requests()         the request log, oldest first
--   ts.last_request(), ts.header(req, name)    its newest entry; a header of one, any case
--   ts.client(opts, defaults)                  nuon.new on this server (max_backoff = 0.05),
--                                              then defaults, then opts on top
--   ts.get(path, headers) / ts.raw(bytes)      raw HTTP: { status, headers, body }
--
--   ts.tls_url                                  the same API over HTTPS (nil without openssl)
--   ts.h2_url                                   ... and over HTTP/2 (h2 by ALPN)
--   ts.inflight()                               { current, max }: sandbox-runs requests being
--                                               answered, the most at once since reset()
--   ts.settle()                                 waits until none is being answered
--   ts.max_in_flight(requests)                  the most of these log entries answered at once
--   ts.connections(url)                         connections the listener of url served
--                                               requests on since reset()
--   ts.ca_file, ts.other_ca_file                the CA that signed its certificate; an unrelated CA
--   ts.other_url                                "another host" that only records what reaches it
--   ts.other_requests(), ts.clear_other_requests()  its log: { method, uri, headers }
--
-- The URL comes from $NUON_TEST_URL, else build/server/url (spec/server/start.sh);
-- the others from $NUON_TEST_TLS_URL, $NUON_TEST_OTHER_URL and $NUON_TEST_CA_FILE,
-- else from the server's directory ($NUON_TEST_SERVER_DIR or build/server/).
local socket = require "socket"
local cjson = require "cjson"

local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "spec/helpers"
-- absolute, so paths handed to other processes (nginx's CA file) still hold
-- from their own working directory
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/../.."
if not package.path:find(root .. "/spec/?.lua", 1, true) then
  package.path = root .. "/spec/?.lua;" .. package.path
end
local config = require "server.config"

local ts = {}

local function read_file(path)
  local fh = io.open(path, "r")
  if not fh then return nil end
  local s = fh:read("*a")
  fh:close()
  return s
end

local server_dir = os.getenv("NUON_TEST_SERVER_DIR") or (root .. "/build/server")
if server_dir == "" then server_dir = root .. "/build/server" end

-- $NAME, else the first line of the server directory's `file`, else nil
local function setting(name, file)
  local v = os.getenv(name)
  if not v or v == "" then v = (read_file(server_dir .. "/" .. file) or ""):match("^%s*(.-)%s*$") end
  if v == "" then return nil end
  return v
end

ts.url = os.getenv("NUON_TEST_URL")
if not ts.url or ts.url == "" then
  ts.url = (read_file(root .. "/build/server/url") or ""):match("^%s*(.-)%s*$")
end
ts.tls_url = setting("NUON_TEST_TLS_URL", "tls_url")
ts.other_url = setting("NUON_TEST_OTHER_URL", "other_url")
ts.h2_url = setting("NUON_TEST_H2_URL", "h2_url")
ts.ca_file = os.getenv("NUON_TEST_CA_FILE")
if not ts.ca_file or ts.ca_file == "" then ts.ca_file = server_dir .. "/tls/ca.crt" end
ts.other_ca_file = ts.ca_file:gsub("ca%.crt$", "other-ca.crt")
ts.token = config.token
ts.org_id = config.org_id
ts.demo = {}
for i, d in ipairs(config.demo) do
  ts.demo[i] = { id = d.id, count = d.count, flavor = d.flavor, seed = d.seed }
end

local host, port = ts.url:match("^http://([^:/]+):(%d+)")
port = tonumber(port)

---------------------------------------------------------------------------
-- Raw HTTP/1.1 over one short-lived connection.

local function read_chunked(sock)
  local parts = {}
  while true do
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local size = tonumber(line:match("^%x+"), 16)
    if not size then return nil, "bad chunk size: " .. line end
    if size == 0 then
      repeat line = sock:receive("*l") until not line or line == ""
      return table.concat(parts)
    end
    local data, err2 = sock:receive(size)
    if not data then return nil, err2 end
    parts[#parts + 1] = data
    sock:receive("*l")
  end
end

-- Sends `request` (the exact bytes) and reads one response.
-- Returns { status = n, reason = s, headers = { lowercase = value }, body = s }
-- or nil, err ("closed" when the server hung up without answering).
-- `url` (default ts.url) picks another plain-HTTP listener.
function ts.raw(request, timeout, url)
  local h, p = host, port
  if url then
    h, p = url:match("^http://([^:/]+):(%d+)")
    p = tonumber(p)
  end
  local sock = socket.tcp()
  sock:settimeout(timeout or 10)
  local ok, err = sock:connect(h, p)
  if not ok then return nil, err end
  sock:send(request)
  local line
  line, err = sock:receive("*l")
  if not line then
    sock:close()
    return nil, err
  end
  local res = { headers = {} }
  res.status, res.reason = line:match("^HTTP/1%.%d (%d+) ?(.*)$")
  res.status = tonumber(res.status)
  while true do
    line, err = sock:receive("*l")
    if not line then
      sock:close()
      return nil, err
    end
    if line == "" then break end
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    k = k:lower()
    if res.headers[k] then res.headers[k] = res.headers[k] .. ", " .. v else res.headers[k] = v end
  end
  local body
  if request:match("^HEAD ") then
    body = ""
  elseif (res.headers["transfer-encoding"] or ""):lower():find("chunked") then
    body, err = read_chunked(sock)
  elseif res.headers["content-length"] then
    body, err = sock:receive(tonumber(res.headers["content-length"]))
  else
    body, err = sock:receive("*a")
  end
  sock:close()
  if not body then return nil, err, res end
  res.body = body
  return res
end

-- GET `path` (sent as is) with `headers` (a table, added to Host and
-- Connection: close). Default headers: the test token and org unless
-- `headers` is given.
function ts.request(method, path, headers, body)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: " .. host .. ":" .. port, "Connection: close" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  return ts.raw(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
end

function ts.auth_headers(extra)
  local h = { Authorization = "Bearer " .. ts.token, ["X-Nuon-Org-ID"] = ts.org_id }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

function ts.get(path, headers)
  return ts.request("GET", path, headers or ts.auth_headers())
end

---------------------------------------------------------------------------
-- Control API

local function escape_segment(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
ts.escape_segment = escape_segment

local function control(method, path, body)
  if type(body) == "table" then body = cjson.encode(body) end
  local res, err = ts.request(method, "/__nuon/" .. path, { ["Content-Type"] = "application/json" }, body)
  if not res then error("test server " .. method .. " /__nuon/" .. path .. ": " .. tostring(err), 3) end
  if res.status ~= 200 then
    error("test server " .. method .. " /__nuon/" .. path .. ": " .. res.status .. " " .. res.body, 3)
  end
  return cjson.decode(res.body)
end
ts.control = control

function ts.health() return control("GET", "health") end
function ts.reset() return control("POST", "reset") end
function ts.install(spec) return control("POST", "installs", spec) end
function ts.install_info(id) return control("GET", "installs/" .. escape_segment(id)) end
function ts.insert(id, n) return control("POST", "installs/" .. escape_segment(id) .. "/insert", { count = n }) end
function ts.set_body(id, text) return control("POST", "installs/" .. escape_segment(id) .. "/runs", text) end
function ts.fault(f) return control("POST", "faults", f) end
function ts.faults() return control("GET", "faults") end
function ts.without_run_route(install)
  return ts.fault{ install = install, route = "run", status = 404, body = "404 page not found",
    headers = { ["Content-Type"] = "text/plain" }, times = 1000 }
end
function ts.clear_faults() return control("DELETE", "faults") end
function ts.requests() return control("GET", "requests") end
function ts.inflight() return control("GET", "inflight") end
ts.max_in_flight = require("helpers.inflight")

-- Waits (up to 10 s) until no sandbox-runs request is being answered: a
-- client that gave up (a timeout spec) leaves the server sleeping on its
-- request, which would count in the next spec's in-flight maximum.
function ts.settle()
  for _ = 1, 200 do
    if ts.inflight().current <= 0 then return end
    socket.sleep(0.05)
  end
  error("the test server still answers requests after 10 s", 2)
end
function ts.connections(url)
  local p = assert(url:match(":(%d+)/?$"), "no port in " .. url)
  return control("GET", "connections/" .. p).count
end
function ts.clear_requests() return control("DELETE", "requests") end

function ts.last_request()
  local log = ts.requests()
  return log[#log]
end

function ts.header(req, name)
  name = name:lower()
  for k, v in pairs(req.headers) do
    if k:lower() == name then return v end
  end
end

function ts.client(opts, defaults)
  local o = { base_url = ts.url, token = ts.token, org_id = ts.org_id, max_backoff = 0.05 }
  for k, v in pairs(defaults or {}) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("nuon").new(o)
end

-- The "other host" (spec/server/other.lua) answers on its own listener.
local function other(method)
  assert(ts.other_url, "no other-host listener (spec/server/start.sh writes other_url)")
  local o_host, o_port = ts.other_url:match("^http://([^:/]+):(%d+)")
  local res, err = ts.raw(method .. " /__other/requests HTTP/1.1\r\nHost: " .. o_host .. ":" .. o_port
    .. "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 10, ts.other_url)
  if not res or res.status ~= 200 then
    error("other host " .. method .. " /__other/requests: " .. tostring(res and res.status or err), 2)
  end
  return cjson.decode(res.body)
end
function ts.other_requests() return other("GET") end
function ts.clear_other_requests() return other("DELETE") end

return ts
