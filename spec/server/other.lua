-- "Another host" for the tests (a second listener of the test server, on
-- 127.0.0.2 where the system allows it): it is not the API, it only records
-- what reaches it, so a spec can prove that nothing (least of all the token or
-- the org id) was sent there, e.g. after the API answered with a redirect.
--
--   GET    /__other/requests   the log, oldest first: { method, uri, headers }
--   DELETE /__other/requests   clear it
--   anything else              logged, then 200 "[]" with X-Nuon-Page-Next: false
--                              (so a client that wrongly went there would succeed
--                              and the spec would notice twice)
local cjson = require "cjson.safe"
-- luacheck: globals ngx

local ngx = ngx
local dict = ngx.shared.nuon_other

local M = {}

local MAX = 500

local function reply(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(body)
  return ngx.exit(ngx.HTTP_OK)
end

local function log_json()
  local out = {}
  for i = 1, math.min(dict:get("n") or 0, MAX) do out[#out + 1] = dict:get("req:" .. i) end
  return "[" .. table.concat(out, ",") .. "]"
end

function M.handle()
  local uri = ngx.var.request_uri
  local method = ngx.req.get_method()
  if uri == "/__other/requests" then
    if method == "GET" then return reply(200, log_json()) end
    if method == "DELETE" then
      dict:flush_all()
      return reply(200, '{"ok":true}')
    end
  end
  local n = dict:incr("n", 1, 0)
  if n <= MAX then
    dict:set("req:" .. n, cjson.encode({ method = method, uri = uri, headers = ngx.req.get_headers(100) }))
  end
  ngx.header["X-Nuon-Page-Next"] = "false"
  return reply(200, "[]")
end

return M
