--- nuon.time: RFC 3339 timestamps <-> epoch seconds, in UTC.
--
-- Pure arithmetic (days-from-civil), never os.time/os.date, which work in the
-- local time zone and cannot reach year 0001 on every platform.  Runs on Lua
-- 5.4 and LuaJIT 2.1 alike (no integer division operator, no utf8, no bit ops).
--
-- @module nuon.time
local type, tostring, tonumber = type, tostring, tonumber
local floor = math.floor
local raise = require("nuon.errors").raise
local finite = require("nuon.args").finite
local match, sub, format, gsub, byte =
  string.match, string.sub, string.format, string.gsub, string.byte

local _M = {}

-- Days from 1970-01-01 to the proleptic Gregorian date y-m-d (Howard
-- Hinnant's algorithm; valid for any year, 0 and negatives included).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400                                   -- [0, 399]
  local mp = m > 2 and m - 3 or m + 9                         -- March = 0
  local doy = floor((153 * mp + 2) / 5) + d - 1               -- [0, 365]
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- The inverse: y, m, d of a day count since 1970-01-01.
local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097                                -- [0, 146096]
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function days_in_month(y, m)
  if m == 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then return 29 end
  return MONTH_DAYS[m]
end

local POW10 = { 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 }

local EXPECTED = "expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"

-- Quotes a user's string for a message: bounded, control characters escaped.
local function quote(s)
  if #s > 64 then s = sub(s, 1, 64) .. "..." end
  s = gsub(s, "%c", function(c) return format("\\%d", byte(c)) end)
  return "'" .. s .. "'"
end

local function fail(s, reason)
  return nil, "invalid timestamp " .. quote(s) .. ": " .. reason
end

-- Seconds east of UTC of a zone offset +HH:MM (-HH:MM when `west`).
local function east(oh, om, west)
  local offset = oh * 3600 + om * 60
  if west then return -offset end
  return offset
end

-- The epoch seconds of a checked date and time at a zone offset.
local function to_seconds(Y, M, D, h, mi, sec, frac, offset)
  local t = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - offset
  if frac ~= 0 then t = t + frac end
  return t
end

-- The fast path: bytes, no captures, no intermediate strings.  Returns nil
-- for anything it does not accept; parse() then explains why.
local function parse_fast(s)
  local n = #s
  if n < 20 then return nil end
  local y1, y2, y3, y4, x1, m1, m2, x2, d1, d2, x3, h1, h2, x4, i1, i2, x5, s1, s2 = byte(s, 1, 19)
  if x1 ~= 45 or x2 ~= 45 or x4 ~= 58 or x5 ~= 58 or (x3 ~= 84 and x3 ~= 116 and x3 ~= 32)
    or y1 < 48 or y1 > 57 or y2 < 48 or y2 > 57 or y3 < 48 or y3 > 57 or y4 < 48 or y4 > 57
    or m1 < 48 or m1 > 57 or m2 < 48 or m2 > 57 or d1 < 48 or d1 > 57 or d2 < 48 or d2 > 57
    or h1 < 48 or h1 > 57 or h2 < 48 or h2 > 57 or i1 < 48 or i1 > 57 or i2 < 48 or i2 > 57
    or s1 < 48 or s1 > 57 or s2 < 48 or s2 > 57 then
    return nil
  end
  local Y = y1 * 1000 + y2 * 100 + y3 * 10 + y4 - 53328      -- 48 * 1111
  local M = m1 * 10 + m2 - 528                                 -- 48 * 11
  local D = d1 * 10 + d2 - 528
  local h = h1 * 10 + h2 - 528
  local mi = i1 * 10 + i2 - 528
  local sec = s1 * 10 + s2 - 528
  if M < 1 or M > 12 or D < 1 or h > 23 or mi > 59 or sec > 60 then return nil end
  if D > 28 and D > days_in_month(Y, M) then return nil end

  local i, c, frac = 20, byte(s, 20), 0
  if c == 46 then -- "."
    local v = 0
    i = 21
    c = byte(s, 21)
    while c and c >= 48 and c <= 57 do
      v = v * 10 + c - 48
      i = i + 1
      c = byte(s, i)
    end
    local digits = i - 21
    if digits == 0 or digits > 9 then return nil end
    frac = v / POW10[digits]
  end

  local offset = 0
  if c == 90 or c == 122 then -- "Z", "z"
    if n ~= i then return nil end
  elseif (c == 43 or c == 45) and n == i + 5 then -- "+HH:MM", "-HH:MM"
    local o1, o2, oc, o3, o4 = byte(s, i + 1, i + 5)
    if oc ~= 58 or o1 < 48 or o1 > 57 or o2 < 48 or o2 > 57 or o3 < 48 or o3 > 57
      or o4 < 48 or o4 > 57 then
      return nil
    end
    local oh, om = o1 * 10 + o2 - 528, o3 * 10 + o4 - 528
    if oh > 23 or om > 59 then return nil end
    offset = east(oh, om, c == 45)
  else
    return nil
  end
  return to_seconds(Y, M, D, h, mi, sec, frac, offset)
end

-- The reference path: a pattern, and a message for every way to be wrong.
local function parse_slow(s)
  local Y, M, D, h, mi, sec, rest =
    match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
  if not Y then return fail(s, EXPECTED) end
  Y, M, D = tonumber(Y), tonumber(M), tonumber(D)
  h, mi, sec = tonumber(h), tonumber(mi), tonumber(sec)
  if M < 1 or M > 12 then return fail(s, "month " .. M .. " out of range (1-12)") end
  local dim = days_in_month(Y, M)
  if D < 1 or D > dim then
    return fail(s, format("day %d out of range for %04d-%02d (1-%d)", D, Y, M, dim))
  end
  if h > 23 then return fail(s, "hour " .. h .. " out of range (0-23)") end
  if mi > 59 then return fail(s, "minute " .. mi .. " out of range (0-59)") end
  if sec > 60 then return fail(s, "second " .. sec .. " out of range (0-60)") end

  local frac = 0
  if byte(rest, 1) == 46 then -- "."
    local digits, zone = match(rest, "^%.(%d+)(.*)$")
    if not digits then return fail(s, "expected digits after '.'") end
    local n = #digits
    if n > 9 then return fail(s, "more than 9 fractional digits") end
    frac = tonumber(digits) / POW10[n]
    rest = zone
  end

  local offset = 0
  if rest ~= "Z" and rest ~= "z" then
    local sign, oh, om = match(rest, "^([+-])(%d%d):(%d%d)$")
    if not sign then
      if rest == "" then return fail(s, "missing time zone (Z or +HH:MM)") end
      return fail(s, EXPECTED)
    end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 then return fail(s, "offset hour " .. oh .. " out of range (0-23)") end
    if om > 59 then return fail(s, "offset minute " .. om .. " out of range (0-59)") end
    offset = east(oh, om, sign == "-")
  end
  return to_seconds(Y, M, D, h, mi, sec, frac, offset)
end

local function parse(s)
  local t = parse_fast(s)
  if t then return t end
  return parse_slow(s)
end

-- A small memo: the same since/until strings and repeated created_at values
-- are parsed once.  Bounded by clearing it when full.
local MEMO_MAX = 512
local memo, memo_n = {}, 0

--- Parses an RFC 3339 / ISO 8601 timestamp to epoch seconds.
-- Accepts `YYYY-MM-DDTHH:MM:SS[.f](Z|+HH:MM|-HH:MM)` with 1 to 9 fractional
-- digits, `t` or a space for `T`, `z` for `Z`; checks every field's range
-- (leap years, leap second 60).  The result is fractional when the
-- timestamp has a fraction.
-- @tparam string s
-- @return epoch seconds, or nil and a message
function _M.parse(s)
  local t = memo[s]
  if t then return t end
  if type(s) ~= "string" then
    return nil, "invalid timestamp: expected a string (got " .. type(s) .. ")"
  end
  local err
  t, err = parse(s)
  if not t then return nil, err end
  if memo_n >= MEMO_MAX then memo, memo_n = {}, 0 end
  memo[s] = t
  memo_n = memo_n + 1
  return t
end

local MIN_EPOCH = days_from_civil(0, 1, 1) * 86400            -- 0000-01-01T00:00:00Z
local MAX_EPOCH = days_from_civil(10000, 1, 1) * 86400        -- exclusive

--- Formats epoch seconds as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC).
-- A fraction is rounded to microseconds and printed without trailing zeros.
-- Raises for anything but a finite number in years 0000 to 9999.
-- @tparam number epoch
-- @treturn string
function _M.format(epoch)
  if not finite(epoch) then
    raise("time.format", "argument 1 must be a finite number (got %s)",
      type(epoch) == "number" and tostring(epoch) or type(epoch))
  end
  local secs = floor(epoch)
  local us = floor((epoch - secs) * 1e6 + 0.5)
  if us >= 1000000 then secs, us = secs + 1, 0 end
  if secs < MIN_EPOCH or secs >= MAX_EPOCH then
    raise("time.format", "epoch %s is outside years 0000-9999", tostring(epoch))
  end
  local days = floor(secs / 86400)
  local r = secs - days * 86400
  local y, m, d = civil_from_days(days)
  local h = floor(r / 3600)
  r = r - h * 3600
  local mi = floor(r / 60)
  local s = format("%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, h, mi, r - mi * 60)
  if us > 0 then
    s = s .. "." .. gsub(format("%06d", us), "0+$", "")
  end
  return s .. "Z"
end

--- Checks an epoch number or a timestamp string without raising.
-- @param v a number (epoch seconds, not NaN) or a timestamp string
-- @tparam string name how to name `v` in the message, e.g. "nuon.filter: 'since'"
-- @return epoch seconds, or nil and a message starting with `name`
function _M.check_epoch(v, name)
  local tv = type(v)
  if tv == "number" then
    if v == v then return v end
    return nil, name .. " must be an epoch number or a timestamp string (got nan)"
  elseif tv == "string" then
    local t, err = _M.parse(v)
    if t then return t end
    return nil, name .. ": " .. err
  end
  return nil, name .. " must be an epoch number or a timestamp string (got " .. tv .. ")"
end

--- Converts an epoch number or a timestamp string to epoch seconds.
-- Anything else, and a string that does not parse, is a programmer error.
-- @param v number or string
-- @tparam[opt="value"] string name how to name `v` in the message
-- @treturn number
function _M.to_epoch(v, name)
  local t, err = _M.check_epoch(v, name or "value")
  if t == nil then raise("time.to_epoch", err) end
  return t
end

--- Like parse, without the memo: for values seen once (each run's created_at).
-- @tparam string s
-- @return number or nil, message
function _M.parse_uncached(s)
  if type(s) ~= "string" then
    return nil, "invalid timestamp: expected a string (got " .. type(s) .. ")"
  end
  return parse(s)
end

-- Exposed for specs (the fast path is checked against the reference one) and
-- for callers doing their own date arithmetic.
_M._parse_fast = parse_fast
_M._parse_reference = parse_slow
--- Days since 1970-01-01 of a proleptic Gregorian date (negative before).
-- @function days_from_civil
-- @tparam integer y year
-- @tparam integer m month, 1-12
-- @tparam integer d day, 1-31
-- @treturn integer
_M.days_from_civil = days_from_civil
--- The date of a day count since 1970-01-01: year, month, day.
-- @function civil_from_days
-- @tparam integer z days
-- @treturn integer,integer,integer
_M.civil_from_days = civil_from_days

return _M
