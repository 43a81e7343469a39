--- nuon.format: runs as text for people and tools — JSON, CSV and aligned
-- tables.  Used by `nuon-runs`, the Neovim commands and `examples/export.lua`,
-- so each format is written once.
--
--    local format = require "nuon.format"
--    print(format.json(runs, { array = true }))          -- a JSON array of the runs
--    for _, line in ipairs(format.table(format.run_rows(runs), format.RUN_COLUMNS)) do print(line) end
--
-- JSON keeps every number exactly (lua-cjson 2.1 rounds to 14 digits, which
-- loses the API's int64 nanosecond timeouts), sorts object keys, writes
-- NaN and infinities as null and a sequence as an array.  An empty Lua table
-- is an empty object unless `array` says otherwise: the decoder makes `[]` and
-- `{}` the same table.
--
-- @module nuon.format
local core = require "nuon.core"

local type, pairs, tostring, tonumber = type, pairs, tostring, tonumber
local raise = require("nuon.errors").raise
local format, gsub, byte, rep = string.format, string.gsub, string.byte, string.rep
local concat, sort = table.concat, table.sort
local floor, huge = math.floor, math.huge
local mtype = math.type -- nil before Lua 5.3 and on LuaJIT

local _M = { _VERSION = core.VERSION }

local MAX_DEPTH = 1000 -- nesting; a deeper (or cyclic) table is a programmer error

-- ---------------------------------------------------------------------------
-- JSON

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
              ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. gsub(s, '[%c"\\]', function(c)
    return ESC[c] or format("\\u%04x", byte(c))
  end) .. '"'
end

local function json_number(v)
  if v ~= v or v == huge or v == -huge then return "null" end
  if (mtype and mtype(v) == "integer") or (v == floor(v) and v > -2^53 and v < 2^53) then
    return format("%d", v)
  end
  if v == floor(v) and v > -2^63 and v < 2^63 then -- a double beyond 2^53 (Lua 5.1, 5.2, LuaJIT)
    return format("%.0f", v)
  end
  for digits = 15, 17 do -- the shortest text that reads back as the same number
    local s = format("%." .. digits .. "g", v)
    if tonumber(s) == v then return s end
  end
  return format("%.17g", v)
end

local encode

local function json_table(t, out, indent, depth, as_array)
  if depth > MAX_DEPTH then raise("format.json", "tables nested deeper than %d", MAX_DEPTH) end
  local n, keys = #t, {}
  for k in pairs(t) do keys[#keys + 1] = k end
  local nl, pad, inner = "", "", ""
  if indent then
    nl, pad, inner = "\n", rep(indent, depth - 1), rep(indent, depth)
  end
  if as_array or (n > 0 and #keys == n) then -- a sequence
    if n == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[" .. nl
    for k = 1, n do
      if k > 1 then out[#out + 1] = "," .. nl end
      out[#out + 1] = inner
      encode(t[k], out, indent, depth + 1)
    end
    out[#out + 1] = nl .. pad .. "]"
    return
  end
  if #keys == 0 then out[#out + 1] = "{}" return end
  local names, by_name = {}, {}
  for k = 1, #keys do
    local name = tostring(keys[k])
    names[k], by_name[name] = name, keys[k]
  end
  sort(names)
  out[#out + 1] = "{" .. nl
  for k = 1, #names do
    if k > 1 then out[#out + 1] = "," .. nl end
    out[#out + 1] = inner .. json_string(names[k]) .. (indent and ": " or ":")
    encode(t[by_name[names[k]]], out, indent, depth + 1)
  end
  out[#out + 1] = nl .. pad .. "}"
end

function encode(v, out, indent, depth, as_array)
  local t = type(v)
  if t == "string" then out[#out + 1] = json_string(v)
  elseif t == "number" then out[#out + 1] = json_number(v)
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "table" then json_table(v, out, indent, depth, as_array)
  else out[#out + 1] = "null" end
end

--- A value as JSON text.
-- @param v a string, number, boolean, nil or table of these
-- @tparam[opt] table opts `indent` (a string, e.g. "  ": pretty-printed),
--   `array` (true: the top-level table is the array of its items 1 to #t,
--   even when empty; other keys, such as `runs.warnings`, are left out)
-- @treturn string
function _M.json(v, opts)
  opts = opts or {}
  local out = {}
  encode(v, out, opts.indent, 1, opts.array)
  return concat(out)
end

-- ---------------------------------------------------------------------------
-- CSV (RFC 4180: CRLF line ends; fields with , " CR or LF quoted, quotes doubled)

--- One CSV field.
function _M.csv_field(v)
  if v == nil then return "" end
  v = tostring(v)
  if v:find('[,"\r\n]') then return '"' .. gsub(v, '"', '""') .. '"' end
  return v
end

--- One CSV line (with its CRLF) of `values[name]` for each column.
-- @tparam table values name -> value
-- @tparam table columns sequence of `{ name = ... }` or of names
function _M.csv_row(values, columns)
  local out = {}
  for k = 1, #columns do
    local c = columns[k]
    out[k] = _M.csv_field(values[type(c) == "table" and c.name or c])
  end
  return concat(out, ",") .. "\r\n"
end

-- ---------------------------------------------------------------------------
-- Aligned tables

--- Rows as lines of aligned columns: a header line of the titles, then one
-- line per row; each column as wide as its widest cell, two spaces apart,
-- no trailing blanks.
-- @tparam table rows sequence of name -> value tables
-- @tparam table columns sequence of `{ name = "id", title = "ID" }`
-- @treturn table sequence of lines
function _M.table(rows, columns)
  local widths, cells = {}, {}
  for c = 1, #columns do widths[c] = #columns[c].title end
  for r = 1, #rows do
    local line = {}
    for c = 1, #columns do
      local v = rows[r][columns[c].name]
      v = v == nil and "" or tostring(v)
      line[c] = v
      if #v > widths[c] then widths[c] = #v end
    end
    cells[r] = line
  end
  local function render(values)
    local parts = {}
    for c = 1, #columns do
      parts[c] = c < #columns and values[c] .. rep(" ", widths[c] - #values[c]) or values[c]
    end
    return (gsub(concat(parts, "  "), "%s+$", ""))
  end
  local titles = {}
  for c = 1, #columns do titles[c] = columns[c].title end
  local lines = { render(titles) }
  for r = 1, #cells do lines[r + 1] = render(cells[r]) end
  return lines
end

-- ---------------------------------------------------------------------------
-- Runs

--- The columns a list of runs shows: id, created, type, status, job status.
_M.RUN_COLUMNS = {
  { name = "id", title = "ID" },
  { name = "created_at", title = "CREATED" },
  { name = "run_type", title = "TYPE" },
  { name = "status", title = "STATUS" },
  { name = "job_status", title = "JOB STATUS" },
}

--- A run as a flat row for `RUN_COLUMNS` (and CSV): its fields, with
-- `job_status` from `runner_job.status`.
-- @tparam table run
-- @treturn table
function _M.run_row(run)
  local job = type(run.runner_job) == "table" and run.runner_job or {}
  return {
    id = run.id, created_at = run.created_at, updated_at = run.updated_at,
    run_type = run.run_type, status = run.status, job_status = job.status,
    status_description = run.status_description, install_id = run.install_id,
  }
end

--- `run_row` of each run.
function _M.run_rows(runs)
  local rows = {}
  for k = 1, #runs do rows[k] = _M.run_row(runs[k]) end
  return rows
end

return _M
