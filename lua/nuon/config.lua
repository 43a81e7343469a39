--- nuon.config: the settings of `nuon.new`, resolved and validated.
--
-- Precedence for token, org_id and base_url, as the official CLI does it:
-- option > environment (NUON_API_TOKEN, NUON_ORG_ID, NUON_API_URL) > config
-- file (api_token, org_id, api_url in ~/.nuon or NUON_CONFIG_FILE) > default.
-- Every mistake here is the programmer's or the user's configuration, and
-- `nuon.new` has no `nil, err` path: they raise (`nuon.errors.raise`), with
-- the option named and the token never shown.  What each option must be is
-- `nuon.args`' (its `KINDS`); how a URL splits into host and port is here
-- (`split_url`, `host_port`), for every transport.
--
-- @module nuon.config
local type, pairs, tostring, tonumber = type, pairs, tostring, tonumber
local open = io.open
local getenv = os.getenv
local floor = math.floor
local tointeger = math.tointeger -- nil on LuaJIT
local byte, char, sub, find, match, gsub, gmatch, lower =
  string.byte, string.char, string.sub, string.find, string.match, string.gsub, string.gmatch, string.lower
local concat = table.concat
local core = require "nuon.core"
local args = require "nuon.args"
local raise = require("nuon.errors").raise
local LIMITS = core.limits

local _M = {}

local DEFAULT_URL = "https://api.nuon.co"

local DEFAULTS = {
  timeout = 30,
  connect_timeout = 10,
  retries = 2,
  max_backoff = 30,
  strict = false,
  verify_tls = true,
  compress = true,
  max_body = LIMITS.default_max_body,
  max_runs = LIMITS.default_max_runs,
}

-- Option name -> kind of value (nuon.args.KINDS), in the order options are checked.
local ORDER = {
  "token", "org_id", "base_url", "config_file", "timeout", "connect_timeout", "retries",
  "max_backoff", "strict", "verify_tls", "ca_file", "proxy", "user_agent", "max_body",
  "compress", "max_runs", "known_values",
}
local KIND = {
  token = "string", org_id = "string", base_url = "string", config_file = "string",
  timeout = "seconds", connect_timeout = "seconds", retries = "retries",
  max_backoff = "backoff", strict = "boolean", verify_tls = "boolean",
  ca_file = "string", proxy = "string", user_agent = "string", max_body = "size",
  compress = "boolean", max_runs = "size", known_values = "known_values",
}

local function int(v)
  if tointeger then return tointeger(v) or v end
  return v
end

-- ---------------------------------------------------------------------------
-- The YAML subset of the official CLI's config file

local BOM = "\239\187\191"

local ESCAPES = {
  ["0"] = "\0", a = "\7", b = "\8", t = "\9", ["\9"] = "\9", n = "\10", v = "\11",
  f = "\12", r = "\13", e = "\27", [" "] = " ", ['"'] = '"', ["/"] = "/", ["\\"] = "\\",
  N = "\194\133", _ = "\194\160", L = "\226\128\168", P = "\226\128\169",
}
local HEX_LEN = { x = 2, u = 4, U = 8 }

