-- schema/gen.lua: src/schema_gen.h from schema/sandbox_runs.schema.json, the
-- one source of the C core's schema (every object type, field, kind, enum
-- value and provenance).  `make schema` runs it; `make lint` and
-- spec/schema_spec.lua check that the committed header is what it makes.
--
--   lua5.4 schema/gen.lua [--check] SCHEMA.json HEADER.h
--   local gen = dofile("schema/gen.lua")   -- gen.model(doc), gen.header(doc)
--
-- What it reads (and it refuses anything else, naming where: a keyword the
-- C tables cannot hold must not be dropped unseen):
--   - the types: the `$defs` entry the root array's items refer to (named RUN
--     in C: decode.c starts there) and every object type it reaches;
--   - a property: "type" string, integer (at most int64's bounds), boolean;
--     an object of strings (a map); an array of strings; a `$ref` to an
--     object type or an enum; an array of `$ref` object types; each with or
--     without null (`anyOf` with {"type": "null"}, or "null" in "type"): the
--     decoder takes null as absent for every kind;
--   - an enum: a `$defs` entry with "x-nuon-enum" (its name in nuon), its
--     values in "enum" (or "examples", for an open set such as the run's
--     status), each with its "x-nuon-provenance";
--   - annotations, kept as C comments or ignored: description, $comment,
--     examples, a property's x-nuon-provenance.
-- Types come root first, then by schema name; fields and enums by name;
-- enum values in the schema's order.
local cjson = require "cjson"

local M = {}

local concat, sort = table.concat, table.sort

local function fail(where, msg)
  error("schema/gen.lua: " .. where .. ": " .. msg, 0)
end

local function is_array(t)
  return type(t) == "table" and (next(t) == nil or t[1] ~= nil)
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  sort(out)
  return out
end

-- Every key of t must be in allowed (a set).
local function only(t, allowed, where)
  for _, k in ipairs(sorted_keys(t)) do
    if not allowed[k] then fail(where, "keyword " .. k .. " has no place in the C tables") end
  end
end

local function set(...)
  local s = {}
  for _, k in ipairs{ ... } do s[k] = true end
  return s
end

local PROPERTY = set("type", "$ref", "anyOf", "items", "additionalProperties", "minimum", "maximum",
  "description", "$comment", "examples", "x-nuon-provenance")
local OBJECT_DEF = set("type", "properties", "additionalProperties", "description", "$comment")
local ENUM_DEF = set("type", "enum", "examples", "x-nuon-enum", "x-nuon-provenance", "description", "$comment")
local INT64_MIN, INT64_MAX = -2 ^ 63, 2 ^ 63 -- as doubles, which is how cjson reads them

-- The C name of a type: RUN for the root's items, else the schema name
-- without "app." in upper snake case (app.AppAWSDelegationConfig ->
-- APP_AWS_DELEGATION_CONFIG).
local function c_type_name(name)
  local s = name:gsub("^app%.", ""):gsub("%.", "_")
  s = s:gsub("(%u)(%u%l)", "%1_%2"):gsub("(%l)(%u)", "%1_%2"):gsub("(%d)(%u)", "%1_%2")
  return s:upper()
end

local function def_name(ref, where)
  local name = type(ref) == "string" and ref:match("^#/%$defs/(.+)$")
  if not name then fail(where, "$ref " .. tostring(ref) .. " is not #/$defs/NAME") end
  return name
end

-- Reads one enum definition: { name, c, values = { {value, provenance}... } }.
local function read_enum(def, schema_name)
  local where = "$defs/" .. schema_name
  only(def, ENUM_DEF, where)
  if def.type ~= "string" then fail(where, "an enum must be of type string") end
  local name = def["x-nuon-enum"]
  if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_]*$") then
    fail(where, "x-nuon-enum must be a lower-case C identifier")
  end
  if def.enum ~= nil and def.examples ~= nil then fail(where, "enum and examples: the values must be in one list") end
  local list = def.enum or def.examples
  if not is_array(list) or #list == 0 then fail(where, "an enum needs its values in enum (or examples, if open)") end
  local prov = def["x-nuon-provenance"]
  if type(prov) ~= "table" or is_array(prov) then
    fail(where, "x-nuon-provenance must map each value to its provenance")
  end
  local values, seen = {}, {}
  for i, v in ipairs(list) do
    if type(v) ~= "string" then fail(where, "value #" .. i .. " is not a string") end
    if seen[v] then fail(where, "value " .. string.format("%q", v) .. " is listed twice") end
    seen[v] = true
    local p = prov[v]
    if type(p) ~= "string" then fail(where, "value " .. string.format("%q", v) .. " has no provenance") end
    values[i] = { v, p }
  end
  for _, v in ipairs(sorted_keys(prov)) do
    if not seen[v] then fail(where, "x-nuon-provenance names " .. string.format("%q", v) .. ", not a value") end
  end
  return { name = name, c = name:upper(), schema_name = schema_name, values = values }
