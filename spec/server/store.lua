-- State of the test API server, kept in the `nuon` lua_shared_dict so it
-- survives across requests (and a worker restart):
--
--   install:<id>   JSON spec { id, count (runs served), base (runs generated),
--                  flavor, seed, bridge, now, latency_ms, inserts = { n, ... },
--                  demo, custom, version }
--   body:<id>      a raw response body set by POST /__nuon/installs/<id>/runs
--   fault:<n>      queued faults, FIFO between fault:head and fault:tail
--   log:<n>        request log entries between log:head and log:tail
--   seq            version counter
--
-- Run data is never stored: the generator is deterministic, so each worker
-- materialises an install's runs from its spec and caches them by version.
local cjson = require "cjson.safe"
local generator = require "server.generator"
local config = require "server.config"
-- luacheck: globals ngx

local dict = ngx.shared.nuon
local concat = table.concat

local M = {}

-- worker-local: id -> { version = n, runs = { json, ... } }
local cache = {}

local function next_seq()
  return dict:incr("seq", 1, 0)
end

local function decode(s)
  if not s then return nil end
  return cjson.decode(s)
end

---------------------------------------------------------------------------
-- Installs

local function materialise(spec)
  local opts = { count = spec.base or spec.count, flavor = spec.flavor, seed = spec.seed, bridge = spec.bridge,
    now = spec.now }
  local runs, info = generator.runs(spec.id, opts)
  for batch, n in ipairs(spec.inserts or {}) do
    opts.after, opts.batch = info.newest, batch
    local newer
    newer, info = generator.newer(spec.id, n, opts)
    for i = 1, #runs do newer[n + i] = runs[i] end
    runs = newer
  end
  return runs
end

function M.get_install(id)
  return decode(dict:get("install:" .. id))
end

-- The runs of an install, newest first, or nil (unknown) or the custom body.
function M.runs(id)
  local spec = M.get_install(id)
  if not spec then
    cache[id] = nil
    return nil
  end
  if spec.custom then
    return nil, dict:get("body:" .. id) or "[]", spec
  end
  local c = cache[id]
  if not c or c.version ~= spec.version then
    c = { version = spec.version, runs = materialise(spec) }
    cache[id] = c
  end
  return c.runs, nil, spec
end

local function save(spec)
  spec.version = next_seq()
  local ok, err = dict:set("install:" .. spec.id, cjson.encode(spec))
  if not ok then return nil, err end
  return spec
end

-- Creates or replaces an install; its runs are generated right away so the
-- first sandbox-runs request does not pay for it.
function M.put_install(spec)
  dict:delete("body:" .. spec.id)
  spec.base = spec.count
  local saved, err = save(spec)
  if not saved then return nil, err end
  local runs = M.runs(spec.id)
  spec.count = #runs
  return spec
end

-- The id of a run's JSON text (its first key, in Go struct order; else any
-- "id" at the top level).
local function run_id_of(text)
  local id = text:match('^%s*{%s*"id"%s*:%s*"([^"]*)"')
  if id then return id end
  local v = cjson.decode(text)
  return type(v) == "table" and type(v.id) == "string" and v.id or nil
end

