--- nuon.health: `:checkhealth nuon`.
--
-- Checks that the C core loads (its version, the Lua it was built for,
-- libcurl's version and TLS/HTTP2 support), that Neovim runs LuaJIT, that
-- credentials are found (saying where: the environment or the config file;
-- never the values) and that the base URL is valid.  Whether the API answers
-- is checked only when asked: `:let g:nuon_health_network = 1`, then
-- `:checkhealth nuon` (one request with a 5 s timeout, no retries).
--
-- @module nuon.health
local _M = {}

-- Neovim 0.9+ has vim.health.start/ok/...; 0.8 vim.health.report_*; 0.7 the
-- "health" module's report_*.
local function reporter()
  local vim = rawget(_G, "vim")
  local h = vim.health
  if not (h and (h.start or h.report_start)) then h = require("health") end
  return {
    start = h.start or h.report_start, ok = h.ok or h.report_ok, warn = h.warn or h.report_warn,
    error = h.error or h.report_error, info = h.info or h.report_info,
  }
end

local ENV_NAMES = { token = "NUON_API_TOKEN", org_id = "NUON_ORG_ID", base_url = "NUON_API_URL" }
local FILE_KEYS = { token = "api_token", org_id = "org_id", base_url = "api_url" }

-- Where a setting came from, in words (never its value).
local function source(s, field, src)
  local how = s[src]
  if how == "env" then return "from $" .. ENV_NAMES[field] .. " (the environment)" end
  if how == "file" then
    return "from " .. FILE_KEYS[field] .. " in " .. tostring(s.config_file) .. " (the config file)"
  end
  if how == "option" then return "from an option" end
  return "the default"
end

local function check_core(h)
  h.start("nuon: the C core")
  local ok, core = pcall(require, "nuon.core")
  if not ok then
    h.error("nuon.core does not load: " .. (tostring(core):match("^[^\n]*")), {
      "build it: run `make nvim` in the plugin's directory (lazy.nvim: build = \"make nvim\")",
      "it needs a C compiler, pkg-config, libcurl's headers and LuaJIT's (Debian: make deps)",
    })
    return false
  end
  local vim = rawget(_G, "vim")
  local path = vim.api.nvim_get_runtime_file("lua/nuon/core.so", false)[1]
  h.ok(("nuon.core %s loads%s"):format(core.VERSION, path and " (" .. path .. ")" or ""))
  local lua_version = require("nuon").VERSION
  if core.VERSION ~= lua_version then
    h.warn(("nuon.core is %s but the Lua modules are %s"):format(core.VERSION, lua_version),
      { "rebuild the core: `make nvim` in the plugin's directory" })
  end
  local running = rawget(_G, "jit") and "LuaJIT" or _VERSION
  if core.lua == "LuaJIT" and running == "LuaJIT" then
    h.ok("built for LuaJIT, which Neovim runs (" .. tostring(rawget(_G, "jit").version) .. ")")
  elseif core.lua == running then
    h.warn("Neovim runs " .. running .. ", not LuaJIT: the core was built for it and works, more slowly")
  else
    h.error(("the core was built for %s but Neovim runs %s"):format(tostring(core.lua), running),
      { "rebuild the core: `make nvim` in the plugin's directory" })
  end

  local c = core.curl or {}
  h.ok("libcurl " .. tostring(c.version or core.curl_version))
  if c.tls then
    h.ok("TLS: " .. tostring(c.ssl))
  else
    h.error("libcurl has no TLS: https:// URLs, such as https://api.nuon.co, will fail",
      { "install a libcurl with TLS (Debian: libcurl4-openssl-dev) and run `make nvim` again" })
  end
  if c.http2 then
    h.ok("HTTP/2")
  else
    h.info("no HTTP/2 in this libcurl: requests use HTTP/1.1, which works")
  end
  return true
end

local function check_config(h)
  h.start("nuon: configuration")
  local config = require "nuon.config"
  local ok, s = pcall(config.resolve, nil)
  if not ok then
    local msg = tostring(s):gsub("^[^\n]-:%d+: ", ""):gsub("^nuon%.new: ", "")
    h.error(msg, {
      "set NUON_API_TOKEN and NUON_ORG_ID in the environment Neovim starts in,",
      "or api_token and org_id in ~/.nuon (the official nuon CLI's file; NUON_CONFIG_FILE names another)",
    })
    return nil
  end
  h.ok("API token found, " .. source(s, "token", "token_source"))
  h.ok("org id found, " .. source(s, "org_id", "org_source"))
  h.ok("base URL " .. s.base_url .. ", " .. source(s, "base_url", "url_source"))
  return s
end

-- One small request: an install id that exists nowhere gets 200 [] from the
-- API when the credentials are good (it does not check installs).
local function check_network(h)
  h.start("nuon: the API")
  local vim = rawget(_G, "vim")
  if not vim.g.nuon_health_network or vim.g.nuon_health_network == 0 then
    h.info("not checked: `:let g:nuon_health_network = 1` and `:checkhealth nuon` again to send one request")
    return
  end
  local nuon = require "nuon"
  local ok, client = pcall(nuon.new, { timeout = 5, connect_timeout = 5, retries = 0 })
  if not ok then return end -- already reported by check_config
  local runs, err = client:sandbox_runs("inlnuonhealthcheck00000000", { limit = 1 })
  client:close()
  if runs then
    h.ok("reachable; the API token and org id are accepted")
  elseif err.kind == "http" and (err.status == 401 or err.status == 403) then
    h.error("reachable, but the credentials are refused: " .. tostring(err.message),
      { "check NUON_API_TOKEN / api_token and NUON_ORG_ID / org_id" })
  else
    h.error("not reachable: " .. tostring(err.message))
  end
end

--- Runs the checks (`:checkhealth nuon` calls it).
function _M.check()
  local h = reporter()
  local core_ok = check_core(h)
  local settings = check_config(h)
  if core_ok and settings then check_network(h) end
end

return _M