end

-- The model of a schema document:
--   { types = { {name, c, fields = { {name, kind, ref, provenance}... }}... },
--     enums = { {name, c, schema_name, values = { {value, provenance}... }}... } }
-- kind is one of string integer boolean object array map enum strings; ref
-- the type's schema name (object, array) or the enum's name (enum).
function M.model(doc)
  local defs = doc["$defs"]
  if type(defs) ~= "table" then fail("#", "no $defs") end
  if doc.type ~= "array" or type(doc.items) ~= "table" then fail("#", "the root must be an array of $ref items") end
  local root = def_name(doc.items["$ref"], "#/items")

  local types, enums, queue = {}, {}, { root }
  local function def_of(name, where)
    local def = defs[name]
    if type(def) ~= "table" then fail(where, "no $defs entry " .. name) end
    return def
  end
  -- An object type by schema name, queued to be read once.
  local function object_ref(name, where)
    local def = def_of(name, where)
    if def["x-nuon-enum"] then fail(where, name .. " is an enum, not an object type") end
    if not types[name] then
      types[name] = { name = name, c = name == root and "RUN" or c_type_name(name) }
      queue[#queue + 1] = name
    end
    return name
  end
  local function enum_ref(name, where)
    if not enums[name] then enums[name] = read_enum(def_of(name, where), name) end
    return enums[name].name
  end

  -- The kind and ref of property schema p.
  local function kind_of(p, where)
    if type(p) ~= "table" or is_array(p) then fail(where, "not a schema object") end
    only(p, PROPERTY, where)
    if p.anyOf ~= nil then
      local alts, other, nulls = p.anyOf, nil, 0
      for _, alt in ipairs(is_array(alts) and alts or {}) do
        if type(alt) == "table" and alt.type == "null" and next(alt, next(alt)) == nil then
          nulls = nulls + 1
        else
          other = other == nil and alt or false
        end
      end
      if not is_array(alts) or #alts ~= 2 or nulls ~= 1 or not other or p.type ~= nil or p["$ref"] ~= nil then
        fail(where, "anyOf must be one schema and {\"type\": \"null\"}")
      end
      return kind_of(other, where)
    end
    if p["$ref"] ~= nil then
      if p.type ~= nil or p.items ~= nil or p.additionalProperties ~= nil then
        fail(where, "$ref with other keywords")
      end
      local name = def_name(p["$ref"], where)
      if def_of(name, where)["x-nuon-enum"] then return "enum", enum_ref(name, where) end
      return "object", object_ref(name, where)
    end
    local t = p.type
    if type(t) == "table" then -- ["string", "null"]: null is absent anyway
      local rest = {}
      for _, x in ipairs(t) do if x ~= "null" then rest[#rest + 1] = x end end
      if #rest ~= 1 then fail(where, "a type list must be one type and null") end
      t = rest[1]
    end
    if (p.minimum ~= nil or p.maximum ~= nil) and t ~= "integer" then
      fail(where, "minimum/maximum on a " .. tostring(t))
    end
    if p.items ~= nil and t ~= "array" then fail(where, "items on a " .. tostring(t)) end
    if p.additionalProperties ~= nil and t ~= "object" then fail(where, "additionalProperties on a " .. tostring(t)) end
    if t == "string" or t == "boolean" then
      return t
    elseif t == "integer" then
      -- the decoder reads integers within int64; a narrower bound it would not check
      if (p.minimum ~= nil and p.minimum - INT64_MIN ~= 0) or (p.maximum ~= nil and p.maximum - INT64_MAX ~= 0) then
        fail(where, "an integer's bounds can only be int64's")
      end
      return "integer"
    elseif t == "object" then
      local ap = p.additionalProperties
      if type(ap) == "table" and ap.type == "string" and next(ap, next(ap)) == nil then return "map" end
      fail(where, "an object property is a $ref to a $defs type, or a map: additionalProperties {\"type\": \"string\"}")
    elseif t == "array" then
      local items = p.items
      if type(items) ~= "table" then fail(where, "an array needs items") end
      if items.type == "string" and next(items, next(items)) == nil then return "strings" end
      if items["$ref"] ~= nil and next(items, next(items)) == nil then
        local name = def_name(items["$ref"], where .. "/items")
        if def_of(name, where)["x-nuon-enum"] then fail(where, "an array of enum values has no kind in C") end
        return "array", object_ref(name, where)
      end
      fail(where, "array items are a $ref to a $defs type or {\"type\": \"string\"}")
    end
    fail(where, "type " .. tostring(t) .. " has no kind in C")
  end

  object_ref(root, "#/items")
  local i = 1
  while queue[i] do
    local name = queue[i]
    i = i + 1
    local def, where = defs[name], "$defs/" .. name
    only(def, OBJECT_DEF, where)
    if def.type ~= "object" then fail(where, "an object type must be of type object") end
    if def.additionalProperties ~= nil and def.additionalProperties ~= true then
      fail(where, "additionalProperties must be true: the decoder keeps every key it does not know")
    end
    local props = def.properties
    if type(props) ~= "table" or next(props) == nil then fail(where, "an object type needs properties") end
    local fields = {}
    for _, field in ipairs(sorted_keys(props)) do
      local fwhere = where .. "/properties/" .. field
      if not field:match("^[%a_][%w_]*$") then fail(fwhere, "a field name must be a C identifier") end
      local kind, ref = kind_of(props[field], fwhere)
      local prov = props[field]["x-nuon-provenance"]
      if prov ~= nil and type(prov) ~= "string" then fail(fwhere, "x-nuon-provenance must be a string") end
      fields[#fields + 1] = { name = field, kind = kind, ref = ref, provenance = prov }
    end
    types[name].fields = fields
  end

  local model = { types = {}, enums = {} }
  for _, name in ipairs(sorted_keys(types)) do
    if name ~= root then model.types[#model.types + 1] = types[name] end
  end
  table.insert(model.types, 1, types[root])
  local by_enum_name, cs = {}, {}
  for _, name in ipairs(sorted_keys(enums)) do
    local e = enums[name]
    if by_enum_name[e.name] then
      fail("$defs/" .. name, "x-nuon-enum " .. e.name .. " is taken by " .. by_enum_name[e.name])
    end
    by_enum_name[e.name] = name
    model.enums[#model.enums + 1] = e
  end
  sort(model.enums, function(a, b) return a.name < b.name end)
  for _, ty in ipairs(model.types) do
    if cs[ty.c] then fail("$defs/" .. ty.name, "its C name " .. ty.c .. " is taken by " .. cs[ty.c]) end
    cs[ty.c] = ty.name
  end
  return model
end

-- A C string literal.
local function c_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\%03o", c:byte()) end) .. '"'
end

local function c_comment(s)
  if s:find("*/", 1, true) then error("schema/gen.lua: a comment may not hold */: " .. s, 0) end
  return "/* " .. s .. " */"
end

-- Lines joined into one macro definition, the backslashes aligned.
local function macro(head, lines)
  local out, width = { head }, #head
  for _, l in ipairs(lines) do if #l > width then width = #l end end
  for i, l in ipairs(lines) do out[i + 1] = l end
  for i = 1, #out - 1 do out[i] = out[i] .. string.rep(" ", width - #out[i]) .. " \\" end
  return concat(out, "\n")
end

-- The text of src/schema_gen.h for schema document doc.
function M.header(doc)
  local model = M.model(doc)
  local c_of, enum_c_of = {}, {}
  for _, ty in ipairs(model.types) do c_of[ty.name] = ty.c end
  for _, e in ipairs(model.enums) do enum_c_of[e.name] = e.c end
  local out = {
    "/*",
    " * schema_gen.h - GENERATED by schema/gen.lua from schema/sandbox_runs.schema.json:",
    " * edit the schema and run `make schema`, never this file (make lint and",
    " * spec/schema_spec.lua check that it is current).  schema.c expands the lists.",
    " *",
    " * NUON_SCHEMA_TYPES(T)  T(ID, \"schema name\"): the object types, the run first",
    " * NUON_FIELDS_<ID>(F)   F(name, kind, ref): a type's fields by name; ref is the",
    " *                       type (OBJECT, ARRAY) or enum (ENUM) id, else 0",
    " * NUON_SCHEMA_ENUMS(E)  E(ID, \"name in nuon\"): the enums by name",
    " * NUON_VALUES_<ID>(V)   V(\"value\", \"provenance\"): an enum's values in order",
    " */",
    "#ifndef NUON_SCHEMA_GEN_H",
    "#define NUON_SCHEMA_GEN_H",
    "",
  }
  local lines = {}
  for _, ty in ipairs(model.types) do lines[#lines + 1] = "  T(" .. ty.c .. ", " .. c_string(ty.name) .. ")" end
  out[#out + 1] = macro("#define NUON_SCHEMA_TYPES(T)", lines)
  out[#out + 1] = ""
  for _, ty in ipairs(model.types) do
    lines = {}
    for _, f in ipairs(ty.fields) do
      local ref = "0"
      if f.kind == "object" or f.kind == "array" then ref = "NUON_T_" .. c_of[f.ref] end
      if f.kind == "enum" then ref = "NUON_E_" .. enum_c_of[f.ref] end
      local l = "  F(" .. f.name .. ", NUON_K_" .. f.kind:upper() .. ", " .. ref .. ")"
      if f.provenance then l = l .. " " .. c_comment(f.provenance) end
      lines[#lines + 1] = l
    end
    out[#out + 1] = "/* " .. ty.name .. " */"
    out[#out + 1] = macro("#define NUON_FIELDS_" .. ty.c .. "(F)", lines)
    out[#out + 1] = ""
  end
  lines = {}
  for _, e in ipairs(model.enums) do lines[#lines + 1] = "  E(" .. e.c .. ", " .. c_string(e.name) .. ")" end
  out[#out + 1] = macro("#define NUON_SCHEMA_ENUMS(E)", lines)
  out[#out + 1] = ""
  for _, e in ipairs(model.enums) do
    lines = {}
    for _, v in ipairs(e.values) do lines[#lines + 1] = "  V(" .. c_string(v[1]) .. ", " .. c_string(v[2]) .. ")" end
    out[#out + 1] = "/* " .. e.schema_name .. " */"
    out[#out + 1] = macro("#define NUON_VALUES_" .. e.c .. "(V)", lines)
    out[#out + 1] = ""
  end
  out[#out + 1] = "#endif /* NUON_SCHEMA_GEN_H */"
  return concat(out, "\n") .. "\n"
end

local function read(path)
  local fh, err = io.open(path, "rb")
  if not fh then return nil, err end
  local s = fh:read("*a")
  fh:close()
  return s
end

-- The header for the schema file at path.
function M.header_of_file(path)
  local text = assert(read(path))
  local ok, doc = pcall(cjson.decode, text)
  if not ok then error("schema/gen.lua: " .. path .. ": " .. tostring(doc), 0) end
  return M.header(doc)
end

-- true if the file at header_path is what the schema at schema_path makes,
-- else nil and a message.
function M.check(schema_path, header_path)
  local ok, text = pcall(M.header_of_file, schema_path)
  if not ok then return nil, text end
  if read(header_path) ~= text then
    return nil, header_path .. " is not what schema/gen.lua makes of " .. schema_path .. ": run make schema"
  end
  return true
end

-- Command line: writes HEADER, or with --check compares it and returns 1
-- when it differs (so does a schema it refuses).
function M.main(args)
  local check = args[1] == "--check"
  local schema_path, header_path = args[check and 2 or 1], args[check and 3 or 2]
  if not (schema_path and header_path) then
    io.stderr:write("usage: schema/gen.lua [--check] SCHEMA.json HEADER.h\n")
    return 2
  end
  local ok, text
  if check then
    ok, text = M.check(schema_path, header_path)
  else
    ok, text = pcall(M.header_of_file, schema_path)
    if ok then
      local fh = assert(io.open(header_path, "wb"))
      fh:write(text)
      fh:close()
    end
  end
  if not ok then
    io.stderr:write(tostring(text), "\n")
    return 1
  end
  return 0
end

-- Run as a script (arg[0] is this file), it does its job; dofile() gives
-- the module.
if arg and arg[0] and debug.getinfo(1, "S").source == "@" .. arg[0] then os.exit(M.main(arg)) end
return M
