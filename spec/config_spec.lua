-- nuon.config: the settings of nuon.new, their sources and their validation.
local config = require "nuon.config"

local TOKEN = "nuon-Tok3n-0123456789abcdefSECRET"
local OTHER_TOKEN = "env-token-9876543210zyxwvuSECRET"

local function fakeenv(vars)
  return function(name) return vars[name] end
end

-- Temporary files and directories, removed after each test.
local temps = {}

local function tmppath()
  local path = os.tmpname()
  os.remove(path)
  temps[#temps + 1] = path
  return path
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
  temps[#temps + 1] = path
  return path
end

local function config_file(text) return write(tmppath(), text) end

-- A fake home directory, with a .nuon file when text is given.
local function home(text)
  local dir = tmppath()
  assert(os.execute("mkdir '" .. dir .. "'"))
  if text then write(dir .. "/.nuon", text) end
  return dir
end

after_each(function()
  -- files before the directories that hold them
  for i = #temps, 1, -1 do os.remove(temps[i]) end
  temps = {}
end)

-- resolve with a fake environment; returns the settings.
local function resolve(opts, vars)
  return config.resolve(opts, fakeenv(vars or {}))
end

-- The message resolve raises, position stripped; checks the token is not in it.
local function failure(opts, vars)
  local ok, err = pcall(config.resolve, opts, fakeenv(vars or {}))
  assert.is_false(ok, "expected an error")
  assert.is_string(err)
  assert.is_nil(err:find(TOKEN, 1, true), "the token leaked into: " .. err)
  assert.is_nil(err:find(OTHER_TOKEN, 1, true), "the token leaked into: " .. err)
  return (err:gsub("^.-:%d+: ", "", 1))
end

local MINIMAL = { token = TOKEN, org_id = "org0123456789abcdefghijkl" }

local function with(extra)
  local t = {}
  for k, v in pairs(MINIMAL) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

describe("nuon.config.resolve", function()
  describe("defaults", function()
    it("fills every setting not given", function()
      local s = resolve(MINIMAL)
      assert.same({
        token = TOKEN, org_id = "org0123456789abcdefghijkl", base_url = "https://api.nuon.co",
        timeout = 30, connect_timeout = 10, retries = 2, max_backoff = 30, strict = false,
        verify_tls = true, max_body = 64 * 1024 * 1024, compress = true, max_runs = 10000,
        token_source = "option", org_source = "option", url_source = "default",
      }, s)
      assert.is_nil(s.config_file)
      assert.is_nil(s.ca_file)
      assert.is_nil(s.proxy)
      assert.is_nil(s.user_agent)
    end)

    it("returns a new table and leaves the options untouched", function()
      local opts = with{ base_url = "https://example.com/", timeout = 5, retries = 3 }
      local copy = {}
      for k, v in pairs(opts) do copy[k] = v end
      local s = resolve(opts)
      assert.are_not.equal(opts, s)
      assert.same(copy, opts)
      assert.equal("https://example.com", s.base_url)
    end)

    it("keeps every option given", function()
      local s = resolve(with{
        base_url = "http://localhost:8080", timeout = 1.5, connect_timeout = 0.5, retries = 0,
        max_backoff = 0, strict = true, verify_tls = false, ca_file = "/etc/ca.pem",
        proxy = "http://proxy:3128", user_agent = "my-tool/1.0", max_body = 1024,
        compress = false,
      })
      assert.equal("http://localhost:8080", s.base_url)
      assert.equal(1.5, s.timeout)
      assert.equal(0.5, s.connect_timeout)
      assert.equal(0, s.retries)
      assert.equal(0, s.max_backoff)
      assert.is_true(s.strict)
      assert.is_false(s.verify_tls)
      assert.equal("/etc/ca.pem", s.ca_file)
      assert.equal("http://proxy:3128", s.proxy)
      assert.equal("my-tool/1.0", s.user_agent)
      assert.equal(1024, s.max_body)
      assert.is_false(s.compress)
    end)

    it("stores integral floats as integers on Lua 5.4", function()
      local s = resolve(with{ retries = 3.0, max_body = 2048.0 })
      assert.equal(3, s.retries)
      if math.type then
        assert.equal("integer", math.type(s.retries))
        assert.equal("integer", math.type(s.max_body))
      end
    end)

    it("accepts no options at all when the environment has the values", function()
      local s = resolve(nil, { NUON_API_TOKEN = TOKEN, NUON_ORG_ID = "org1" })
      assert.equal(TOKEN, s.token)
      assert.equal("env", s.token_source)
    end)

    it("uses os.getenv when no env function is given", function()
      local s = config.resolve(MINIMAL)
      assert.equal(TOKEN, s.token)
    end)
  end)

  describe("precedence", function()
    local FILE = "api_token: file-token\norg_id: file-org\napi_url: https://file.example.com\n"
    local ENV = { NUON_API_TOKEN = OTHER_TOKEN, NUON_ORG_ID = "env-org",
                  NUON_API_URL = "https://env.example.com" }

    local function env_with(extra)
      local t = {}
      for k, v in pairs(ENV) do t[k] = v end
      for k, v in pairs(extra or {}) do t[k] = v end
      return t
    end

    it("prefers options over the environment and the file", function()
      local s = resolve(with{ base_url = "https://opt.example.com" },
        env_with{ NUON_CONFIG_FILE = config_file(FILE) })
      assert.same({ TOKEN, "org0123456789abcdefghijkl", "https://opt.example.com" },
        { s.token, s.org_id, s.base_url })
      assert.same({ "option", "option", "option" }, { s.token_source, s.org_source, s.url_source })
    end)

    it("prefers the environment over the file", function()
      local s = resolve(nil, env_with{ NUON_CONFIG_FILE = config_file(FILE) })
      assert.same({ OTHER_TOKEN, "env-org", "https://env.example.com" },
        { s.token, s.org_id, s.base_url })
      assert.same({ "env", "env", "env" }, { s.token_source, s.org_source, s.url_source })
    end)

    it("uses the file when neither option nor environment is set", function()
      local path = config_file(FILE)
      local s = resolve(nil, { NUON_CONFIG_FILE = path })
      assert.same({ "file-token", "file-org", "https://file.example.com" },
        { s.token, s.org_id, s.base_url })
      assert.same({ "file", "file", "file" }, { s.token_source, s.org_source, s.url_source })
      assert.equal(path, s.config_file)
    end)

    it("mixes sources value by value", function()
      local s = resolve({ org_id = "opt-org" },
        { NUON_API_TOKEN = OTHER_TOKEN, NUON_CONFIG_FILE = config_file(FILE) })
      assert.same({ OTHER_TOKEN, "opt-org", "https://file.example.com" },
        { s.token, s.org_id, s.base_url })
      assert.same({ "env", "option", "file" }, { s.token_source, s.org_source, s.url_source })
    end)

    it("falls back to the default base URL", function()
      local s = resolve(nil, { NUON_CONFIG_FILE = config_file("api_token: t\norg_id: o\n") })
      assert.equal("https://api.nuon.co", s.base_url)
      assert.equal("default", s.url_source)
    end)

    it("treats empty environment variables as unset", function()
      local s = resolve(nil, {
        NUON_API_TOKEN = "", NUON_ORG_ID = "", NUON_API_URL = "",
        NUON_CONFIG_FILE = config_file(FILE),
      })
      assert.same({ "file", "file", "file" }, { s.token_source, s.org_source, s.url_source })
    end)

    it("treats empty values in the file as unset", function()
      local path = config_file("api_token: ''\norg_id:\napi_url: ~\n")
      local s = resolve(MINIMAL, { NUON_CONFIG_FILE = path })
      assert.equal("https://api.nuon.co", s.base_url)
      assert.equal("default", s.url_source)
    end)
  end)

  describe("the config file", function()
    it("is read from $HOME/.nuon by default", function()
      local dir = home("api_token: home-token\norg_id: home-org\n")
      local s = resolve(nil, { HOME = dir })
      assert.equal("home-token", s.token)
      assert.equal(dir .. "/.nuon", s.config_file)
    end)

    it("is read from NUON_CONFIG_FILE before $HOME/.nuon", function()
      local dir = home("api_token: home-token\norg_id: home-org\n")
      local path = config_file("api_token: env-file-token\norg_id: o\n")
      local s = resolve(nil, { HOME = dir, NUON_CONFIG_FILE = path })
      assert.equal("env-file-token", s.token)
      assert.equal(path, s.config_file)
    end)

    it("is read from the config_file option before NUON_CONFIG_FILE", function()
      local path = config_file("api_token: opt-file-token\norg_id: o\n")
      local other = config_file("api_token: env-file-token\norg_id: o\n")
      local s = resolve({ config_file = path }, { NUON_CONFIG_FILE = other })
      assert.equal("opt-file-token", s.token)
      assert.equal(path, s.config_file)
    end)

    it("expands a leading ~/ with HOME", function()
      local dir = home()
      write(dir .. "/nuon.yml", "api_token: tilde-token\norg_id: o\n")
      local s = resolve({ config_file = "~/nuon.yml" }, { HOME = dir })
      assert.equal("tilde-token", s.token)
      assert.equal(dir .. "/nuon.yml", s.config_file)
    end)

    it("may be absent", function()
      local s = resolve(nil, { HOME = home(), NUON_API_TOKEN = TOKEN, NUON_ORG_ID = "o" })
      assert.is_nil(s.config_file)
      s = resolve(nil, { NUON_CONFIG_FILE = tmppath(), NUON_API_TOKEN = TOKEN, NUON_ORG_ID = "o" })
      assert.is_nil(s.config_file)
    end)

    it("is not read when options and environment give every value", function()
      local broken = config_file("this is not yaml\n")
      local s = resolve(with{ base_url = "https://x.example.com" }, { NUON_CONFIG_FILE = broken })
      assert.is_nil(s.config_file)
      s = resolve(nil, { NUON_CONFIG_FILE = broken, NUON_API_TOKEN = TOKEN, NUON_ORG_ID = "o",
                         NUON_API_URL = "https://x.example.com" })
      assert.is_nil(s.config_file)
    end)

    it("is read when only the base URL is missing", function()
      local path = config_file("api_url: https://file.example.com\n")
      local s = resolve(MINIMAL, { NUON_CONFIG_FILE = path })
      assert.equal("https://file.example.com", s.base_url)
      assert.equal(path, s.config_file)
    end)

    it("is always read when named by the config_file option", function()
      local path = config_file("api_token: ignored\n")
      local s = resolve(with{ base_url = "https://x.example.com", config_file = path })
      assert.equal(path, s.config_file)
      assert.equal(TOKEN, s.token)
    end)

    it("raises when the config_file option names a missing file", function()
      local path = tmppath()
      assert.equal("nuon.new: option 'config_file': no such file: " .. path,
        failure(with{ config_file = path }))
    end)

    it("raises naming the file and the line when it cannot be parsed", function()
      local path = config_file("# nuon\napi_token: " .. TOKEN .. "\nnot a mapping line\n")
      assert.equal("nuon.new: cannot parse config file " .. path .. ": line 3: expected 'key: value'",
        failure(nil, { NUON_CONFIG_FILE = path }))
    end)

    it("raises when it cannot be read", function()
      local dir = home()
      local msg = failure(nil, { NUON_CONFIG_FILE = dir })
      local prefix = "nuon.new: cannot read config file " .. dir .. ": "
      assert.equal(prefix, msg:sub(1, #prefix))
      assert.is_true(#msg > #prefix)
    end)

    it("reads the CLI's file with quotes, comments, CRLF and a BOM", function()
      local path = config_file("\239\187\191---\r\n# written by nuon\r\n"
        .. "api_token: \"" .. TOKEN .. "\"  # the token\r\n"
        .. "org_id: 'org-1' \r\n"
        .. "api_url: https://api.example.com/  # trailing slash\r\n"
        .. "preferences:\r\n  color: true\r\n")
      local s = resolve(nil, { NUON_CONFIG_FILE = path })
      assert.same({ TOKEN, "org-1", "https://api.example.com" }, { s.token, s.org_id, s.base_url })
    end)
  end)

  describe("validation", function()
    it("raises for options that are not a table", function()
      assert.equal("nuon.new: options must be a table (got string)", failure("token"))
    end)

    it("raises for an unknown option", function()
      assert.equal("nuon.new: unknown option 'timout'", failure(with{ timout = 5 }))
      assert.equal("nuon.new: unknown option '1'", failure{ TOKEN })
    end)

    it("does not show an unknown option name that may be a secret", function()
      local hidden = "nuon.new: unknown option (its name is not shown)"
      assert.equal(hidden, failure(with{ [TOKEN] = true }))
      assert.equal(hidden, failure({ [OTHER_TOKEN] = 1 }, { NUON_API_TOKEN = OTHER_TOKEN }))
      assert.equal(hidden, failure(with{ ["a b"] = 1 }))
      assert.equal(hidden, failure(with{ [string.rep("x", 41)] = 1 }))
      assert.equal("nuon.new: unknown option 'base-url'", failure(with{ ["base-url"] = 1 }))
    end)

    it("names the first unknown option in sorted order", function()
      assert.equal("nuon.new: unknown option 'aaa'", failure(with{ zzz = 1, aaa = 2 }))
    end)

    it("raises for an env that is not a function", function()
      assert.has_error(function() config.resolve(MINIMAL, {}) end,
        "nuon.config.resolve: env must be a function (got table)")
    end)

    it("raises for string options of the wrong type or empty", function()
      for _, name in ipairs{ "token", "org_id", "base_url", "config_file", "ca_file", "proxy",
                             "user_agent" } do
        assert.equal("nuon.new: option '" .. name .. "' must be a non-empty string (got number)",
          failure(with{ [name] = 42 }))
        assert.equal("nuon.new: option '" .. name .. "' must be a non-empty string (got boolean)",
          failure(with{ [name] = true }))
        assert.equal("nuon.new: option '" .. name
          .. "' must be a non-empty string (got an empty string)", failure(with{ [name] = "" }))
      end
    end)

    it("raises for boolean options of the wrong type", function()
      assert.equal("nuon.new: option 'strict' must be a boolean (got string)",
        failure(with{ strict = "yes" }))
      assert.equal("nuon.new: option 'verify_tls' must be a boolean (got number)",
        failure(with{ verify_tls = 1 }))
      assert.equal("nuon.new: option 'compress' must be a boolean (got string)",
        failure(with{ compress = "gzip" }))
    end)

    it("raises for timeouts that are not numbers of seconds from 0.001 to 2147483", function()
      for _, name in ipairs{ "timeout", "connect_timeout" } do
        local pre = "nuon.new: option '" .. name .. "' must be a number of seconds from 0.001 to 2147483 (got "
        assert.equal(pre .. "string)", failure(with{ [name] = "30" }))
        assert.equal(pre .. "0)", failure(with{ [name] = 0 }))
        assert.equal(pre .. "0.0001)", failure(with{ [name] = 0.0001 }))
        assert.equal(pre .. "-1)", failure(with{ [name] = -1 }))
        assert.equal(pre .. "1e+17)", failure(with{ [name] = 1e17 }))
        assert.equal(pre .. "inf)", failure(with{ [name] = math.huge }))
        assert.equal(pre .. "nan)", failure(with{ [name] = 0 / 0 }))
        assert.equal(2147483, resolve(with{ [name] = 2147483 })[name])
      end
    end)

    it("raises for retries that are not an integer from 0 to 10", function()
      local pre = "nuon.new: option 'retries' must be an integer from 0 to 10 (got "
      assert.equal(pre .. "string)", failure(with{ retries = "2" }))
      assert.equal(pre .. "-1)", failure(with{ retries = -1 }))
      assert.equal(pre .. "11)", failure(with{ retries = 11 }))
      assert.equal(pre .. "1.5)", failure(with{ retries = 1.5 }))
      assert.equal(10, resolve(with{ retries = 10 }).retries)
    end)

    it("raises for a max_backoff that is not a number of seconds from 0 to 2147483", function()
      local pre = "nuon.new: option 'max_backoff' must be a number of seconds from 0 to 2147483 (got "
      assert.equal(pre .. "-0.5)", failure(with{ max_backoff = -0.5 }))
      assert.equal(pre .. "boolean)", failure(with{ max_backoff = false }))
      assert.equal(pre .. "inf)", failure(with{ max_backoff = math.huge }))
      assert.equal(pre .. "1e+17)", failure(with{ max_backoff = 1e17 }))
      assert.equal(0, resolve(with{ max_backoff = 0 }).max_backoff)
    end)

    it("raises for a max_body or max_runs that is not an integer from 1 to 2^53", function()
      for _, name in ipairs{ "max_body", "max_runs" } do
        local pre = "nuon.new: option '" .. name .. "' must be an integer from 1 to 2^53 (got "
        assert.equal(pre .. "0)", failure(with{ [name] = 0 }))
        assert.equal(pre .. "1.5)", failure(with{ [name] = 1.5 }))
        assert.equal(pre .. "inf)", failure(with{ [name] = math.huge }))
        assert.equal(pre .. "string)", failure(with{ [name] = "1M" }))
        -- 2^64 would wrap to 0 in a C size_t
        assert.equal(pre .. tostring(2^64) .. ")", failure(with{ [name] = 2^64 }))
      end
    end)

    it("takes integral floats where an integer belongs (10/2 on Lua 5.4)", function()
      local s = resolve(with{ retries = 4 / 2, max_body = 2^20 + 0.0, max_runs = 10 / 2 })
      assert.equal(2, s.retries)
      assert.equal(2^20, s.max_body)
      assert.equal(5, s.max_runs)
      if math.type then
        assert.equal("integer", math.type(s.retries))
        assert.equal("integer", math.type(s.max_runs))
      end
    end)

    it("raises for a control character in token, org_id, user_agent and other strings", function()
      for _, name in ipairs{ "token", "org_id", "user_agent", "proxy", "ca_file" } do
        for _, c in ipairs{ "\r", "\n", "\0", "\t", "\127" } do
          assert.equal("nuon.new: option '" .. name .. "' contains a control character (CR, LF or NUL)",
            failure(with{ [name] = TOKEN .. c .. "x" }))
        end
      end
    end)

    it("raises for a control character in a token or org id from the environment", function()
      assert.equal("nuon.new: NUON_API_TOKEN contains a control character (CR, LF or NUL)",
        failure(nil, { NUON_API_TOKEN = TOKEN .. "\n", NUON_ORG_ID = "o" }))
      assert.equal("nuon.new: NUON_ORG_ID contains a control character (CR, LF or NUL)",
        failure(nil, { NUON_API_TOKEN = TOKEN, NUON_ORG_ID = "o\r\n" }))
    end)

    it("raises for a control character in a token or org id from the file", function()
      local path = config_file('api_token: "' .. TOKEN .. '\\r\\n"\norg_id: o\n')
      assert.equal("nuon.new: api_token in " .. path .. " contains a control character (CR, LF or NUL)",
        failure(nil, { NUON_CONFIG_FILE = path }))
      path = config_file('api_token: t\norg_id: "o\\0"\n')
      assert.equal("nuon.new: org_id in " .. path .. " contains a control character (CR, LF or NUL)",
        failure(nil, { NUON_CONFIG_FILE = path }))
    end)

    it("raises for a missing token, naming every way to set it", function()
      local dir = home()
      assert.equal("nuon.new: no API token: pass token, set NUON_API_TOKEN, or set api_token in "
        .. dir .. "/.nuon", failure({ org_id = "o" }, { HOME = dir }))
      local path = tmppath()
      assert.equal("nuon.new: no API token: pass token, set NUON_API_TOKEN, or set api_token in "
        .. path, failure({ org_id = "o" }, { NUON_CONFIG_FILE = path }))
      assert.equal("nuon.new: no API token: pass token, set NUON_API_TOKEN, or set api_token in "
        .. "~/.nuon", failure({ org_id = "o" }, {}))
    end)

    it("raises for a missing org id, naming every way to set it", function()
      local dir = home("api_token: t\n")
      assert.equal("nuon.new: no org id: pass org_id, set NUON_ORG_ID, or set org_id in "
        .. dir .. "/.nuon", failure({ token = TOKEN }, { HOME = dir }))
    end)

    describe("of base_url", function()
      local function url(u) return resolve(with{ base_url = u }).base_url end

      it("accepts http and https URLs with a host, port and path", function()
        assert.equal("https://api.nuon.co", url("https://api.nuon.co"))
        assert.equal("http://127.0.0.1:8080", url("http://127.0.0.1:8080"))
        assert.equal("http://[::1]:8080/nuon/v", url("http://[::1]:8080/nuon/v"))
        assert.equal("HTTPS://API.example.com", url("HTTPS://API.example.com"))
        assert.equal("https://my-host.internal_1", url("https://my-host.internal_1"))
      end)

      it("strips trailing slashes", function()
        assert.equal("https://api.nuon.co", url("https://api.nuon.co/"))
        assert.equal("https://x.example.com/prefix", url("https://x.example.com/prefix//"))
      end)

      it("raises for other schemes, a missing host and a bad port", function()
        for _, bad in ipairs{
          "api.nuon.co", "ftp://api.nuon.co", "https://", "https:///path", "https//api.nuon.co",
          "https://host:", "https://host:0", "https://host:65536", "https://host:80x",
          "https://ho$t", "file:///etc/passwd", "https://[zz]:80",
        } do
          assert.equal("nuon.new: option 'base_url' must be an http:// or https:// URL with a host"
            .. " (got '" .. bad .. "')", failure(with{ base_url = bad }))
        end
      end)

      it("raises for whitespace and control characters", function()
        for _, bad in ipairs{ "https://api.nuon.co /x", "https://api.nuon.co\r\nX-Evil: 1",
                              " https://api.nuon.co", "https://api.nuon.co\0" } do
          assert.equal("nuon.new: option 'base_url' must not contain whitespace or control characters",
            failure(with{ base_url = bad }))
        end
      end)

      it("raises for a query or a fragment", function()
        assert.equal("nuon.new: option 'base_url' must not have a query or fragment"
          .. " (got 'https://api.nuon.co/?x=1')", failure(with{ base_url = "https://api.nuon.co/?x=1" }))
        assert.equal("nuon.new: option 'base_url' must not have a query or fragment"
          .. " (got 'https://api.nuon.co#top')", failure(with{ base_url = "https://api.nuon.co#top" }))
      end)

      it("raises for user info without showing it", function()
        assert.equal("nuon.new: option 'base_url' must not contain user info (user:password@)",
          failure(with{ base_url = "https://me:hunter2@api.nuon.co" }))
        assert.equal("nuon.new: option 'base_url' must be an http:// or https:// URL with a host"
          .. " (got 'ftp://***@api.nuon.co')", failure(with{ base_url = "ftp://me:hunter2@api.nuon.co" }))
      end)

      it("names the environment variable or the file it came from", function()
        assert.equal("nuon.new: NUON_API_URL must be an http:// or https:// URL with a host"
          .. " (got 'api.nuon.co')", failure(MINIMAL, { NUON_API_URL = "api.nuon.co" }))
        local path = config_file("api_url: ftp://x\n")
        assert.equal("nuon.new: api_url in " .. path .. " must be an http:// or https:// URL with"
          .. " a host (got 'ftp://x')", failure(MINIMAL, { NUON_CONFIG_FILE = path }))
      end)
    end)

    it("never shows the token, whatever goes wrong", function()
      -- failure() checks each message for TOKEN and OTHER_TOKEN
      failure(with{ base_url = TOKEN })                       -- arguments swapped
      failure(with{ base_url = "https://x/?t=" .. TOKEN })
      failure(with{ base_url = "ftp://" .. TOKEN .. "@x" })
      failure(with{ token = TOKEN .. "\n" })
      failure(with{ token = "\0" .. TOKEN })
      failure(with{ timeout = TOKEN })
      failure(with{ [TOKEN] = true, token = nil })
      failure({ token = TOKEN })
      failure(nil, { NUON_API_TOKEN = OTHER_TOKEN .. "\r" })
      failure(nil, { NUON_API_TOKEN = OTHER_TOKEN, NUON_ORG_ID = "o", NUON_API_URL = OTHER_TOKEN })
      failure(nil, { NUON_CONFIG_FILE = config_file("api_token: " .. TOKEN .. "\nbad line\n") })
      failure(nil, { NUON_CONFIG_FILE = config_file('api_token: "' .. TOKEN .. '\\q"\n') })
      failure(nil, { NUON_CONFIG_FILE = config_file('api_token: "' .. TOKEN .. '\n') })
      failure(nil, { NUON_CONFIG_FILE = config_file("api_token: '" .. TOKEN .. "' x\n") })
      failure(nil, { NUON_CONFIG_FILE = config_file("api_token: '" .. TOKEN .. "\1'\norg_id: o\n") })
    end)

    it("blames the user's line: the one that called nuon.new, or resolve itself", function()
      local line = debug.getinfo(1, "l").currentline + 1
      local ok, err = pcall(function() require("nuon").new{ timout = 1 } end)
      assert.is_false(ok)
      assert.matches("config_spec%.lua:" .. line .. ": nuon%.new: unknown option 'timout'$", err)
      line = debug.getinfo(1, "l").currentline + 1
      ok, err = pcall(function() config.resolve({ timout = 1 }, fakeenv{}) end)
      assert.is_false(ok)
      assert.matches("config_spec%.lua:" .. line .. ": nuon%.new: unknown option 'timout'$", err)
    end)

    it("names the function it resolves for", function()
      assert.equal("nuon.resty.new: unknown option 'timout'",
        select(2, pcall(config.resolve, { timout = 1 }, fakeenv{}, "resty.new")))
    end)
  end)
end)

describe("nuon.config.parse_yaml", function()
  local parse = config.parse_yaml

  it("reads top-level key: value lines", function()
    assert.same({ api_token = "abc", org_id = "org1", api_url = "https://x" },
      parse("api_token: abc\norg_id: org1\napi_url: https://x\n"))
  end)

  it("reads a file without a final newline, and an empty file", function()
    assert.same({ a = "b" }, parse("a: b"))
    assert.same({}, parse(""))
  end)

  it("reads double-quoted values with escapes", function()
    assert.same({ a = 'x"y\\z\t\n/', b = "A\195\169\240\159\152\128", c = "" },
      parse('a: "x\\"y\\\\z\\t\\n\\/"\nb: "\\x41\\u00e9\\U0001F600"\nc: ""\n'))
  end)

  it("reads single-quoted values with '' as a quote and no escapes", function()
    assert.same({ a = "it's", b = "back\\slash", c = "" },
      parse("a: 'it''s'\nb: 'back\\slash'\nc: ''\n"))
  end)

  it("keeps # inside quotes and inside plain values", function()
    assert.same({ a = "x # y", b = "p#q", c = "r" },
      parse("a: \"x # y\"  # comment\nb: p#q\nc: r\t# tab comment\n"))
  end)

  it("skips full-line comments, blank lines and indented comments", function()
    assert.same({ a = "1", b = "2" }, parse("# top\n\na: 1\n   \n  # indented\n\tb: x\nb: 2\n"))
  end)

  it("handles --- at the start and stops at ...", function()
    assert.same({ a = "1" }, parse("---\na: 1\n...\nb: 2\n"))
    assert.same({ a = "1" }, parse("--- # doc\na: 1\n"))
  end)

  it("handles CRLF line endings and a UTF-8 byte order mark", function()
    assert.same({ a = "1", b = "two" }, parse("\239\187\191a: 1\r\nb: 'two'\r\n"))
  end)

  it("ignores nested blocks, flow and block values, anchors, aliases and tags", function()
    assert.same({ api_token = "t", org_id = "o" }, parse(table.concat({
      "contexts:",
      "  default:",
      "    api_token: nested",
      "  - item",
      "list: [1, 2]",
      "map: {a: 1}",
      "text: |",
      "  literal",
      "folded: >",
      "  text",
      "anchor: &a value",
      "alias: *a",
      "tagged: !!str 1",
      "api_token: t",
      "org_id: o",
    }, "\n")))
  end)

  it("treats ~, null and empty values as absent", function()
    assert.same({ e = "'null' quoted" }, parse("a: ~\nb: null\nc: NULL\nd:\ne: \"'null' quoted\"\n"))
    assert.same({ a = "null" }, parse("a: 'null'\n"))
  end)

  it("keeps other plain scalars as strings", function()
    assert.same({ a = "123", b = "true", c = "1.5", d = "a: b" }, parse("a: 123\nb: true\nc: 1.5\nd: a: b\n"))
  end)

  it("reads quoted keys", function()
    assert.same({ api_token = "t", ["odd key"] = "v" }, parse("\"api_token\": t\n'odd key' : v\n"))
  end)

  it("lets a later duplicate key win", function()
    assert.same({ a = "2" }, parse("a: 1\na: 2\n"))
  end)

  it("returns nil and the line number for a line it cannot make sense of", function()
    local cases = {
      ["a: 1\nplain text\n"] = "line 2: expected 'key: value'",
      ["a:1\n"] = "line 1: expected 'key: value'",
      ["- item\n"] = "line 1: expected 'key: value'",
      ["a: 1\r\n\r\n[x]: 1\r\n"] = "line 3: expected 'key: value'",
      ["? complex\n"] = "line 1: expected 'key: value'",
      ["a: 'open\n"] = "line 1: unterminated single-quoted value",
      ["a: 1\nb: \"open\n"] = "line 2: unterminated double-quoted value",
      ["a: \"x\\\n"] = "line 1: unterminated double-quoted value",
      ["a: \"x\" y\n"] = "line 1: unexpected text after the closing quote",
      ["a: \"\\q\"\n"] = "line 1: invalid escape '\\q' in double-quoted value",
      ["a: \"\\u12\"\n"] = "line 1: invalid \\u escape in double-quoted value",
      ["a: \"\\uD800\"\n"] = "line 1: invalid \\u escape in double-quoted value",
      ["a: \"\\U00110000\"\n"] = "line 1: invalid \\U escape in double-quoted value",
      ["\"a\" x: 1\n"] = "line 1: expected 'key: value'",
      ["# c\nfoo #: 1\n"] = "line 2: expected 'key: value'",
    }
    for text, err in pairs(cases) do
      assert.same({ nil, err }, { parse(text) }, text)
    end
  end)

  it("raises for an argument that is not a string", function()
    assert.has_error(function() parse(nil) end,
      "nuon.config.parse_yaml: argument 1 must be a string (got nil)")
  end)
end)

describe("nuon.config.redact", function()
  it("returns a copy with the token replaced", function()
    local s = resolve(MINIMAL)
    local r = config.redact(s)
    assert.are_not.equal(s, r)
    assert.equal("<redacted>", r.token)
    assert.equal(TOKEN, s.token)
    assert.equal(s.org_id, r.org_id)
    assert.equal(s.base_url, r.base_url)
    assert.equal(s.token_source, r.token_source)
  end)

  it("hides user info in the proxy URL", function()
    local r = config.redact(resolve(with{ proxy = "http://user:pw@proxy:3128" }))
    assert.equal("http://<redacted>@proxy:3128", r.proxy)
    r = config.redact{ proxy = "user:pw@proxy:3128" }
    assert.equal("<redacted>@proxy:3128", r.proxy)
    r = config.redact{ proxy = "http://proxy:3128" }
    assert.equal("http://proxy:3128", r.proxy)
  end)

  it("leaves a missing token missing", function()
    assert.same({ org_id = "o" }, config.redact{ org_id = "o" })
  end)

  it("raises for an argument that is not a table", function()
    assert.has_error(function() config.redact("x") end,
      "nuon.config.redact: argument 1 must be a table (got string)")
  end)
end)

describe("nuon.config.host_port", function()
  it("reads host, port and user info", function()
    assert.same({ "api.nuon.co" }, { config.host_port("api.nuon.co") })
    assert.same({ "127.0.0.1", 8080 }, { config.host_port("127.0.0.1:8080") })
    assert.same({ "[::1]", 443 }, { config.host_port("[::1]:443") })
    assert.same({ "proxy", 3128, "user:p@ss" }, { config.host_port("user:p@ss@proxy:3128") })
    assert.same({ "my-host.internal_1", 65535 }, { config.host_port("my-host.internal_1:65535") })
  end)

  it("is nil without a host or with a port outside 1-65535", function()
    for _, bad in ipairs{ "", ":80", "host:", "host:0", "host:65536", "host:80x", "ho$t", "[zz]:80",
                          "user@" } do
      assert.is_nil(config.host_port(bad), bad)
    end
  end)
end)

describe("nuon.config.split_url", function()
  it("splits a URL into scheme, host, port, path and user info", function()
    assert.same({ "https", "api.nuon.co", nil, "" }, { config.split_url("https://api.nuon.co") })
    assert.same({ "http", "127.0.0.1", 8080, "/prefix" }, { config.split_url("HTTP://127.0.0.1:8080/prefix") })
    assert.same({ "http", "[::1]", 1, "/x", "u:p" }, { config.split_url("http://u:p@[::1]:1/x") })
  end)

  it("is nil for what is not such a URL", function()
    for _, bad in ipairs{ "api.nuon.co", "https://", "https:///path", "https://host:0" } do
      assert.is_nil(config.split_url(bad), bad)
    end
  end)

  it("splits every base URL resolve accepts", function()
    for _, u in ipairs{ "https://api.nuon.co", "http://127.0.0.1:8080", "http://[::1]:8080/nuon/v",
                        "HTTPS://API.example.com", "https://my-host.internal_1/" } do
      local s = config.resolve({ token = "t", org_id = "o", base_url = u }, function() end)
      assert.truthy(config.split_url(s.base_url), u)
    end
  end)
end)
