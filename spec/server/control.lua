-- The control API of the test server, under /__nuon/ on the same port. JSON in
-- and out; only for tests. See spec/server/README.md.
local cjson = require "cjson.safe"
local store = require "server.store"
local config = require "server.config"
-- luacheck: globals ngx

local ngx = ngx

local M = {}

local function reply(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(type(value) == "string" and value or cjson.encode(value))
  return ngx.exit(ngx.HTTP_OK)
end

local function bad(msg)
  return reply(400, { error = msg })
end

local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local file = ngx.req.get_body_file()
    if file then
      local fh = io.open(file, "rb")
      if fh then
        body = fh:read("*a")
        fh:close()
      end
    end
  end
  return body or ""
end

local function read_json()
  local text = read_body()
  if text == "" then return {} end
  local v = cjson.decode(text)
  if type(v) ~= "table" then return nil end
  return v
end

local function number_or_nil(v)
  if v == nil or v == cjson.null then return nil end
  return tonumber(v)
end

-- Paging misbehaviours an install can be given (handler.lua, `misbehave`).
local PAGING = {
  ignore = true, ["repeat"] = true, zero_limit = true, stuck_offset = true,
  negative = true, overflow = true, empty_next = true, objects = true,
}

-- POST /__nuon/installs { id, count, flavor, seed, bridge?, now?, latency_ms?, paging?,
--   objects? }
-- Without `count` an existing install keeps its runs (e.g. to set latency_ms
-- or paging).
local function post_install(body)
  if type(body.id) ~= "string" or body.id == "" then return bad("id (a string) is required") end
  if body.paging ~= nil and body.paging ~= cjson.null and not PAGING[body.paging] then
    return bad("paging must be one of ignore, repeat, zero_limit, stuck_offset, negative,"
      .. " overflow, empty_next, objects")
  end
  local paging = body.paging ~= cjson.null and body.paging or nil
  local spec = store.get_install(body.id)
  if body.count == nil and spec then
    if body.latency_ms ~= nil then spec.latency_ms = number_or_nil(body.latency_ms) end
    if body.paging ~= nil then spec.paging = paging end
    spec = store.update_install(spec)
    return reply(200, spec)
  end
  local count = number_or_nil(body.count) or 25
  local flavor = body.flavor or "mixed"
  if flavor ~= "legacy" and flavor ~= "current" and flavor ~= "mixed" then
    return bad("flavor must be legacy, current or mixed")
  end
  if count < 0 or count > 1000000 then return bad("count out of range") end
  local bridge
  if type(body.bridge) == "boolean" then bridge = body.bridge end
  local saved, err = store.put_install({
    id = body.id, count = math.floor(count), flavor = flavor, seed = number_or_nil(body.seed) or 1,
    bridge = bridge, now = number_or_nil(body.now), latency_ms = number_or_nil(body.latency_ms),
    paging = paging, objects = number_or_nil(body.objects),
  })
  if not saved then return reply(500, { error = err }) end
  return reply(200, saved)
end

-- POST /__nuon/faults { install = id|"*", times, status, body, headers, delay,
-- stall, close, retry_after }
local function post_fault(body)
  local f = {
    install = body.install or "*", times = number_or_nil(body.times) or 1,
    status = number_or_nil(body.status), body = body.body, headers = body.headers,
    delay = number_or_nil(body.delay), stall = number_or_nil(body.stall),
    close = body.close == true or nil, retry_after = body.retry_after,
  }
  if f.body ~= nil and type(f.body) ~= "string" then return bad("body must be a string") end
  if f.headers ~= nil and type(f.headers) ~= "table" then return bad("headers must be an object") end
  if f.retry_after ~= nil then f.retry_after = tostring(f.retry_after) end
  if f.times < 1 then return bad("times must be >= 1") end
  return reply(200, { queued = store.add_fault(f) })
end

local function list(t)
  if #t == 0 then return "[]" end
  return cjson.encode(t)
end

function M.handle(handler, path)
  local method = ngx.req.get_method()
  local segs = {}
  for seg in path:sub(9):gmatch("[^/]+") do
    segs[#segs + 1] = handler.unescape(seg) or seg
  end
  local what, id, sub = segs[1], segs[2], segs[3]

  if what == "health" and method == "GET" then
    return reply(200, { ok = true, instance = handler.instance, pid = ngx.worker.pid(),
      token = config.token, org_id = config.org_id, demo = config.demo })
  elseif what == "reset" and method == "POST" then
    store.reset()
    return reply(200, { ok = true })
  elseif what == "requests" and not id then
    if method == "GET" then return reply(200, store.requests_json()) end
    if method == "DELETE" then
      store.clear_requests()
      return reply(200, { ok = true })
    end
  elseif what == "inflight" and not id and method == "GET" then
    return reply(200, store.inflight())
  elseif what == "connections" and id and not sub and method == "GET" then
    return reply(200, { port = id, count = store.connections(id) })
  elseif what == "faults" and not id then
    if method == "GET" then return reply(200, list(store.faults())) end
    if method == "DELETE" then
      store.clear_faults()
      return reply(200, { ok = true })
    end
    if method == "POST" then
      local body = read_json()
      if not body then return bad("expected a JSON object") end
      return post_fault(body)
    end
  elseif what == "installs" then
    if not id then
      if method == "GET" then return reply(200, list(store.list_installs())) end
      if method == "POST" then
        local body = read_json()
        if not body then return bad("expected a JSON object") end
        return post_install(body)
      end
    elseif not sub then
      if method == "GET" then
        local spec = store.get_install(id)
        if not spec then return reply(404, { error = "unknown install" }) end
        return reply(200, spec)
      end
      if method == "DELETE" then
        store.delete_install(id)
        return reply(200, { ok = true })
      end
    elseif sub == "insert" and method == "POST" then
      local body = read_json()
      local n = body and number_or_nil(body.count)
      if not n or n < 1 then return bad("count (>= 1) is required") end
      local spec = store.insert(id, math.floor(n))
      if not spec then return reply(404, { error = "unknown or custom install" }) end
      return reply(200, spec)
    elseif sub == "runs" and method == "POST" then
      local spec, err = store.set_body(id, read_body())
      if not spec then return reply(500, { error = err }) end
      return reply(200, spec)
    end
  end
  return reply(404, { error = "unknown control endpoint: " .. method .. " " .. path })
end

return M