-- The items of a JSON array text, as texts (nil when it is not an array).
local function split_array(text)
  local _, e = text:find("^%s*%[")
  if not e then return nil end
  local i, n, out = e + 1, #text, {}
  local depth, start, in_str = 0, nil, false
  while i <= n do
    local c = text:sub(i, i)
    if in_str then
      if c == "\\" then i = i + 1 elseif c == '"' then in_str = false end
    elseif c == '"' then
      in_str = true
      start = start or i
    elseif c == "{" or c == "[" then
      depth = depth + 1
      start = start or i
    elseif c == "}" or c == "]" then
      if depth == 0 then -- the array's end
        if start then out[#out + 1] = text:sub(start, i - 1):match("^(.-)%s*$") end
        return out
      end
      depth = depth - 1
    elseif c == "," and depth == 0 then
      out[#out + 1] = text:sub(start or i, i - 1):match("^(.-)%s*$")
      start = nil
    elseif not c:find("%s") then
      start = start or i
    end
    i = i + 1
  end
  return out
end
M.split_array = split_array

-- The JSON text of the run `run_id` in any install (GetInstallSandboxRunV2
-- looks a run up by its id alone), or nil.
function M.find_run(run_id)
  for _, key in ipairs(dict:get_keys(0)) do
    if key:sub(1, 8) == "install:" then
      local id = key:sub(9)
      local runs, custom = M.runs(id)
      if custom then runs = split_array(custom) or {} end
      local c = cache[id]
      if runs and not custom and c then
        if not c.index then
          c.index = {}
          for i = 1, #runs do c.index[run_id_of(runs[i]) or ""] = i end
        end
        local i = c.index[run_id]
        if i then return runs[i] end
      elseif runs then
        for i = 1, #runs do
          if run_id_of(runs[i]) == run_id then return runs[i] end
        end
      end
    end
  end
end

function M.update_install(spec)
  return save(spec)
end

function M.set_body(id, body)
  local spec = M.get_install(id) or { id = id }
  spec.custom, spec.count, spec.base, spec.inserts = true, nil, nil, nil
  spec.paging, spec.objects = nil, nil -- the body is served as it is
  local ok, err = dict:set("body:" .. id, body)
  if not ok then return nil, err end
  return save(spec)
end

function M.insert(id, n)
  local spec = M.get_install(id)
  if not spec or spec.custom then return nil end
  spec.inserts = spec.inserts or {}
  spec.inserts[#spec.inserts + 1] = n
  spec.count = spec.count + n
  save(spec)
  M.runs(id)
  return spec
end

function M.delete_install(id)
  dict:delete("install:" .. id)
  dict:delete("body:" .. id)
  cache[id] = nil
end

function M.list_installs()
  local out = {}
  for _, key in ipairs(dict:get_keys(0)) do
    if key:sub(1, 8) == "install:" then out[#out + 1] = M.get_install(key:sub(9)) end
  end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

function M.load_demo()
  for _, d in ipairs(config.demo) do
    local spec = M.get_install(d.id)
    local pristine = spec and spec.count == d.count and not spec.custom and not spec.inserts
      and spec.flavor == d.flavor and spec.seed == d.seed and not spec.latency_ms
    if not pristine then
      M.put_install({ id = d.id, count = d.count, flavor = d.flavor, seed = d.seed, demo = true })
    end
  end
end

---------------------------------------------------------------------------
-- FIFO lists (faults, request log) over numbered keys.

local function list_push(name, value, cap)
  local tail = dict:incr(name .. ":tail", 1, 0)
  dict:set(name .. ":" .. tail, value)
  local head = dict:get(name .. ":head") or 1
  while cap and tail - head + 1 > cap do
    dict:delete(name .. ":" .. head)
    head = head + 1
  end
  dict:set(name .. ":head", head)
  return tail
end

local function list_items(name)
  local head, tail = dict:get(name .. ":head") or 1, dict:get(name .. ":tail") or 0
  local out = {}
  for i = head, tail do
    local v = dict:get(name .. ":" .. i)
    if v then out[#out + 1] = { i, v } end
  end
  return out
end

local function list_clear(name)
  local head, tail = dict:get(name .. ":head") or 1, dict:get(name .. ":tail") or 0
  for i = head, tail do dict:delete(name .. ":" .. i) end
  dict:set(name .. ":head", tail + 1)
end

---------------------------------------------------------------------------
-- Faults

function M.add_fault(f)
  list_push("fault", cjson.encode(f))
  return #list_items("fault")
end

function M.faults()
  local out = {}
  for _, item in ipairs(list_items("fault")) do out[#out + 1] = decode(item[2]) end
  return out
end

-- Takes one use of the oldest fault matching this install (or "*") and
-- route (when the fault names one).  Runs without yielding, so it is atomic
-- within the single worker.
function M.take_fault(install_id, route)
  for _, item in ipairs(list_items("fault")) do
    local f = decode(item[2])
    if (f.install == "*" or (install_id and f.install == install_id))
      and (f.route == nil or f.route == route) then
      f.times = (f.times or 1) - 1
      if f.times <= 0 then
        dict:delete("fault:" .. item[1])
      else
        dict:set("fault:" .. item[1], cjson.encode(f))
      end
      return f
    end
  end
end

function M.clear_faults()
  list_clear("fault")
end

---------------------------------------------------------------------------
-- Request log

function M.log_request(entry)
  entry.seq = (dict:get("log:tail") or 0) + 1
  return list_push("log", cjson.encode(entry), config.request_log_size)
end

function M.finish_request(seq, status, answered)
  local key = "log:" .. seq
  local entry = decode(dict:get(key))
  if entry then
    entry.status = status
    entry.answered = answered
    dict:replace(key, cjson.encode(entry))
  end
end

-- The log as a JSON array text, oldest first.
function M.requests_json()
  local items = list_items("log")
  local out = {}
  for i, item in ipairs(items) do out[i] = item[2] end
  return "[" .. concat(out, ",") .. "]"
end

function M.clear_requests()
  list_clear("log")
end

---------------------------------------------------------------------------

-- Requests being answered now, and the most at once since the last reset
-- (sandbox-runs requests only: the control API is not counted).
function M.inflight_enter()
  local n = dict:incr("inflight", 1, 0)
  if n > (dict:get("inflight:max") or 0) then dict:set("inflight:max", n) end
end
function M.inflight_leave() dict:incr("inflight", -1, 0) end
function M.inflight()
  return { current = dict:get("inflight") or 0, max = dict:get("inflight:max") or 0 }
end

-- The connections each port has served a request on since the last reset.
function M.note_connection(port, conn)
  if dict:add("conn:" .. port .. ":" .. conn, true) then dict:incr("conns:" .. port, 1, 0) end
end
function M.connections(port) return dict:get("conns:" .. port) or 0 end
local function clear_counters()
  dict:set("inflight:max", dict:get("inflight") or 0)
  for _, k in ipairs(dict:get_keys(0)) do
    if k:find("^conns?:") then dict:delete(k) end
  end
end

function M.reset()
  M.clear_faults()
  M.clear_requests()
  clear_counters()
  local demo = {}
  for _, d in ipairs(config.demo) do demo[d.id] = true end
  for _, spec in ipairs(M.list_installs()) do
    if not demo[spec.id] then M.delete_install(spec.id) end
  end
  M.load_demo()
end

return M
