-- bench/validate.lua: peer (b) of the decode benchmark -- cjson.decode followed
-- by a plain pure-Lua walk over schema/sandbox_runs.schema.json, the way a
-- user would write it: the schema is loaded with cjson and interpreted as the
-- walk goes ($ref, anyOf with null, type, enum, properties,
-- additionalProperties, items, minimum/maximum).  It does what nuon's decoder
-- does to the same data, no more:
--   - a wrong JSON type is an error (nil, message with the path);
--   - a value outside its enum is a warning { path, value, enum } (non-strict),
--     the known values being the schema's plus, when new() is given them
--     (nuon.enums: the same ones, or more), those of the enum x-nuon-enum
--     names; "" is unset, never a warning;
--   - today's `runner_jobs` is validated as an array of app.RunnerJob and
--     `runner_job` is set to its first item when absent.
-- Paths are kept as a stack and turned into text only for a warning or an
-- error. Enum values are looked up in a set made once per enum.
--
--   local validate = require "validate"
--   local v = validate.new("schema/sandbox_runs.schema.json" [, nuon.enums])
--   local runs, err = v:decode(text)         -- cjson.decode + v:check(runs)
local cjson = require "cjson"

local type, pairs, ipairs, next, tostring = type, pairs, ipairs, next, tostring
local floor, concat = math.floor, table.concat
local null = cjson.null

local M = {}
M.__index = M

local function read(path)
  local fh = assert(io.open(path, "rb"))
  local s = fh:read("*a")
  fh:close()
  return s
end

function M.new(schema_path, known)
  local schema = cjson.decode(read(schema_path))
  local defs = schema["$defs"]
  for _, def in pairs(defs) do
    local extra = known and def["x-nuon-enum"] and known[def["x-nuon-enum"]]
    if def.enum and extra then
      for _, v in ipairs(extra) do def.enum[#def.enum + 1] = v end
    end
  end
  return setmetatable({ schema = schema, defs = defs, enum_sets = {} }, M)
end

-- The path stack as text: [3].runner_job.status
local function path_text(path, n)
  local out = {}
  for i = 1, n do
    local p = path[i]
    if type(p) == "number" then out[#out + 1] = "[" .. p .. "]"
    elseif i == 1 then out[#out + 1] = p
    else out[#out + 1] = "." .. p end
  end
  return concat(out)
end

local function json_type(v)
  local t = type(v)
  if t == "string" or t == "boolean" then return t end
  if t == "number" then return (v % 1 == 0) and "integer" or "number" end
  if v == null then return "null" end
  if t == "table" then
    if next(v) == nil then return "empty" end  -- cjson: {} and [] look alike
    return v[1] ~= nil and "array" or "object"
  end
  return t
end

local function type_ok(want, got)
  if want == got then return true end
  if got == "empty" then return want == "array" or want == "object" end
  if got == "integer" then return want == "number" end
  return false
end

-- check(self, node, v, path, depth) -> true | false, message
local function check(self, node, v, path, depth)
  local ref = node["$ref"]
  if ref then node = self.defs[ref:match("^#/%$defs/(.+)$")] end
  local any = node.anyOf
  if any then
    if v == null then
      for _, alt in ipairs(any) do
        if alt.type == "null" then return true end
      end
      return false, path_text(path, depth) .. ": null not allowed"
    end
    for _, alt in ipairs(any) do
      if alt.type ~= "null" then return check(self, alt, v, path, depth) end
    end
  end
  local want = node.type
  if want then
    local got = json_type(v)
    local ok = false
    if type(want) == "table" then
      for _, w in ipairs(want) do
        if type_ok(w, got) then ok = true; break end
      end
    else
      ok = type_ok(want, got)
    end
    if not ok then
      return false, ("%s: %s expected, got %s"):format(path_text(path, depth), tostring(want[1] or want), got)
    end
    if got == "null" then return true end
  end
  if node.minimum and (v < node.minimum or v > node.maximum) then
    return false, path_text(path, depth) .. ": integer out of range"
  end
  local enum = node.enum
  if enum then
    local set = self.enum_sets[enum]
    if not set then
      set = { [""] = true } -- Go's zero value: unset
      for _, e in ipairs(enum) do set[e] = true end
      self.enum_sets[enum] = set
    end
    if not set[v] then
      local w = self.warnings
      w[#w + 1] = { path = path_text(path, depth), value = v, enum = ref and ref:match("[^/]+$") }
    end
    return true
  end
  local props = node.properties
  if props then
    for k, sub in pairs(props) do
      local x = v[k]
      if x ~= nil then
        path[depth + 1] = k
        local ok, err = check(self, sub, x, path, depth + 1)
        if not ok then return false, err end
      end
    end
    local rjs = props.runner_jobs and v.runner_jobs
    if rjs and rjs ~= null and v.runner_job == nil then v.runner_job = rjs[1] end
  end
  local add = node.additionalProperties
  if type(add) == "table" then
    for k, x in pairs(v) do
      if not (props and props[k]) then
        path[depth + 1] = k
        local ok, err = check(self, add, x, path, depth + 1)
        if not ok then return false, err end
      end
    end
  end
  local items = node.items
  if items and type(v) == "table" then
    for i = 1, #v do
      path[depth + 1] = i
      local ok, err = check(self, items, v[i], path, depth + 1)
      if not ok then return false, err end
    end
  end
  return true
end

-- Validates decoded runs in place; returns runs (with .warnings) or nil, err.
function M:check(runs)
  self.warnings = {}
  local ok, err = check(self, self.schema, runs, {}, 0)
  local warnings = self.warnings
  self.warnings = nil
  if not ok then return nil, err end
  runs.warnings = warnings
  return runs
end

function M:decode(text)
  local ok, runs = pcall(cjson.decode, text)
  if not ok then return nil, runs end
  return self:check(runs)
end

M._floor = floor
return M
