-- `luarocks make` of the release rockspec, as a user would run it from a
-- checkout: into a temporary tree, from a copy of the checkout's files (so
-- the working tree is left as it was, and a file the rockspec needs but git
-- does not hold fails here).  Lua 5.4 only: the build does not depend on the
-- Lua that runs busted, and once is enough.  Dependencies come from Debian
-- (lua-cjson), so LuaRocks is told not to fetch any (--deps-mode=none).
if _VERSION ~= "Lua 5.4" then return end

local nuon = require "nuon"
local ts = require "helpers.testserver"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/.."
local ROCKSPEC = "rockspecs/nuon-" .. nuon.VERSION .. "-1.rockspec"

local function sh(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  return status, (out:gsub("exit=%d+%s*$", ""))
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

describe("luarocks make " .. ROCKSPEC, function()
  local tmp, tree, status, log

  setup(function()
    local p = assert(io.popen("mktemp -d"))
    tmp = p:read("*l")
    p:close()
    tree = tmp .. "/tree"
    -- the files git holds or would hold (tracked, and new but not ignored)
    local code, out = sh(("mkdir -p %s && cd %s && git ls-files -z --cached --others --exclude-standard"
      .. " | xargs -0 cp --parents -t %s"):format(q(tmp .. "/src"), q(root), q(tmp .. "/src")))
    assert(code == 0, out)
    status, log = sh(("cd %s && luarocks --lua-version=5.4 --tree=%s make --deps-mode=none %s")
      :format(q(tmp .. "/src"), q(tree), ROCKSPEC))
  end)

  teardown(function()
    if tmp and tmp:match("^/tmp/") then os.execute("rm -rf " .. q(tmp)) end
  end)

  it("builds and installs", function()
    assert.equal(0, status, log)
    assert.matches("nuon " .. nuon.VERSION:gsub("%.", "%%.") .. "%-1 is now installed", log)
  end)

  it("installs a module that loads from the tree with the right version", function()
    assert.equal(0, status, log)
    local lua_path = tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua"
    local lua_cpath = tree .. "/lib/lua/5.4/?.so"
    local code, out = sh(("cd / && LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
      q(lua_path .. ";;"), q(lua_cpath .. ";;"), q([[
        local nuon = require "nuon"
        local core = require "nuon.core"
        print(nuon.VERSION, package.searchpath("nuon.core", package.cpath), package.searchpath("nuon", package.path))
      ]])))
    assert.equal(0, code, out)
    local version, core_path, lua_file = out:match("^(%S+)\t(%S+)\t(%S+)")
    assert.equal(nuon.VERSION, version)
    assert.equal(tree .. "/lib/lua/5.4/nuon/core.so", core_path)
    assert.equal(tree .. "/share/lua/5.4/nuon/init.lua", lua_file)
  end)

  it("installs nuon-runs, which lists runs from the test server with the tree's modules", function()
    assert.equal(0, status, log)
    local code, out = sh(("cd / && eval \"$(luarocks --lua-version=5.4 --tree=%s path)\" && %s/bin/nuon-runs --version")
      :format(q(tree), q(tree)))
    assert.equal(0, code, out)
    assert.equal("nuon-runs " .. nuon.VERSION .. "\n", out)
    -- a tree of one's own is found through `luarocks path`, as LuaRocks says
    code, out = sh(("cd / && eval \"$(luarocks --lua-version=5.4 --tree=%s path)\" && env HOME=%s NUON_API_URL=%s"
      .. " NUON_API_TOKEN=%s NUON_ORG_ID=%s %s/bin/nuon-runs list %s --max 2 --format csv 2>/dev/null")
      :format(q(tree), q(tmp), q(ts.url), q(ts.token), q(ts.org_id), q(tree), ts.demo[1].id))
    assert.equal(0, code, out)
    assert.matches("^id,created_at,", out)
    assert.equal(3, select(2, out:gsub("\r\n", "")))
  end)
end)

describe("make install", function()
  it("installs the modules, the core and nuon-runs under DESTDIR, nuon-runs naming its Lua", function()
    local p = assert(io.popen("mktemp -d"))
    local dest = p:read("*l")
    p:close()
    local code, out = sh(("cd %s && make --no-print-directory install DESTDIR=%s PREFIX=/usr/local")
      :format(q(root), q(dest)))
    assert.equal(0, code, out)
    local bin = dest .. "/usr/local/bin/nuon-runs"
    local f = assert(io.open(bin, "rb"))
    assert.equal("#!/usr/bin/env lua5.4", f:read("*l"))
    f:close()
    local lua_path = dest .. "/usr/local/share/lua/5.4/?.lua;" .. dest .. "/usr/local/share/lua/5.4/?/init.lua;;"
    local lua_cpath = dest .. "/usr/local/lib/lua/5.4/?.so;;"
    code, out = sh(("cd / && LUA_PATH=%s LUA_CPATH=%s %s --version"):format(q(lua_path), q(lua_cpath), q(bin)))
    assert.equal(0, code, out)
    assert.equal("nuon-runs " .. nuon.VERSION .. "\n", out)
    for _, m in ipairs{ "init", "cli", "format", "nvim", "commands", "health" } do
      assert.truthy(io.open(dest .. "/usr/local/share/lua/5.4/nuon/" .. m .. ".lua"), m)
    end
    if dest:match("^/tmp/") then os.execute("rm -rf " .. q(dest)) end
  end)
end)