local function utf8_encode(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 0x40), 0x80 + cp % 0x40) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 0x1000), 0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return char(0xF0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40,
    0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

-- A double-quoted scalar starting at s[i] == '"': value, index after it.
local function double_quoted(s, i)
  local buf, n, j = {}, 0, i + 1
  while true do
    local p = find(s, '["\\]', j)
    if not p then return nil, "unterminated double-quoted value" end
    if p > j then n = n + 1; buf[n] = sub(s, j, p - 1) end
    if byte(s, p) == 34 then return concat(buf), p + 1 end
    local e = sub(s, p + 1, p + 1)
    local len = HEX_LEN[e]
    if ESCAPES[e] then
      n = n + 1; buf[n] = ESCAPES[e]
      j = p + 2
    elseif len then
      local hex = sub(s, p + 2, p + 1 + len)
      local cp = #hex == len and match(hex, "^%x+$") and tonumber(hex, 16)
      if not cp or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then
        return nil, "invalid \\" .. e .. " escape in double-quoted value"
      end
      n = n + 1; buf[n] = utf8_encode(cp)
      j = p + 2 + len
    elseif e == "" then
      return nil, "unterminated double-quoted value"
    else
      return nil, "invalid escape '\\" .. e .. "' in double-quoted value"
    end
  end
end

-- A single-quoted scalar starting at s[i] == "'": value, index after it.
local function single_quoted(s, i)
  local buf, n, j = {}, 0, i + 1
  while true do
    local p = find(s, "'", j, true)
    if not p then return nil, "unterminated single-quoted value" end
    n = n + 1; buf[n] = sub(s, j, p - 1)
    if byte(s, p + 1) ~= 39 then return concat(buf), p + 1 end
    n = n + 1; buf[n] = "'" -- '' is a quote
    j = p + 2
  end
end

local function quoted(s, i)
  if byte(s, i) == 34 then return double_quoted(s, i) end
  return single_quoted(s, i)
end

-- After a closing quote only blanks and a comment may follow.
local function only_comment(s, i)
  local rest = sub(s, i)
  return find(rest, "^[ \t]*$") ~= nil or find(rest, "^[ \t]+#") ~= nil
end

local NULLS = { ["~"] = true, null = true, Null = true, NULL = true }
local IGNORED = {} -- a value this subset does not read (flow, block, anchor, alias, tag)
local SKIPPED_STARTS = { ["["] = true, ["{"] = true, ["|"] = true, [">"] = true,
                         ["&"] = true, ["*"] = true, ["!"] = true, ["@"] = true, ["`"] = true }

-- The value after "key:" -> string | nil (null) | IGNORED, or nil, message.
local function parse_value(rest)
  local i = find(rest, "[^ \t]")
  if not i then return nil end                 -- empty: null, or a nested block follows
  local c = sub(rest, i, i)
  if c == "#" then return nil end
  if c == '"' or c == "'" then
    local v, after = quoted(rest, i)
    if not v then return nil, after end
    if not only_comment(rest, after) then return nil, "unexpected text after the closing quote" end
    return v
  end
  if SKIPPED_STARTS[c] then return IGNORED end
  local v = sub(rest, i)
  local hash = find(v, "[ \t]#")
  if hash then v = sub(v, 1, hash - 1) end
  v = match(v, "^(.-)[ \t]*$")
  if NULLS[v] then return nil end
  return v
end

-- A line that does not start a mapping entry at top level.
local function not_a_key(key)
  local c, c2 = sub(key, 1, 1), sub(key, 2, 2)
  if c == "[" or c == "{" or c == "]" or c == "}" or c == "," or c == "|" or c == ">" then
    return true
  end
  return (c == "-" or c == "?") and (c2 == "" or c2 == " " or c2 == "\t")
end

-- One top-level line "key: value" -> key, value (value may be nil or
-- IGNORED), or nil, nil, message.
local function parse_entry(line)
  local key, rest
  local c = byte(line, 1)
  if c == 34 or c == 39 then
    local k, after = quoted(line, 1)
    if not k then return nil, nil, after end
    rest = match(line, "^[ \t]*:(.*)$", after)
    if not rest or not (rest == "" or find(rest, "^[ \t]")) then
      return nil, nil, "expected 'key: value'"
    end
    key = k
  else
    local p = find(line, ":[ \t]") or (sub(line, -1) == ":" and #line)
    if not p then return nil, nil, "expected 'key: value'" end
    key = match(sub(line, 1, p - 1), "^(.-)[ \t]*$")
    if key == "" or not_a_key(key) or find(key, "[ \t]#") then
      return nil, nil, "expected 'key: value'"
    end
    rest = sub(line, p + 1)
  end
  local v, err = parse_value(rest)
  if err then return nil, nil, err end
  return key, v
end

--- Parses the subset of YAML the official CLI writes to its config file.
-- Top-level `key: value` lines; plain, 'single' or "double" quoted values
-- (YAML escapes in double quotes); `#` comments; blank lines; `---`; CRLF;
-- a UTF-8 BOM.  Indented (nested) lines, flow and block values, anchors,
-- aliases and tags are skipped, not read; `~`, `null` and empty values are
-- absent.  Every value read is a string.
-- @tparam string text
-- @return a table key -> string, or nil and "line N: message"
function _M.parse_yaml(text)
  if type(text) ~= "string" then
    raise("config.parse_yaml", "argument 1 must be a string (got %s)", type(text))
  end
  if sub(text, 1, 3) == BOM then text = sub(text, 4) end
  local out, lineno = {}, 0
  for line in gmatch(text .. "\n", "([^\n]*)\n") do
    lineno = lineno + 1
    if byte(line, -1) == 13 then line = sub(line, 1, -2) end
    local c = byte(line, 1)
    if c == nil or c == 32 or c == 9 or c == 35 or c == 37 then -- luacheck: ignore 542
      -- blank, indented (a nested block or a blank line), comment, directive
    elseif find(line, "^%-%-%-") and (#line == 3 or find(line, "^%-%-%-[ \t]")) then -- luacheck: ignore 542
      -- document start
    elseif find(line, "^%.%.%.") and (#line == 3 or find(line, "^%.%.%.[ \t]")) then
      break -- document end
    else
      local key, v, err = parse_entry(line)
      if not key then return nil, "line " .. lineno .. ": " .. err end
      if v ~= IGNORED then out[key] = v end
    end
  end
  return out
end

-- ---------------------------------------------------------------------------
-- URLs

--- The host and port of a URL's authority, `[user[:password]@]host[:port]`:
-- host (an IPv6 address keeps its brackets), port (a number, or nil when
-- absent), user info (or nil); or nil when there is no host or the port is
-- not 1-65535.  The one reading of a host and port, for the base URL and
-- for proxies.
-- @tparam string authority
-- @return host, port, userinfo
function _M.host_port(authority)
  local userinfo, hostport = match(authority, "^(.*)@([^@]*)$")
  if not userinfo then hostport = authority end
  local host, port
  if sub(hostport, 1, 1) == "[" then
    host, port = match(hostport, "^(%[[%x:.]+%])(.*)$")
  else
    host, port = match(hostport, "^([%w.%-_~%%]+)(.*)$")
  end
  if not host then return nil end
  if port == "" then return host, nil, userinfo end
  port = tonumber(match(port, "^:(%d+)$"))
  if not (port and port >= 1 and port <= 65535) then return nil end
  return host, port, userinfo
end
local host_port = _M.host_port

--- Splits a URL `scheme://authority/path`: scheme (lower case), host, port
-- (or nil), path (possibly ""), user info (or nil); nil when it is not such
-- a URL.  For the base URL `resolve` returns: its transport needs no more.
-- @tparam string url
-- @return scheme, host, port, path, userinfo
function _M.split_url(url)
  local scheme, authority, path = match(url, "^(%a[%w+.%-]*)://([^/?#]*)(.*)$")
  if not scheme then return nil end
  local host, port, userinfo = host_port(authority)
  if not host then return nil end
  return lower(scheme), host, port, path, userinfo
end

-- ---------------------------------------------------------------------------
-- Validation

local function has_control(s)
  return find(s, "%c") ~= nil
end

local function control_message(label)
  return label .. " contains a control character (CR, LF or NUL)"
end

-- A URL for a message: user info hidden, bounded, control characters escaped.
local function quote_url(url)
  url = gsub(url, "^([^/]*//)[^/?#]*@", "%1***@")
  if #url > 200 then url = sub(url, 1, 200) .. "..." end
  url = gsub(url, "%c", function(c) return "\\" .. byte(c) end)
  return "'" .. url .. "'"
end

-- Validates a base URL; returns it without trailing slashes, or nil, message.
local function check_url(url, label, token)
  -- never echo a value that holds the token (say, arguments swapped)
  local got = ""
  if not (token and find(url, token, 1, true)) then got = " (got " .. quote_url(url) .. ")" end
  if find(url, "[%s%c]") then
    return nil, label .. " must not contain whitespace or control characters"
  end
  local scheme, rest = match(url, "^(%a[%w+.%-]*)://(.*)$")
  scheme = scheme and lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then
    return nil, label .. " must be an http:// or https:// URL with a host" .. got
  end
  if find(rest, "[?#]") then
    return nil, label .. " must not have a query or fragment" .. got
  end
  local authority = match(rest, "^[^/]*")
  if find(authority, "@", 1, true) then
    return nil, label .. " must not contain user info (user:password@)"
  end
  if not host_port(authority) then
    return nil, label .. " must be an http:// or https:// URL with a host" .. got
  end
  return (gsub(url, "/+$", ""))
end

-- ---------------------------------------------------------------------------
-- Resolution

local ENOENT, ENOTDIR = 2, 20

-- Reads and parses a config file: table, or false when it does not exist,
-- or nil, message.
local function read_file(path, explicit)
  local f, msg, code = open(path, "rb")
  if not f then
    if code == ENOENT or code == ENOTDIR then
      if explicit then return nil, "option 'config_file': no such file: " .. path end
      return false
    end
    return nil, "cannot read config file " .. tostring(msg)
  end
  local text, rerr = f:read("*a")
  f:close()
  if not text then
    return nil, "cannot read config file " .. path .. ": " .. tostring(rerr)
  end
  local t, perr = _M.parse_yaml(text)
  if not t then return nil, "cannot parse config file " .. path .. ": " .. perr end
  return t
end

local function expand_home(path, home)
  if home and (path == "~" or sub(path, 1, 2) == "~/") then return home .. sub(path, 2) end
  return path
end

-- The three values with a source: option name, env name, file key, what a
-- missing one is called.
local SOURCED = {
  { field = "token", env = "NUON_API_TOKEN", key = "api_token", src = "token_source" },
  { field = "org_id", env = "NUON_ORG_ID", key = "org_id", src = "org_source" },
  { field = "base_url", env = "NUON_API_URL", key = "api_url", src = "url_source" },
}

local function build(opts, env)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    return nil, "options must be a table (got " .. type(opts) .. ")"
  end
  if env == nil then env = getenv end
  local function getvar(name)
    local v = env(name)
    if type(v) ~= "string" or v == "" then return nil end
    return v
  end

  local name = args.unknown_key(opts, KIND)
  if name then
    -- a key is shown only when it cannot be a secret (say, { [token] = true })
    local secrets = { opts.token, env("NUON_API_TOKEN") }
    local shown = #name <= 40 and find(name, "^[%w_.%-]+$") ~= nil
    for i = 1, 2 do
      local t = secrets[i]
      if type(t) == "string" and t ~= "" and find(name, t, 1, true) then shown = false end
    end
    if not shown then return nil, "unknown option (its name is not shown)" end
    return nil, "unknown option '" .. name .. "'"
  end

  local s = {}
  for k, v in pairs(DEFAULTS) do s[k] = v end
  for i = 1, #ORDER do
    local option = ORDER[i]
    local v = opts[option]
    if v ~= nil then
      local words = args.check(KIND[option], v, true)
      if words then return nil, "option '" .. option .. "'" .. words end
      -- base_url: check_url says more
      if type(v) == "string" and option ~= "base_url" and has_control(v) then
        return nil, control_message("option '" .. option .. "'")
      end
      if type(v) == "number" then v = int(v) end
      s[option] = v
    end
  end

  -- option > environment
  local labels, missing = {}, false
  for i = 1, #SOURCED do
    local d = SOURCED[i]
    if s[d.field] ~= nil then
      s[d.src], labels[d.field] = "option", "option '" .. d.field .. "'"
    else
      local v = getvar(d.env)
      if v then
        s[d.field], s[d.src], labels[d.field] = v, "env", d.env
      else
        missing = true
      end
    end
  end
  if s.token_source == "env" and has_control(s.token) then return nil, control_message(labels.token) end
  if s.org_source == "env" and has_control(s.org_id) then return nil, control_message(labels.org_id) end

  -- > config file: read only when something is missing, or when named explicitly
  local home = getvar("HOME") or getvar("USERPROFILE")
  local explicit = opts.config_file ~= nil
  local path = opts.config_file or getvar("NUON_CONFIG_FILE")
  if path then
    path = expand_home(path, home)
  elseif home then
    path = home .. "/.nuon"
  end
  if path and (missing or explicit) then
    local file, err = read_file(path, explicit)
    if file == nil then return nil, err end
    if file then
      s.config_file = path
      for i = 1, #SOURCED do
        local d = SOURCED[i]
        local v = file[d.key]
        if s[d.field] == nil and v ~= nil and v ~= "" then
          s[d.field], s[d.src], labels[d.field] = v, "file", d.key .. " in " .. path
          if d.field ~= "base_url" and has_control(v) then
            return nil, control_message(labels[d.field])
          end
        end
      end
    end
  end

  local where = path or "~/.nuon"
  if s.token == nil then
    return nil, "no API token: pass token, set NUON_API_TOKEN, or set api_token in "
      .. where
  end
  if s.org_id == nil then
    return nil, "no org id: pass org_id, set NUON_ORG_ID, or set org_id in " .. where
  end

  -- > default
  if s.base_url == nil then
    s.base_url, s.url_source, labels.base_url = DEFAULT_URL, "default", "default base_url"
  end
  local url, err = check_url(s.base_url, labels.base_url, s.token)
  if not url then return nil, err end
  s.base_url = url
  return s
end

--- Resolves and validates the settings of `nuon.new`.  A mistake raises
-- as `fname` (see nuon.errors), blaming the user's line.
-- @tparam[opt] table opts the user's options (never modified)
-- @tparam[opt=os.getenv] function env name -> string|nil
-- @tparam[opt="new"] string fname the public function resolving them
--   (`"new"`, `"resty.new"`); anything but a string is taken as "new"
-- @treturn table a new table: token, org_id, base_url, config_file (the file
--   read, or nil), timeout, connect_timeout, retries, max_backoff, strict,
--   verify_tls, ca_file, proxy, user_agent, max_body, compress, and token_source,
--   org_source, url_source ("option", "env", "file" or "default")
function _M.resolve(opts, env, fname)
  if env ~= nil and type(env) ~= "function" then
    raise("config.resolve", "env must be a function (got %s)", type(env))
  end
  local s, err = build(opts, env)
  if not s then raise(type(fname) == "string" and fname or "new", err) end
  return s
end

--- A copy of settings safe to print: the token replaced by "<redacted>",
-- user info in the proxy URL hidden.
-- @tparam table settings
-- @treturn table
function _M.redact(settings)
  if type(settings) ~= "table" then
    raise("config.redact", "argument 1 must be a table (got %s)", type(settings))
  end
  local out = {}
  for k, v in pairs(settings) do out[k] = v end
  if out.token ~= nil then out.token = "<redacted>" end
  if type(out.proxy) == "string" then
    out.proxy = gsub(out.proxy, "^([^/]*//)[^/?#]*@", "%1<redacted>@")
    if find(out.proxy, "@", 1, true) and not find(out.proxy, "//", 1, true) then
      out.proxy = gsub(out.proxy, "^[^@]*@", "<redacted>@") -- "user:pw@host:port"
    end
  end
  return out
end

return _M
